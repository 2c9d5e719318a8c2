"""Password hashing (argon2) and the keyed hash that stands in for ID numbers."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()  # argon2id with the library's vetted defaults


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when the password matches; a missing or malformed hash never matches."""
    if not password_hash:
        # Spend the same time as a real check, so unknown accounts are not revealed.
        try:
            _hasher.verify(_dummy_hash(), password)
        except VerificationError:
            pass
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def password_needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


@cache
def _dummy_hash() -> str:
    return _hasher.hash("a password that nobody has")


@dataclass(frozen=True)
class IdNumberKey:
    """HMAC-SHA256 over the normalised ID number, keyed with the installation secret."""

    secret: str = field(repr=False)

    def digest(self, id_number: str) -> str:
        return hmac.new(
            self.secret.encode(), id_number.upper().encode(), hashlib.sha256
        ).hexdigest()
