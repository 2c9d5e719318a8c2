"""TC3-HMAC-SHA256: the request signature of Tencent Cloud API 3.0 ("signature v3").

Written by hand with the standard library: the algorithm is four short steps, and the only
packages on PyPI that do it are the SDK's client (its canonical request is private to the
client) or small single-release projects. The tests check it against the worked example
of Tencent's own "Signature v3" documentation.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

ALGORITHM = "TC3-HMAC-SHA256"


@dataclass(frozen=True)
class Signed:
    canonical_request: str
    string_to_sign: str
    signature: str
    authorization: str  # the value of the Authorization header


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode("utf-8"), hashlib.sha256).digest()


def credential_date(timestamp: int) -> str:
    """The UTC date of the timestamp (never the local one: 00:44 in Beijing is yesterday)."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")


def sign(
    *,
    secret_id: str,
    secret_key: str,
    service: str,
    timestamp: int,
    headers: Mapping[str, str],
    payload: bytes,
    method: str = "POST",
    query: str = "",
) -> Signed:
    """Sign a request to ``/``: ``headers`` are the ones signed (at least content-type, host)."""
    # 1. The canonical request: names and values lower-cased and trimmed, sorted by name.
    signed = {name.strip().lower(): value.strip().lower() for name, value in headers.items()}
    names = sorted(signed)
    canonical_headers = "".join(f"{name}:{signed[name]}\n" for name in names)
    signed_headers = ";".join(names)
    canonical_request = "\n".join(
        [method, "/", query, canonical_headers, signed_headers, sha256_hex(payload)]
    )
    # 2. The string to sign, scoped to the date and the service.
    date = credential_date(timestamp)
    scope = f"{date}/{service}/tc3_request"
    string_to_sign = "\n".join(
        [ALGORITHM, str(timestamp), scope, sha256_hex(canonical_request.encode("utf-8"))]
    )
    # 3. The signature, with a key derived from the secret, the date and the service.
    key = _hmac(_hmac(_hmac(f"TC3{secret_key}".encode(), date), service), "tc3_request")
    signature = hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    # 4. The Authorization header.
    authorization = (
        f"{ALGORITHM} Credential={secret_id}/{scope}, "
        f"SignedHeaders={signed_headers}, Signature={signature}"
    )
    return Signed(canonical_request, string_to_sign, signature, authorization)
