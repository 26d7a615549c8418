"""The fake OSS: its signature checks pinned by golden values, and its answers over raw HTTP.

The golden values were computed by the SDKs themselves (oss2 2.19.1 ``ProviderAuth`` / ``ProviderAuthV4`` and
ali-oss 6.23.0 ``signUtils``) for the same inputs, so the fake verifies exactly what the clients send.
"""

from __future__ import annotations

import base64
import hashlib
import http.client
from email.utils import formatdate
from xml.etree import ElementTree

import pytest

from tests.fakes.oss import (
    FakeOss,
    OffsetClock,
    canonical_request_v4,
    canonicalized_resource,
    crc64ecma,
    sign_v1,
    sign_v4,
    string_to_sign_v1,
    string_to_sign_v4,
)

SECRET = "test-sts-secret-0000000000000000000000000000"
KEY = "sv/a b/clip.mp4"
UPLOAD_ID = "0004B9895DBBB6EC98E36"


# --- signing: golden values ----------------------------------------------------------------------------------


def test_v1_string_to_sign_and_signature_match_oss2():
    headers = {"content-type": "video/mp4", "date": "Wed, 28 Dec 2022 10:27:41 GMT",
               "x-oss-security-token": "CAIS-token", "content-md5": "eB5eJF1ptWaXm4bijSPyxw=="}  # fmt: skip
    # max-parts is not a sub-resource: it is sent but not signed.
    resource = canonicalized_resource("outin-bucket", KEY, [("partNumber", "2"), ("uploadId", UPLOAD_ID),
                                                            ("max-parts", "10")])  # fmt: skip
    to_sign = string_to_sign_v1("PUT", headers, resource)

    assert resource == f"/outin-bucket/{KEY}?partNumber=2&uploadId={UPLOAD_ID}"
    assert to_sign == (
        "PUT\neB5eJF1ptWaXm4bijSPyxw==\nvideo/mp4\nWed, 28 Dec 2022 10:27:41 GMT\n"
        f"x-oss-security-token:CAIS-token\n/outin-bucket/{KEY}?partNumber=2&uploadId={UPLOAD_ID}"
    )
    assert sign_v1(SECRET, to_sign) == "1i39hfUoGYHrjif5VaabBC7fyCQ="  # oss2 ProviderAuth


def test_v1_signs_x_oss_date_in_place_of_date_as_ali_oss_does():
    headers = {"content-type": "video/mp4", "x-oss-date": "Wed, 28 Dec 2022 10:27:41 GMT",
               "x-oss-security-token": "CAIS-token", "content-md5": "eB5eJF1ptWaXm4bijSPyxw=="}  # fmt: skip
    resource = canonicalized_resource("outin-bucket", KEY, [("partNumber", "2"), ("uploadId", UPLOAD_ID)])

    to_sign = string_to_sign_v1("PUT", headers, resource)

    assert to_sign.split("\n")[3:5] == ["Wed, 28 Dec 2022 10:27:41 GMT", "x-oss-date:Wed, 28 Dec 2022 10:27:41 GMT"]
    assert sign_v1(SECRET, to_sign) == "NxTUZqAVxYp0KGUx/7hIue6lpsA="  # ali-oss signUtils.computeSignature


def test_a_valueless_sub_resource_is_signed_bare():
    assert canonicalized_resource("b", "k.mp4", [("uploads", "")]) == "/b/k.mp4?uploads"
    assert canonicalized_resource("b", "k.mp4", [("encoding-type", "url"), ("uploads", "")]) == "/b/k.mp4?uploads"


def test_v4_canonical_request_and_signature_match_oss2_and_ali_oss():
    headers = {"content-type": "video/mp4", "x-oss-date": "20221228T102741Z", "host": "ignored",
               "x-oss-content-sha256": "UNSIGNED-PAYLOAD", "x-oss-security-token": "CAIS-token"}  # fmt: skip
    query = [("uploadId", UPLOAD_ID), ("partNumber", "2")]
    canonical = canonical_request_v4("PUT", "outin-bucket", KEY, query, headers)
    to_sign = string_to_sign_v4("20221228T102741Z", "20221228/cn-shanghai/oss/aliyun_v4_request", canonical)

    assert canonical == (
        "PUT\n/outin-bucket/sv/a%20b/clip.mp4\n"
        f"partNumber=2&uploadId={UPLOAD_ID}\n"
        "content-type:video/mp4\nx-oss-content-sha256:UNSIGNED-PAYLOAD\nx-oss-date:20221228T102741Z\n"
        "x-oss-security-token:CAIS-token\n\n\nUNSIGNED-PAYLOAD"
    )
    assert to_sign.endswith("\n8ee7e074a83ef387f527ab7fac4da5badb74e9c29afadb0ab712e32eb52abd88")
    assert sign_v4(SECRET, "20221228", "cn-shanghai", to_sign) == (
        "68fdbb34e0dd66b0753766cbe8778887a78956770ebefd3cc5d9effcb6dd9838"  # both SDKs
    )


