"""Golden vectors for Wangsu Cloud VoD "Authentication V3" (WS3-HMAC-SHA256).

The expected values were computed once, step by step with hashlib/hmac, from the formulas on the Signature
Calculation page (documents.cdnetworks.com/document/15923/26914); they are pinned as literals so a change in
the signer cannot silently change the wire format. ``test_independent_recomputation`` redoes the arithmetic
in the test itself, so the literals are not taken on faith either.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timezone

import pytest

from upload_broker.errors import UpstreamError
from upload_broker.upstream_wangsu import (
    SIGNED_HEADERS,
    canonical_request,
    decode_put_policy_deadline,
    sign_headers,
    signature,
    string_to_sign,
)

ACCESS_KEY = "AKIDEXAMPLEWANGSU0001"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
TIMESTAMP = "1700000000"
HOST = "api.cloudv.haplat.net"
URI = "/vod/videoManage/getUploadToken"
BODY = b'{"originFileName":"uploadtest.mp4"}'
HEADERS = {"Content-Type": "application/json; charset=utf-8", "Host": HOST}

BODY_SHA256 = "eb472e909245e772d518fa03e3aafa6e986effd01addd4325f2707f3729997dc"
CANONICAL_REQUEST = (
    "POST\n"
    "/vod/videoManage/getUploadToken\n"
    "\n"  # QueryString: empty for POST
    "content-type:application/json; charset=utf-8\n"
    "host:api.cloudv.haplat.net\n"
    "\n"  # CanonicalHeaders ends in "\n", then the separator
    "content-type;host\n"
    "eb472e909245e772d518fa03e3aafa6e986effd01addd4325f2707f3729997dc"
)
CANONICAL_SHA256 = "bece28fbda3e4a31ade7ae2652d4160db7a78c6e1014910ce6625cf0904d1894"
SIGNATURE = "af47f82f86948cbb8d9c27e46f4c2f38696606ef7b0662789c8aa2ec8cd272d4"


def test_canonical_request_is_exact():
    assert canonical_request("POST", URI, "", HEADERS, SIGNED_HEADERS, BODY) == CANONICAL_REQUEST


def test_string_to_sign_is_exact():
    assert string_to_sign(TIMESTAMP, CANONICAL_REQUEST) == f"WS3-HMAC-SHA256\n{TIMESTAMP}\n{CANONICAL_SHA256}"


def test_signature_is_exact():
    assert signature(SECRET_KEY, TIMESTAMP, CANONICAL_REQUEST) == SIGNATURE


def test_independent_recomputation():
    # Each step of the documented algorithm, by hand.
    hashed_payload = hashlib.sha256(BODY).hexdigest()
    assert hashed_payload == BODY_SHA256
    canonical = "\n".join(
        [
            "POST",
            URI,
            "",
            "content-type:application/json; charset=utf-8\nhost:api.cloudv.haplat.net\n",
            "content-type;host",
            hashed_payload,
        ]
    )
    assert canonical == CANONICAL_REQUEST
    hashed_canonical = hashlib.sha256(canonical.encode()).hexdigest()
    assert hashed_canonical == CANONICAL_SHA256
    to_sign = "WS3-HMAC-SHA256\n" + TIMESTAMP + "\n" + hashed_canonical
    assert hmac.new(SECRET_KEY.encode(), to_sign.encode(), hashlib.sha256).hexdigest() == SIGNATURE


def test_sign_headers_builds_every_v3_header():
    headers = sign_headers(
        access_key=ACCESS_KEY,
        secret_key=SECRET_KEY,
        method="POST",
        uri=URI,
        host=HOST,
        body=BODY,
        timestamp=int(TIMESTAMP),
    )
    assert headers == {
        "Content-Type": "application/json; charset=utf-8",
        "Host": HOST,
        "X-WS-AccessKey": ACCESS_KEY,
        "X-WS-Timestamp": TIMESTAMP,
        "Authorization": (
            f"WS3-HMAC-SHA256 Credential={ACCESS_KEY}, SignedHeaders=content-type;host, Signature={SIGNATURE}"
        ),
    }


def test_headers_are_lowercased_trimmed_and_sorted():
    messy = {"HOST": f"  {HOST} ", "content-TYPE": "application/json; charset=utf-8\t", "X-Other": "ignored"}
    assert canonical_request("post", URI, "", messy, ["Host", "Content-Type"], BODY) == CANONICAL_REQUEST


def test_empty_body_hashes_the_empty_string():
    canonical = canonical_request("POST", URI, "", HEADERS, SIGNED_HEADERS, b"")
    assert canonical.endswith("\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")


def test_every_part_changes_the_signature():
    base = signature(SECRET_KEY, TIMESTAMP, CANONICAL_REQUEST)
    other_body = canonical_request("POST", URI, "", HEADERS, SIGNED_HEADERS, BODY + b" ")
    other_host = canonical_request("POST", URI, "", HEADERS | {"Host": "127.0.0.1:9"}, SIGNED_HEADERS, BODY)
    assert (
        len(
            {
                base,
                signature(SECRET_KEY + "x", TIMESTAMP, CANONICAL_REQUEST),
                signature(SECRET_KEY, "1700000001", CANONICAL_REQUEST),
                signature(SECRET_KEY, TIMESTAMP, other_body),
                signature(SECRET_KEY, TIMESTAMP, other_host),
            }
        )
        == 5
    )


def test_a_signed_header_missing_from_the_request_is_a_bug_not_a_blank():
    with pytest.raises(ValueError, match="host"):
        canonical_request("POST", URI, "", {"Content-Type": "application/json"}, SIGNED_HEADERS, BODY)


# --- putPolicy deadline ----------------------------------------------------------------------------


def _token(policy: object, *, padding: bool = False) -> str:
    encoded = base64.urlsafe_b64encode(json.dumps(policy).encode()).decode()
    return f"ak:c2lnbg==:{encoded if padding else encoded.rstrip('=')}"


@pytest.mark.parametrize(
    "deadline",
    ["1700003600000", 1700003600000, 1700003600, "1700003600", 1700003600.0],
    ids=["ms-string", "ms-int", "s-int", "s-string", "s-float"],
)
def test_deadline_in_milliseconds_or_seconds(deadline):
    expected = datetime(2023, 11, 14, 23, 13, 20, tzinfo=timezone.utc)
    assert decode_put_policy_deadline(_token({"scope": "b:k", "deadline": deadline})) == expected


def test_deadline_with_base64_padding():
    assert decode_put_policy_deadline(_token({"deadline": "1700003600000"}, padding=True)).year == 2023


@pytest.mark.parametrize(
    "token",
    [
        "",
        "only-one-part",
        "ak:sign",
        "ak:sign:",
        "ak:sign:!!!not-base64!!!",
        "ak:sign:" + base64.urlsafe_b64encode(b"not json").decode(),
        _token(["deadline"]),
        _token({"scope": "b:k"}),
        _token({"deadline": None}),
        _token({"deadline": True}),
        _token({"deadline": "soon"}),
        _token({"deadline": -5}),
        _token({"deadline": 10**30}),
        "a:b:c:" + _token({"deadline": 1}).split(":")[2],
    ],
)
def test_unreadable_tokens_are_upstream_errors(token):
    with pytest.raises(UpstreamError) as caught:
        decode_put_policy_deadline(token)
    assert caught.value.status == 502
    assert caught.value.message == "Wangsu Cloud VoD returned an upload token the broker could not read."
