"""TC3-HMAC-SHA256 against the worked example of Tencent Cloud's API 3.0 "Signature v3" page.

The values are Tencent's published ones (CVM DescribeInstances in ap-guangzhou, signed at
1551113065 with the example key pair), not values this code computed.
"""

from __future__ import annotations

import hashlib

from vh_tencent_sms.signing import credential_date, sign

SECRET_ID = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"
SECRET_KEY = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"
TIMESTAMP = 1551113065
PAYLOAD = (
    b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
)
HEADERS = {"Content-Type": "application/json; charset=utf-8", "Host": "cvm.tencentcloudapi.com"}

PUBLISHED_HASHED_PAYLOAD = "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
PUBLISHED_CANONICAL_REQUEST = (
    "POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\n\n"
    f"content-type;host\n{PUBLISHED_HASHED_PAYLOAD}"
)
PUBLISHED_HASHED_CANONICAL_REQUEST = (
    "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
)
PUBLISHED_STRING_TO_SIGN = (
    f"TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n{PUBLISHED_HASHED_CANONICAL_REQUEST}"
)
PUBLISHED_SIGNATURE = "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
PUBLISHED_AUTHORIZATION = (
    "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/tc3_request,"
    " SignedHeaders=content-type;host, Signature=" + PUBLISHED_SIGNATURE
)


def published_example():
    return sign(
        secret_id=SECRET_ID,
        secret_key=SECRET_KEY,
        service="cvm",
        timestamp=TIMESTAMP,
        headers=HEADERS,
        payload=PAYLOAD,
    )


def test_the_published_example_step_by_step():
    signed = published_example()
    assert hashlib.sha256(PAYLOAD).hexdigest() == PUBLISHED_HASHED_PAYLOAD
    assert signed.canonical_request == PUBLISHED_CANONICAL_REQUEST
    hashed = hashlib.sha256(signed.canonical_request.encode()).hexdigest()
    assert hashed == PUBLISHED_HASHED_CANONICAL_REQUEST
    assert signed.string_to_sign == PUBLISHED_STRING_TO_SIGN
    assert signed.signature == PUBLISHED_SIGNATURE
    assert signed.authorization == PUBLISHED_AUTHORIZATION


def test_header_names_and_values_are_canonical_whatever_their_case_and_order():
    shuffled = {
        "host": " CVM.tencentcloudapi.com ",
        "CONTENT-TYPE": "Application/JSON; charset=UTF-8",
    }
    again = sign(
        secret_id=SECRET_ID,
        secret_key=SECRET_KEY,
        service="cvm",
        timestamp=TIMESTAMP,
        headers=shuffled,
        payload=PAYLOAD,
    )
    assert again.signature == PUBLISHED_SIGNATURE


def test_anything_signed_changes_the_signature():
    base = {
        "secret_id": SECRET_ID,
        "secret_key": SECRET_KEY,
        "service": "cvm",
        "timestamp": TIMESTAMP,
        "headers": HEADERS,
        "payload": PAYLOAD,
    }
    variants = [
        {"payload": PAYLOAD.replace(b"1", b"2", 1)},
        {"timestamp": TIMESTAMP + 1},
        {"service": "sms"},
        {"secret_key": SECRET_KEY.lower()},
        {"headers": {**HEADERS, "X-TC-Action": "DescribeInstances"}},
    ]
    signatures = {sign(**{**base, **change}).signature for change in variants}
    assert PUBLISHED_SIGNATURE not in signatures and len(signatures) == len(variants)


def test_the_credential_date_is_utc_not_beijing_time():
    # 1551113065 is 2019-02-26 00:44:25 in Beijing: the date must still be the 25th.
    assert credential_date(TIMESTAMP) == "2019-02-25"