def test_crc64_is_crc64_ecma_182_as_oss_reports_it():
    assert crc64ecma(b"123456789") == str(0x995DC9BBDF1939FA)  # the CRC-64/XZ check value


# --- the server -----------------------------------------------------------------------------------------------


class StubIssuer:
    """What FakeOss needs from a FakeVod/FakeIce: issued credentials, a clock, mark_uploaded(resource_id, size)."""

    def __init__(self, clock, lifetime: float = 60) -> None:
        self.clock = clock
        self.default_bucket = "outin-bucket"
        self.issued_credentials = {
            "STS.key": {"secret": SECRET, "token": "CAIS-token", "expires_at": clock() + lifetime,
                        "bucket": "outin-bucket", "file_name": KEY, "resource_id": "video-1"},
        }  # fmt: skip
        self.uploaded: list[str] = []
        self.sizes: list[int | None] = []

    def mark_uploaded(self, resource_id: str, size: int | None = None) -> None:
        self.uploaded.append(resource_id)
        self.sizes.append(size)


@pytest.fixture
def clock():
    return OffsetClock()


@pytest.fixture
def issuer(clock):
    return StubIssuer(clock)


@pytest.fixture
def oss(issuer):
    with FakeOss(issuers=[issuer]) as fake:
        yield fake


def send(oss, method, path, body=b"", *, host=None, key=KEY, query=(), secret=SECRET, token="CAIS-token",
         access_key_id="STS.key", date=None, headers=None, sign=True):  # fmt: skip
    """A V1-signed request as an SDK would send it; returns (status, headers, body)."""
    date = date or formatdate(usegmt=True)
    all_headers = {"Date": date, "Content-Type": "video/mp4", **(headers or {})}
    if token:
        all_headers["x-oss-security-token"] = token
    if sign:
        lower = {k.lower(): v for k, v in all_headers.items()}
        to_sign = string_to_sign_v1(method, lower, canonicalized_resource("outin-bucket", key, list(query)))
        all_headers["Authorization"] = f"OSS {access_key_id}:{sign_v1(secret, to_sign)}"
    if host:
        all_headers["Host"] = host
    target = path + ("?" + "&".join(f"{k}={v}" if v else k for k, v in query) if query else "")
    connection = http.client.HTTPConnection("127.0.0.1", oss.port, timeout=5)
    try:
        connection.request(method, target, body=body, headers=all_headers)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def error_of(body: bytes) -> dict[str, str]:
    root = ElementTree.fromstring(body)
    assert root.tag == "Error"
    return {child.tag: child.text or "" for child in root}


def test_put_object_virtual_hosted_stores_the_bytes_and_marks_the_resource_uploaded(oss, issuer):
    status, headers, _ = send(oss, "PUT", "/sv/a%20b/clip.mp4", b"video bytes",
                              host=f"outin-bucket.localhost:{oss.port}")  # fmt: skip

    assert status == 200
    assert headers["ETag"] == '"' + hashlib.md5(b"video bytes").hexdigest().upper() + '"'  # noqa: S324
    assert oss.object_bytes("outin-bucket", KEY) == b"video bytes"
    assert issuer.uploaded == ["video-1"]
    assert issuer.sizes == [len(b"video bytes")]  # the issuer learns the object's size with the news
    assert oss.requests[-1].addressing == "virtual-hosted"


def test_path_style_and_cname_style_find_the_same_bucket(oss):
    assert send(oss, "PUT", "/outin-bucket/sv/a%20b/clip.mp4", b"one")[0] == 200
    assert send(oss, "PUT", "/sv/a%20b/clip.mp4", b"two")[0] == 200

    assert [r.addressing for r in oss.requests] == ["path", "cname"]
    assert oss.object_bytes("outin-bucket", KEY) == b"two"


@pytest.mark.parametrize("method", ["PUT", "HEAD"])
def test_an_expired_credential_gets_osss_own_error(oss, clock, method):
    clock.advance(61)

    status, headers, body = send(oss, method, "/outin-bucket/sv/a%20b/clip.mp4", b"x" if method == "PUT" else b"")

    assert status == 403
    if method == "HEAD":  # no body on HEAD: the XML rides in x-oss-err, where ali-oss reads it
        body = base64.b64decode(headers["x-oss-err"])
    error = error_of(body)
    assert error["Code"] == "SecurityTokenExpired"
    assert error["Message"] == "The security token you provided has expired."
    assert error["RequestId"] == headers["x-oss-request-id"] and len(error["RequestId"]) == 24
    assert error["HostId"] == "outin-bucket.oss-cn-shanghai.aliyuncs.com"
    assert error["EC"] == headers["x-oss-ec"] == "0002-00000007"


def test_the_older_invalid_access_key_id_answer_for_expiry_can_be_chosen(issuer, clock):
    with FakeOss(issuers=[issuer], expired_code="InvalidAccessKeyId") as oss:
        clock.advance(61)
        status, _, body = send(oss, "PUT", "/outin-bucket/sv/a%20b/clip.mp4", b"x")
    assert (status, error_of(body)["Code"]) == (403, "InvalidAccessKeyId")


