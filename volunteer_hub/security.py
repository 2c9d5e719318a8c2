"""Password hashing (argon2) and the keyed hash that stands in for ID numbers."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field

from argon2 import Parameters, PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken


class Passwords:
    """argon2id password hashing with a named argon2-cffi parameter profile.

    The default is RFC 9106's low-memory profile. ``CHEAPEST`` exists for test suites
    and demos that create hundreds of accounts; never use it in production.
    """

    def __init__(self, profile: str = "RFC_9106_LOW_MEMORY") -> None:
        parameters = getattr(profiles, profile, None)
        if not isinstance(parameters, Parameters):
            raise ValueError(f"unknown argon2 profile {profile!r}")
        self._hasher = PasswordHasher.from_parameters(parameters)
        self._dummy = self._hasher.hash("a password that nobody has")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    async def hash_async(self, password: str) -> str:
        """Hash in a thread: argon2 takes ~0.3 s here and must not stall the event loop."""
        return await asyncio.to_thread(self.hash, password)

    async def verify_async(self, password_hash: str | None, password: str) -> bool:
        return await asyncio.to_thread(self.verify, password_hash, password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        """True when the password matches; a missing or malformed hash never matches."""
        try:
            # With no account, check against a dummy hash anyway: the same time is
            # spent, so a login cannot tell unknown phones from wrong passwords.
            return self._hasher.verify(password_hash or self._dummy, password) and bool(
                password_hash
            )
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)


def secret_digest(secret: str) -> str:
    """What is stored for a random bearer secret (a login token, an acknowledgement link's
    token, an Open311 key): its SHA-256, enough for a secret of 256 random bits."""
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class IdNumberKey:
    """HMAC-SHA256 over the normalised ID number, keyed with the installation secret."""

    secret: str = field(repr=False)

    def digest(self, id_number: str) -> str:
        return hmac.new(
            self.secret.encode(), id_number.upper().encode(), hashlib.sha256
        ).hexdigest()


class SecretBox:
    """Encrypts channel settings at rest (Fernet, keyed from the installation secret)."""

    def __init__(self, secret: str) -> None:
        key = hashlib.sha256(f"volunteer_hub channel settings:{secret}".encode()).digest()
        self._fernet = Fernet(base64.urlsafe_b64encode(key))

    def seal(self, data: dict) -> str:
        return self._fernet.encrypt(json.dumps(data, ensure_ascii=False).encode()).decode()

    def open(self, token: str) -> dict:
        try:
            return json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken:
            raise ValueError("channel settings cannot be decrypted with this secret") from None