@pytest.mark.parametrize(
    ("overrides", "status", "code"),
    [
        ({"key": "sv/other/clip.mp4"}, 403, "AccessDenied"),
        ({"secret": "wrong-secret"}, 403, "SignatureDoesNotMatch"),
        ({"token": "CAIS-other"}, 403, "InvalidSecurityToken"),
        ({"token": None}, 403, "InvalidAccessKeyId"),
        ({"access_key_id": "STS.unknown"}, 403, "InvalidAccessKeyId"),
        ({"date": "Wed, 28 Dec 2022 10:27:41 GMT"}, 403, "RequestTimeTooSkewed"),
        ({"sign": False}, 403, "AccessDenied"),
        ({"headers": {"Content-MD5": "eB5eJF1ptWaXm4bijSPyxw=="}}, 400, "InvalidDigest"),
    ],
    ids=["other-key", "bad-signature", "wrong-token", "no-token", "unknown-key", "skewed-date", "anonymous", "md5"],
)
def test_refusals(oss, issuer, overrides, status, code):
    key = overrides.get("key", KEY)
    got_status, headers, body = send(oss, "PUT", "/outin-bucket/" + key.replace(" ", "%20"), b"x", **overrides)

    assert (got_status, error_of(body)["Code"]) == (status, code)
    assert issuer.uploaded == []
    if code == "SignatureDoesNotMatch":
        assert error_of(body)["StringToSign"].startswith("PUT\n\nvideo/mp4\n")


def test_multipart_rules(oss, issuer):
    path = "/outin-bucket/sv/a%20b/clip.mp4"
    _, _, body = send(oss, "POST", path, query=[("uploads", "")])
    upload_id = ElementTree.fromstring(body).findtext("UploadId")
    etags = {}
    for number, size in ((1, 50 * 1024), (2, 10)):
        status, headers, _ = send(oss, "PUT", path, b"p" * size,
                                  query=[("partNumber", str(number)), ("uploadId", upload_id)])  # fmt: skip
        assert status == 200
        etags[number] = headers["ETag"]

    def complete(order):
        xml = "<CompleteMultipartUpload>" + "".join(
            f"<Part><PartNumber>{n}</PartNumber><ETag>{etags[n]}</ETag></Part>" for n in order
        ) + "</CompleteMultipartUpload>"
        return send(oss, "POST", path, xml.encode(), query=[("uploadId", upload_id)])

    assert error_of(complete([2, 1])[2])["Code"] == "InvalidPartOrder"
    assert error_of(complete([1, 2])[2])["Code"] == "EntityTooSmall"  # part 1 is under 100 KB
    _, _, listed = send(oss, "GET", path, query=[("uploadId", upload_id)])
    assert [p.findtext("PartNumber") for p in ElementTree.fromstring(listed).iter("Part")] == ["1", "2"]
    assert send(oss, "DELETE", path, query=[("uploadId", upload_id)])[0] == 204
    status, _, body = send(oss, "PUT", path, b"p", query=[("partNumber", "3"), ("uploadId", upload_id)])
    assert (status, error_of(body)["Code"]) == (404, "NoSuchUpload")
    assert issuer.uploaded == []


def test_complete_multipart_upload_reports_the_whole_objects_size(oss, issuer):
    path = "/outin-bucket/sv/a%20b/clip.mp4"
    _, _, body = send(oss, "POST", path, query=[("uploads", "")])
    upload_id = ElementTree.fromstring(body).findtext("UploadId")
    for number, size in ((1, 100 * 1024), (2, 10)):
        status, _, _ = send(oss, "PUT", path, b"p" * size,
                            query=[("partNumber", str(number)), ("uploadId", upload_id)])  # fmt: skip
        assert status == 200
    assert issuer.uploaded == []  # parts alone are not an object
    status, _, _ = send(oss, "POST", path, headers={"x-oss-complete-all": "yes"}, query=[("uploadId", upload_id)])
    assert status == 200
    assert (issuer.uploaded, issuer.sizes) == (["video-1"], [100 * 1024 + 10])


def test_cors_preflight_and_exposed_headers_for_browsers(oss):
    connection = http.client.HTTPConnection("127.0.0.1", oss.port, timeout=5)
    connection.request("OPTIONS", "/sv/a%20b/clip.mp4", headers={
        "Origin": "http://localhost:5173", "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "authorization,content-type,x-oss-date,x-oss-security-token",
    })  # fmt: skip
    response = connection.getresponse()
    response.read()
    connection.close()

    assert response.status == 200
    assert response.getheader("Access-Control-Allow-Origin") == "*"
    assert "PUT" in response.getheader("Access-Control-Allow-Methods")
    assert "x-oss-security-token" in response.getheader("Access-Control-Allow-Headers")

    _, headers, _ = send(oss, "PUT", "/sv/a%20b/clip.mp4", b"x", headers={"Origin": "http://localhost:5173"})
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert {"ETag", "x-oss-request-id"} <= {h.strip() for h in headers["Access-Control-Expose-Headers"].split(",")}
