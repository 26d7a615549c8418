"""A fake Alibaba Cloud OSS endpoint: where the fake VOD/ICE ``UploadAddress`` points the upload SDKs.

It is a real HTTP/1.1 server on 127.0.0.1. The real upload SDKs (``oss2`` in Python, ``ali-oss`` in Node and,
later, in a browser) talk to it with the temporary credentials from an ``UploadAuth``; it checks their
signatures byte for byte, answers with OSS's own XML, and keeps what was uploaded so tests can compare it::

    clock = FakeClock(time.time())
    with FakeVod({...}, clock=clock) as vod, FakeOss(issuers=[vod]) as oss:   # oss.clock is vod.clock
        vod.oss_endpoint = oss.url     # or FakeVod(oss_endpoint=...) when the OSS is started first
        ...                            # upload with oss2 / ali-oss
        assert oss.object_bytes(bucket, key) == data

Who may do what comes from the issuers (``FakeVod`` / ``FakeIce``): a request must be signed with one of their
``issued_credentials`` (AccessKeyId, secret, ``x-oss-security-token``), before its ``expires_at`` on the shared
clock, for exactly the bucket and object key it was issued for. When an object is complete (PutObject or
CompleteMultipartUpload) the issuer's ``mark_uploaded(resource_id, size=<object bytes>)`` is called.

Addressing: OSS is virtual-hosted (``Host: <bucket>.<endpoint>``). Clients pointed at an IP endpoint differ:

- oss2 sends path-style requests (``/<bucket>/<key>``) to an IP or ``localhost`` endpoint (oss2/api.py
  ``_determine_endpoint_type``);
- ali-oss (Node) sends ``/<key>`` to the IP and puts the bucket in the ``Host`` header as
  ``<bucket>.oss-<region>.aliyuncs.com`` (lib/common/utils/createRequest.js); with ``sldEnable: true`` it sends
  ``/<bucket>/<key>``; with ``cname: true`` it sends ``/<key>`` and a plain Host;
- a browser pointed at ``http://localhost:<port>`` uses ``Host: <bucket>.localhost:<port>``, which Chromium
  resolves to the loopback address.

So the bucket is taken from the first label of ``Host`` when that is a bucket this fake knows, else from the first
path segment when that is one, else (a CNAME-style request) from the credential that signed the request.

Sources (cited again next to the code):

- [V1]   "Include a V1 signature in the Authorization header":
         https://www.alibabacloud.com/help/en/oss/developer-reference/include-signatures-in-the-authorization-header
         ``Authorization: OSS AccessKeyId:Signature``; Signature = base64(hmac-sha1(AccessKeySecret, VERB\\n
         Content-MD5\\nContent-Type\\nDate\\nCanonicalizedOSSHeaders+CanonicalizedResource)); the SDK side is
         oss2/auth.py ``ProviderAuth`` and ali-oss lib/common/signUtils.js ``buildCanonicalString`` (both sign
         ``x-oss-date`` in place of Date when they send it).
- [V4]   "Include a V4 signature in the header (recommended)":
         https://www.alibabacloud.com/help/en/oss/developer-reference/recommend-to-use-signature-version-4
         ``OSS4-HMAC-SHA256 Credential=<AK>/<yyyymmdd>/<region>/oss/aliyun_v4_request, AdditionalHeaders=..,
         Signature=..``; SDK side oss2/auth.py ``ProviderAuthV4`` and ali-oss signUtils ``getCanonicalRequest``.
- [EXP]  Expired STS credential: 403 ``SecurityTokenExpired`` "The security token you provided has expired.",
         EC 0002-00000007 (https://alibabacloud.com/help/en/oss/support/0002-00000007; the Go SDK's error text
         quoted in https://developer.aliyun.com/ask/553273). Older SDK docs describe the same expiry as
         ``InvalidAccessKeyId`` (EC 0002-00000002, "AccessKey ID已过期"); ``expired_code=`` selects that variant.
- [AK]   Unknown AccessKeyId: 403 ``InvalidAccessKeyId`` "The OSS Access Key Id you provided does not exist in our
         records." (https://www.alibabacloud.com/help/en/oss/the-the-oss-access-key-id-you-provided-does-not-exist-
         in-our-records-error-message-is-returned); token mismatch EC 0002-00000004 / invalid token 0002-00000006.
- [MPU]  Multipart: InitiateMultipartUpload (POST ?uploads), UploadPart (PUT ?partNumber&uploadId, 1..10000),
         CompleteMultipartUpload (POST ?uploadId, XML; parts ascending, every part but the last >= 100 KB,
         ``x-oss-complete-all: yes``), ListParts (GET ?uploadId), AbortMultipartUpload (DELETE ?uploadId):
         https://www.alibabacloud.com/help/en/oss/developer-reference/multipart-upload-12 and the per-operation
         pages; error codes NoSuchUpload, InvalidPart, InvalidPartOrder, EntityTooSmall, InvalidDigest.
- [CRC]  ``x-oss-hash-crc64ecma``: CRC-64/ECMA-182 (reflected, init and xor-out all ones) of the object, which
         oss2 compares with its own (oss2/utils.py ``Crc64``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import formatdate, parsedate_to_datetime
from typing import Any
from urllib.parse import quote, unquote, urlsplit
from xml.etree import ElementTree
from xml.sax.saxutils import escape as xml_escape

from tests.fakes.base import FakeHandler, FakeServer

__all__ = [
    "FakeOss",
    "OffsetClock",
    "OssError",
    "RequestRecord",
    "StoredObject",
    "canonicalized_resource",
    "crc64ecma",
    "sign_v1",
    "sign_v4",
    "string_to_sign_v1",
    "string_to_sign_v4",
    "canonical_request_v4",
]

# [V1]: the query parameters that are part of CanonicalizedResource (the docs' list; oss2's
# ProviderAuth._subresource_key_set is the same list, which this is a superset of).
SUBRESOURCES: frozenset[str] = frozenset(
    """acl uploads location cors logging website referer lifecycle delete append tagging objectMeta uploadId
    partNumber security-token position img style styleName replication replicationProgress replicationLocation
    cname bucketInfo comp qos live status vod startTime endTime symlink x-oss-process response-content-type
    x-oss-traffic-limit response-content-language response-expires response-cache-control
    response-content-disposition response-content-encoding udf udfName udfImage udfId udfImageDesc udfApplication
    udfApplicationLog restore callback callback-var qosInfo policy stat encryption versions versioning versionId
    requestPayment x-oss-request-payer sequential inventory inventoryId continuation-token asyncFetch worm wormId
    wormExtend withHashContext x-oss-enable-md5 x-oss-enable-sha1 x-oss-enable-sha256 x-oss-hash-ctx x-oss-md5-ctx
    transferAcceleration regionList cloudboxes x-oss-ac-source-ip x-oss-ac-subnet-mask x-oss-ac-vpc-id
    x-oss-ac-forward-allow metaQuery resourceGroup rtc group link objectInfo bucketArchiveDirectRead httpsConfig
    accessPoint accessPointPolicy publicAccessBlock x-oss-access-point-name x-oss-async-process
    x-oss-write-get-object-response redundancyTransition x-oss-target-redundancy-type
    x-oss-redundancy-transition-taskid requesterQosInfo qosRequester resourcePoolInfo resourcePool
    resourcePoolBuckets""".split()
)
TIME_SKEW_SECONDS = 15 * 60  # OSS refuses a request time more than 15 minutes off: RequestTimeTooSkewed
MIN_PART_SIZE = 100 * 1024  # [MPU]: every part but the last is at least 100 KB
MAX_PART_NUMBER = 10_000
V4_ALGORITHM = "OSS4-HMAC-SHA256"

_MESSAGES = {
    "AccessDenied": "You have no right to access this object because of bucket acl.",
    "InvalidAccessKeyId": "The OSS Access Key Id you provided does not exist in our records.",  # [AK]
    "SecurityTokenExpired": "The security token you provided has expired.",  # [EXP]
    "InvalidSecurityToken": "The security token you provided is invalid.",
    "SignatureDoesNotMatch": "The request signature we calculated does not match the signature you provided. "
    "Check your key and signing method.",
    "RequestTimeTooSkewed": "The difference between the request time and the current time is too large.",
    "NoSuchKey": "The specified key does not exist.",
    "NoSuchBucket": "The specified bucket does not exist.",
    "NoSuchUpload": "The specified upload does not exist. The upload ID may be invalid, or the upload may have "
    "been aborted or completed.",
    "InvalidPart": "One or more of the specified parts could not be found or the specified entity tag might not "
    "have matched the part's entity tag.",
    "InvalidPartOrder": "The list of parts was not in ascending order. The parts list must be specified in order "
    "by part number.",
    "EntityTooSmall": "Your proposed upload is smaller than the minimum allowed size.",
    "InvalidDigest": "The Content-MD5 you specified was invalid.",
    "MalformedXML": "The XML you provided was not well-formed or did not validate against our published schema.",
    "InvalidArgument": "The argument is invalid.",
    "MethodNotAllowed": "The specified method is not allowed against this resource.",
}
# [EXP] / [AK]: the error-centre numbers for the authentication failures, sent as <EC> and x-oss-ec.
_EC = {
    "SecurityTokenExpired": "0002-00000007",
    "InvalidAccessKeyId": "0002-00000002",
    "InvalidSecurityToken": "0002-00000006",
}


# --------------------------------------------------------------------------------------------------------------
# Signing: the server side of [V1] and [V4]. Pure functions, so tests can pin golden values.
# --------------------------------------------------------------------------------------------------------------


def canonicalized_resource(bucket: str | None, key: str, query: Sequence[tuple[str, str]]) -> str:
    """[V1] ``/bucket/key`` (raw, not URL-encoded) plus the sorted sub-resources as ``?k=v&k2``."""
    resource = f"/{bucket}/{key}" if bucket else "/"
    subs = sorted((k, v) for k, v in query if k in SUBRESOURCES)
    if subs:
        resource += "?" + "&".join(f"{k}={v}" if v else k for k, v in subs)
    return resource


def string_to_sign_v1(method: str, headers: Mapping[str, str], resource: str) -> str:
    """[V1] VERB, Content-MD5, Content-Type, Date (``x-oss-date`` wins), CanonicalizedOSSHeaders + resource.

    ``headers`` maps lower-case names to values.
    """
    date = headers.get("x-oss-date") or headers.get("date", "")
    oss_headers = sorted((k, v.strip()) for k, v in headers.items() if k.startswith("x-oss-"))
    canonical_headers = "".join(f"{k}:{v}\n" for k, v in oss_headers)
    return "\n".join(
        [method.upper(), headers.get("content-md5", ""), headers.get("content-type", ""), date,
         canonical_headers + resource]
    )  # fmt: skip


def sign_v1(secret: str, string_to_sign: str) -> str:
    """[V1] base64(HMAC-SHA1(AccessKeySecret, StringToSign))."""
    digest = hmac.new(secret.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _v4_encode(text: str, *, keep_slash: bool) -> str:
    # [V4]: RFC 3986 unreserved characters stay; '/' stays in the URI but not in the query.
    return quote(text.encode("utf-8"), safe="-_.~" + ("/" if keep_slash else ""))


def canonical_request_v4(
    method: str,
    bucket: str | None,
    key: str,
    query: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    additional_headers: Sequence[str] = (),
) -> str:
    """[V4] the canonical request: verb, URI, query, headers, additional header names, payload hash."""
    uri = _v4_encode(f"/{bucket}/{key}" if bucket else "/", keep_slash=True)
    encoded = sorted((_v4_encode(k, keep_slash=False), _v4_encode(v, keep_slash=False)) for k, v in query)
    canonical_query = "&".join(f"{k}={v}" if v else k for k, v in encoded)
    extra = sorted({h.lower() for h in additional_headers})
    signed = sorted(
        name for name in headers if name in ("content-type", "content-md5") or name.startswith("x-oss-")
        or name in extra
    )  # fmt: skip
    canonical_headers = "".join(f"{name}:{headers[name].strip()}\n" for name in signed)
    payload = headers.get("x-oss-content-sha256", "UNSIGNED-PAYLOAD")
    return "\n".join([method.upper(), uri, canonical_query, canonical_headers, ";".join(extra), payload])


def string_to_sign_v4(timestamp: str, scope: str, canonical_request: str) -> str:
    """[V4] ``OSS4-HMAC-SHA256\\n<yyyymmddThhmmssZ>\\n<scope>\\nhex(sha256(canonical request))``."""
    digest = hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()
    return f"{V4_ALGORITHM}\n{timestamp}\n{scope}\n{digest}"


def sign_v4(secret: str, date: str, region: str, string_to_sign: str, product: str = "oss") -> str:
    """[V4] hex HMAC-SHA256 with the key derived from ``"aliyun_v4" + secret``, date, region, product."""
    key = hmac.new(("aliyun_v4" + secret).encode("utf-8"), date.encode("utf-8"), hashlib.sha256).digest()
    for part in (region, product, "aliyun_v4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def _crc64_table() -> list[int]:
    poly = 0xC96C5795D7870F42  # ECMA-182, reflected
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc)
    return table


try:  # oss2 depends on crcmod (with a C extension); fall back to a table when it is absent
    import crcmod

    _crc64 = crcmod.mkCrcFun(0x142F0E1EBA9EA3693, initCrc=0, xorOut=0xFFFFFFFFFFFFFFFF, rev=True)
except ImportError:  # pragma: no cover - depends on the environment
    _TABLE = _crc64_table()

    def _crc64(data: bytes) -> int:
        crc = 0xFFFFFFFFFFFFFFFF
        for byte in data:
            crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
        return crc ^ 0xFFFFFFFFFFFFFFFF


def crc64ecma(data: bytes) -> str:
    """[CRC] the decimal ``x-oss-hash-crc64ecma`` value of ``data``."""
    return str(_crc64(data))


class OffsetClock:
    """Real time plus an offset a test can ``advance``: credentials age as usual, and can be made to expire at once.

    Share one with FakeVod/FakeIce, FakeOss and the broker. Keep jumps under 15 minutes: the fakes still check
    the clients' own (real-time) request timestamps against it.
    """

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = float(offset)

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


# --------------------------------------------------------------------------------------------------------------
# State
# --------------------------------------------------------------------------------------------------------------


class OssError(Exception):
    """An OSS error answer: status, Code, Message and any extra elements (StringToSign, ...)."""

    def __init__(self, status: int, code: str, message: str | None = None, **extra: str) -> None:
        self.status = status
        self.code = code
        self.message = message or _MESSAGES.get(code, code)
        self.extra = extra
        super().__init__(f"{status} {code}: {self.message}")


@dataclass
class StoredObject:
    """A complete object: its bytes and what OSS reports about it."""

    data: bytes
    etag: str  # with its quotes, as OSS sends it
    content_type: str
    last_modified: float
    object_type: str  # "Normal" | "Multipart"
    resource_id: str | None = None

    @property
    def crc64(self) -> str:
        return crc64ecma(self.data)


@dataclass
class _Part:
    data: bytes
    etag: str
    last_modified: float


@dataclass
class _Upload:
    upload_id: str
    bucket: str
    key: str
    content_type: str
    initiated: float
    parts: dict[int, _Part] = field(default_factory=dict)


@dataclass(frozen=True)
class RequestRecord:
    """One request as the fake saw it, in arrival order (``FakeOss.requests``)."""

    method: str
    operation: str  # "PutObject", "UploadPart", ... or "Preflight"
    bucket: str | None
    key: str
    status: int
    code: str | None
    access_key_id: str | None
    signature_version: str | None  # "v1" | "v4" | None
    addressing: str  # "virtual-hosted" | "path" | "cname"
    part_number: int | None = None
    at: float = 0.0  # the fake's clock when the request was served


@dataclass(frozen=True)
class _Credential:
    access_key_id: str
    secret: str
    token: str
    expires_at: float
    bucket: str
    file_name: str
    resource_id: str
    issuer: Any


@dataclass
class _Incoming:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]  # lower-case names
    body: bytes


# --------------------------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------------------------


class _Handler(FakeHandler["FakeOss"]):
    server_version = "AliyunOSS"
    sys_version = ""

    def do_GET(self) -> None:  # noqa: N802
        self._handle()

    do_HEAD = do_PUT = do_POST = do_DELETE = do_OPTIONS = do_GET  # noqa: N815

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _handle(self) -> None:
        body = self._read_body()
        parts = urlsplit(self.path)
        incoming = _Incoming(
            method=self.command,
            path=parts.path,
            query=_parse_query(parts.query),
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        status, headers, payload = self.server.fake._serve(incoming)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD" and payload:
            self.wfile.write(payload)


def _parse_query(query: str) -> list[tuple[str, str]]:
    # Not parse_qsl: a '+' in a signed value is a literal plus, as the SDKs encode a space as %20.
    pairs = []
    for item in query.split("&"):
        if not item:
            continue
        name, _, value = item.partition("=")
        pairs.append((unquote(name), unquote(value)))
    return pairs


def _xml(root: str, children: Iterable[tuple[str, Any]]) -> bytes:
    def render(name: str, value: Any) -> str:
        if isinstance(value, list):
            return "".join(render(name, item) for item in value)
        if isinstance(value, tuple):  # a nested element: tuple of (name, value) pairs
            return f"<{name}>" + "".join(render(k, v) for k, v in value) + f"</{name}>"
        return f"<{name}>{xml_escape(str(value))}</{name}>"

    inner = "\n  ".join(render(k, v) for k, v in children)
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{root}>\n  {inner}\n</{root}>\n'.encode()


def _gmt(epoch: float) -> str:
    return formatdate(epoch, usegmt=True)


def _iso_ms(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _etag(data: bytes) -> str:
    return '"' + hashlib.md5(data).hexdigest().upper() + '"'  # noqa: S324 - OSS's ETag is an MD5


# --------------------------------------------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------------------------------------------


class FakeOss(FakeServer):
    """A fake OSS endpoint for the credentials that fake VOD/ICE servers issue.

    - ``issuers``: objects with ``issued_credentials`` ({AccessKeyId: {secret, token, expires_at, bucket,
      file_name, resource_id}}) and ``mark_uploaded(resource_id, size=None)`` - FakeVod, FakeIce. More can be
      added later with :meth:`add_issuer`.
    - ``clock``: epoch seconds; defaults to the first issuer's ``clock`` so expiry is judged on the same time the
      credentials were issued on.
    - ``region``: what a V4 signature's scope must name (the fake VOD's default, cn-shanghai).
    - ``expired_code``: the Code for an expired credential, ``SecurityTokenExpired`` (default, [EXP]) or
      ``InvalidAccessKeyId``.

    Its ``url`` is the ``oss_endpoint`` to give FakeVod/FakeIce.
    """

    handler = _Handler
    thread_name = "fake-oss"

    def __init__(
        self,
        issuers: Iterable[Any] = (),
        *,
        clock: Callable[[], float] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        region: str = "cn-shanghai",
        expired_code: str = "SecurityTokenExpired",
    ) -> None:
        if expired_code not in ("SecurityTokenExpired", "InvalidAccessKeyId"):
            raise ValueError("expired_code must be SecurityTokenExpired or InvalidAccessKeyId")
        super().__init__(host, port)
        self.issuers: list[Any] = list(issuers)
        if clock is None:
            clock = getattr(self.issuers[0], "clock", None) if self.issuers else None
        self.clock: Callable[[], float] = clock or time.time
        self.region = region
        self.expired_code = expired_code
        self.host_id = f"oss-{region}.aliyuncs.com"
        self._lock = threading.RLock()
        self._listeners: list[Callable[[RequestRecord], None]] = []
        self.objects: dict[tuple[str, str], StoredObject] = {}
        self.uploads: dict[str, _Upload] = {}
        self.requests: list[RequestRecord] = []

    @property
    def localhost_url(self) -> str:
        """``http://localhost:<port>``: for browsers, which then send ``Host: <bucket>.localhost:<port>``."""
        return f"http://localhost:{self.port}"

    # ---- test helpers -----------------------------------------------------------------------------------------

    def add_issuer(self, issuer: Any) -> None:
        with self._lock:
            self.issuers.append(issuer)

    def on_request(self, listener: Callable[[RequestRecord], None]) -> None:
        """Call ``listener(record)`` after each request is served and before its answer is sent.

        A test can advance a shared clock after the n-th part, knowing the client cannot send its next request
        before this one is answered.
        """
        with self._lock:
            self._listeners.append(listener)

    def object_bytes(self, bucket: str, key: str) -> bytes:
        with self._lock:
            return self.objects[(bucket, key)].data

    def get_object(self, bucket: str, key: str) -> StoredObject:
        with self._lock:
            return self.objects[(bucket, key)]

    def count(self, operation: str | None = None, *, status: int | None = None, code: str | None = None) -> int:
        with self._lock:
            return sum(
                1 for r in self.requests
                if (operation is None or r.operation == operation) and (status is None or r.status == status)
                and (code is None or r.code == code)
            )  # fmt: skip

    def rejections(self) -> list[RequestRecord]:
        """Every request answered with an error, in order."""
        with self._lock:
            return [r for r in self.requests if r.status >= 400]

    def reset(self) -> None:
        with self._lock:
            self.objects.clear()
            self.uploads.clear()
            self.requests.clear()

    # ---- request processing -----------------------------------------------------------------------------------

    def _known_buckets(self) -> set[str]:
        buckets = set()
        for issuer in self.issuers:
            if getattr(issuer, "default_bucket", None):
                buckets.add(issuer.default_bucket)
            for entry in list(getattr(issuer, "issued_credentials", {}).values()):
                buckets.add(entry["bucket"])
        return buckets

    def _address(self, incoming: _Incoming) -> tuple[str | None, str, str]:
        """(bucket or None for CNAME-style, key, addressing) per the rules in the module docstring."""
        known = self._known_buckets()
        host = incoming.headers.get("host", "")
        host = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        path = unquote(incoming.path)
        first_label, dot, _ = host.partition(".")
        if dot and first_label in known:
            return first_label, path[1:], "virtual-hosted"
        first_segment, _, rest = path[1:].partition("/")
        if first_segment in known:
            return first_segment, rest, "path"
        return None, path[1:], "cname"

    @staticmethod
    def _operation(method: str, query: dict[str, str], key: str) -> str:
        if method == "OPTIONS":
            return "Preflight"
        if not key:
            return {"GET": "ListObjects", "PUT": "PutBucket", "DELETE": "DeleteBucket"}.get(method, "BucketRequest")
        if method == "POST" and "uploads" in query:
            return "InitiateMultipartUpload"
        if method == "PUT" and "uploadId" in query and "partNumber" in query:
            return "UploadPart"
        if method == "POST" and "uploadId" in query:
            return "CompleteMultipartUpload"
        if method == "GET" and "uploadId" in query:
            return "ListParts"
        if method == "DELETE" and "uploadId" in query:
            return "AbortMultipartUpload"
        return {"PUT": "PutObject", "GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}.get(
            method, "Unsupported"
        )

    def _serve(self, incoming: _Incoming) -> tuple[int, dict[str, str], bytes]:
        request_id = secrets.token_hex(12).upper()  # OSS request ids are 24 hex digits
        with self._lock:
            bucket, key, addressing = self._address(incoming)
        query = dict(incoming.query)
        operation = self._operation(incoming.method, query, key)
        headers = {"x-oss-request-id": request_id, "Date": _gmt(time.time()), "Connection": "keep-alive"}
        headers |= self._cors(incoming)
        access_key_id = version = None
        part_number = None
        try:
            if operation == "Preflight":
                status, extra, payload = 200, self._preflight(incoming), b""
            else:
                version, access_key_id, signature, v4 = _parse_authorization(incoming)
                credential = self._authenticate(incoming, bucket, key, access_key_id, signature, v4)
                bucket = bucket or credential.bucket
                if bucket != credential.bucket or key != credential.file_name:
                    # The STS policy VOD/ICE attach covers exactly one object in one bucket.
                    raise OssError(403, "AccessDenied", "You have no right to access this object.")
                if operation == "UploadPart":
                    part_number = _part_number(query)
                with self._lock:
                    status, extra, payload = self._dispatch(operation, incoming, query, bucket, key, credential)
            code = None
        except OssError as error:
            status, code = error.status, error.code
            extra, payload = self._error(error, request_id, bucket, incoming)
        headers |= extra
        record = RequestRecord(
            incoming.method, operation, bucket, key, status, code, access_key_id, version, addressing, part_number,
            self.clock(),
        )  # fmt: skip
        with self._lock:
            self.requests.append(record)
            listeners = list(self._listeners)
        for listener in listeners:
            listener(record)
        return status, headers, payload

    def _error(
        self, error: OssError, request_id: str, bucket: str | None, incoming: _Incoming
    ) -> tuple[dict[str, str], bytes]:
        host_id = f"{bucket}.{self.host_id}" if bucket else self.host_id
        children: list[tuple[str, Any]] = [
            ("Code", error.code),
            ("Message", error.message),
            ("RequestId", request_id),
            ("HostId", host_id),
            *error.extra.items(),
        ]
        ec = _EC.get(error.code)
        headers = {"Content-Type": "application/xml"}
        if ec:
            children += [("EC", ec), ("RecommendDoc", f"https://api.aliyun.com/troubleshoot?q={ec}")]
            headers["x-oss-ec"] = ec
        payload = _xml("Error", children)
        if incoming.method == "HEAD":
            # A HEAD answer has no body; OSS carries the error XML in x-oss-err (ali-oss reads it from there).
            headers["x-oss-err"] = base64.b64encode(payload).decode("ascii")
        return headers, payload

    def _cors(self, incoming: _Incoming) -> dict[str, str]:
        if not incoming.headers.get("origin"):
            return {}
        return {
            "Access-Control-Allow-Origin": "*",
            "Access-Control-Expose-Headers": "ETag, x-oss-request-id, x-oss-hash-crc64ecma, x-oss-ec",
        }

    def _preflight(self, incoming: _Incoming) -> dict[str, str]:
        requested = incoming.headers.get("access-control-request-headers", "")
        return {
            "Access-Control-Allow-Methods": "GET, PUT, POST, DELETE, HEAD",
            "Access-Control-Allow-Headers": requested or "*",
            "Access-Control-Max-Age": "600",
        }

    # ---- authentication ---------------------------------------------------------------------------------------

    def _credential(self, access_key_id: str) -> _Credential | None:
        for issuer in self.issuers:
            entry = getattr(issuer, "issued_credentials", {}).get(access_key_id)
            if entry is not None:
                return _Credential(
                    access_key_id, entry["secret"], entry["token"], float(entry["expires_at"]), entry["bucket"],
                    entry["file_name"], entry["resource_id"], issuer,
                )  # fmt: skip
        return None

    def _authenticate(
        self, incoming: _Incoming, bucket: str | None, key: str, access_key_id: str, signature: str,
        v4: dict[str, str] | None,
    ) -> _Credential:  # fmt: skip
        now = self.clock()
        credential = self._credential(access_key_id)
        if credential is None:
            raise OssError(403, "InvalidAccessKeyId", OSSAccessKeyId=access_key_id)
        token = incoming.headers.get("x-oss-security-token")
        if not token:
            # [AK]: an STS AccessKeyId without its token is not a key OSS can find.
            raise OssError(403, "InvalidAccessKeyId", OSSAccessKeyId=access_key_id)
        if not hmac.compare_digest(token.encode(), credential.token.encode()):
            raise OssError(403, "InvalidSecurityToken")
        if now >= credential.expires_at:
            raise OssError(403, self.expired_code)  # [EXP]
        resource_bucket = bucket or credential.bucket

        if v4 is None:
            self._check_time_v1(incoming, now)
            resource = canonicalized_resource(resource_bucket, key, incoming.query)
            to_sign = string_to_sign_v1(incoming.method, incoming.headers, resource)
            expected = sign_v1(credential.secret, to_sign)
        else:
            timestamp = incoming.headers.get("x-oss-date", "")
            self._check_time_v4(timestamp, now)
            _, date, region, product, terminator = (v4["credential"].split("/") + [""] * 5)[:5]
            if date != timestamp[:8] or region != self.region or product != "oss" or terminator != "aliyun_v4_request":
                raise OssError(
                    403, "SignatureDoesNotMatch", "Invalid signing region or date in Credential scope.",
                    Credential=v4["credential"],
                )  # fmt: skip
            payload_hash = incoming.headers.get("x-oss-content-sha256", "UNSIGNED-PAYLOAD")
            if payload_hash != "UNSIGNED-PAYLOAD" and payload_hash != hashlib.sha256(incoming.body).hexdigest():
                raise OssError(400, "InvalidArgument", "x-oss-content-sha256 does not match the body.")
            additional = [h for h in v4.get("additionalheaders", "").split(";") if h]
            canonical = canonical_request_v4(
                incoming.method, resource_bucket, key, incoming.query, incoming.headers, additional
            )
            to_sign = string_to_sign_v4(timestamp, f"{date}/{region}/{product}/aliyun_v4_request", canonical)
            expected = sign_v4(credential.secret, date, region, to_sign, product)
        if not hmac.compare_digest(expected, signature.strip()):
            # Real OSS returns its StringToSign so a client can tell a wrong secret from a wrong request.
            raise OssError(
                403, "SignatureDoesNotMatch", StringToSign=to_sign, SignatureProvided=signature,
                OSSAccessKeyId=access_key_id,
            )  # fmt: skip
        return credential

    @staticmethod
    def _check_time_v1(incoming: _Incoming, now: float) -> None:
        text = incoming.headers.get("x-oss-date") or incoming.headers.get("date")
        try:
            sent = parsedate_to_datetime(text).timestamp() if text else None
        except (TypeError, ValueError):
            sent = None
        if sent is None:
            raise OssError(403, "AccessDenied", "OSS authentication requires a valid Date.")
        if abs(now - sent) > TIME_SKEW_SECONDS:
            raise OssError(403, "RequestTimeTooSkewed", RequestTime=text or "", ServerTime=_iso_ms(now))

    @staticmethod
    def _check_time_v4(timestamp: str, now: float) -> None:
        try:
            sent = datetime.strptime(timestamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            raise OssError(403, "AccessDenied", "V4 signing requires x-oss-date as yyyymmddThhmmssZ.") from None
        if abs(now - sent) > TIME_SKEW_SECONDS:
            raise OssError(403, "RequestTimeTooSkewed", RequestTime=timestamp, ServerTime=_iso_ms(now))

    # ---- operations -------------------------------------------------------------------------------------------

    def _dispatch(
        self, operation: str, incoming: _Incoming, query: dict[str, str], bucket: str, key: str, cred: _Credential
    ) -> tuple[int, dict[str, str], bytes]:
        if operation == "PutObject":
            return self._put_object(incoming, bucket, key, cred)
        if operation == "InitiateMultipartUpload":
            return self._initiate(incoming, query, bucket, key)
        if operation == "UploadPart":
            return self._upload_part(incoming, query, bucket, key)
        if operation == "CompleteMultipartUpload":
            return self._complete(incoming, query, bucket, key, cred)
        if operation == "ListParts":
            return self._list_parts(query, bucket, key)
        if operation == "AbortMultipartUpload":
            self._upload(query, bucket, key)
            del self.uploads[query["uploadId"]]
            return 204, {}, b""
        if operation in ("GetObject", "HeadObject"):
            stored = self.objects.get((bucket, key))
            if stored is None:
                raise OssError(404, "NoSuchKey", Key=key)
            headers = {
                "Content-Type": stored.content_type,
                "ETag": stored.etag,
                "Last-Modified": _gmt(stored.last_modified),
                "x-oss-object-type": stored.object_type,
                "x-oss-hash-crc64ecma": stored.crc64,
            }
            return 200, headers, stored.data
        raise OssError(405, "MethodNotAllowed", ResourceType="Object", Method=incoming.method)

    @staticmethod
    def _check_md5(incoming: _Incoming) -> None:
        sent = incoming.headers.get("content-md5")
        if sent is not None and sent != base64.b64encode(hashlib.md5(incoming.body).digest()).decode():  # noqa: S324
            raise OssError(400, "InvalidDigest")

    def _complete_object(self, bucket: str, key: str, stored: StoredObject, cred: _Credential) -> None:
        stored.resource_id = cred.resource_id
        self.objects[(bucket, key)] = stored
        cred.issuer.mark_uploaded(cred.resource_id, size=len(stored.data))

    def _put_object(
        self, incoming: _Incoming, bucket: str, key: str, cred: _Credential
    ) -> tuple[int, dict[str, str], bytes]:
        self._check_md5(incoming)
        stored = StoredObject(
            incoming.body, _etag(incoming.body), incoming.headers.get("content-type", "application/octet-stream"),
            self.clock(), "Normal",
        )  # fmt: skip
        self._complete_object(bucket, key, stored, cred)
        headers = {"ETag": stored.etag, "x-oss-hash-crc64ecma": stored.crc64}
        if incoming.headers.get("content-md5"):
            headers["Content-MD5"] = incoming.headers["content-md5"]
        return 200, headers, b""

    def _initiate(
        self, incoming: _Incoming, query: dict[str, str], bucket: str, key: str
    ) -> tuple[int, dict[str, str], bytes]:
        upload_id = uuid.uuid4().hex.upper()
        content_type = incoming.headers.get("content-type", "application/octet-stream")
        self.uploads[upload_id] = _Upload(upload_id, bucket, key, content_type, self.clock())
        encode = query.get("encoding-type") == "url"
        children: list[tuple[str, Any]] = [("EncodingType", "url")] if encode else []
        children += [("Bucket", bucket), ("Key", quote(key) if encode else key), ("UploadId", upload_id)]
        return 200, {"Content-Type": "application/xml"}, _xml("InitiateMultipartUploadResult", children)

    def _upload(self, query: dict[str, str], bucket: str, key: str) -> _Upload:
        upload = self.uploads.get(query.get("uploadId", ""))
        if upload is None or upload.bucket != bucket or upload.key != key:
            raise OssError(404, "NoSuchUpload", UploadId=query.get("uploadId", ""))
        return upload

    def _upload_part(
        self, incoming: _Incoming, query: dict[str, str], bucket: str, key: str
    ) -> tuple[int, dict[str, str], bytes]:
        number = _part_number(query)
        upload = self._upload(query, bucket, key)
        self._check_md5(incoming)
        part = _Part(incoming.body, _etag(incoming.body), self.clock())
        upload.parts[number] = part  # a re-sent part replaces the earlier one
        return 200, {"ETag": part.etag, "x-oss-hash-crc64ecma": crc64ecma(part.data)}, b""

    def _complete(
        self, incoming: _Incoming, query: dict[str, str], bucket: str, key: str, cred: _Credential
    ) -> tuple[int, dict[str, str], bytes]:
        upload = self._upload(query, bucket, key)
        if (incoming.headers.get("x-oss-complete-all") or "").lower() == "yes":
            if incoming.body.strip():
                raise OssError(400, "InvalidArgument", "Specify either x-oss-complete-all or a part list, not both.")
            listed = [(n, upload.parts[n].etag) for n in sorted(upload.parts)]
        else:
            self._check_md5(incoming)
            listed = _parse_complete(incoming.body)
        if not listed:
            raise OssError(400, "MalformedXML")
        numbers = [n for n, _ in listed]
        if numbers != sorted(set(numbers)):
            raise OssError(400, "InvalidPartOrder")
        chosen = []
        for number, etag in listed:
            part = upload.parts.get(number)
            if part is None or part.etag.strip('"').upper() != etag.strip().strip('"').upper():
                raise OssError(400, "InvalidPart", PartNumber=str(number), ETag=etag)
            chosen.append(part)
        for number, part in zip(numbers[:-1], chosen[:-1]):
            if len(part.data) < MIN_PART_SIZE:
                raise OssError(400, "EntityTooSmall", PartNumber=str(number), ProposedSize=str(len(part.data)),
                               MinSizeAllowed=str(MIN_PART_SIZE))  # fmt: skip
        data = b"".join(part.data for part in chosen)
        digests = b"".join(bytes.fromhex(part.etag.strip('"')) for part in chosen)
        etag = f'"{hashlib.md5(digests).hexdigest().upper()}-{len(chosen)}"'  # noqa: S324
        stored = StoredObject(data, etag, upload.content_type, self.clock(), "Multipart")
        del self.uploads[upload.upload_id]
        self._complete_object(bucket, key, stored, cred)
        encode = query.get("encoding-type") == "url"
        children: list[tuple[str, Any]] = [("EncodingType", "url")] if encode else []
        children += [
            ("Location", f"{self.url}/{bucket}/{quote(key)}"),
            ("Bucket", bucket),
            ("Key", quote(key) if encode else key),
            ("ETag", etag),
        ]
        headers = {"Content-Type": "application/xml", "ETag": etag, "x-oss-hash-crc64ecma": stored.crc64}
        return 200, headers, _xml("CompleteMultipartUploadResult", children)

    def _list_parts(self, query: dict[str, str], bucket: str, key: str) -> tuple[int, dict[str, str], bytes]:
        upload = self._upload(query, bucket, key)
        try:
            marker = int(query.get("part-number-marker") or 0)
            max_parts = min(int(query.get("max-parts") or 1000), 1000)
        except ValueError:
            raise OssError(400, "InvalidArgument", "part-number-marker and max-parts must be integers.") from None
        numbers = [n for n in sorted(upload.parts) if n > marker]
        page, truncated = numbers[:max_parts], len(numbers) > max_parts
        encode = query.get("encoding-type") == "url"
        children: list[tuple[str, Any]] = [("EncodingType", "url")] if encode else []
        children += [
            ("Bucket", bucket),
            ("Key", quote(key) if encode else key),
            ("UploadId", upload.upload_id),
            ("PartNumberMarker", marker),
            ("NextPartNumberMarker", page[-1] if page else marker),
            ("MaxParts", max_parts),
            ("IsTruncated", "true" if truncated else "false"),
            (
                "Part",
                [
                    (
                        ("PartNumber", n),
                        ("LastModified", _iso_ms(upload.parts[n].last_modified)),
                        ("ETag", upload.parts[n].etag),
                        ("HashCrc64ecma", crc64ecma(upload.parts[n].data)),
                        ("Size", len(upload.parts[n].data)),
                    )
                    for n in page
                ],
            ),
        ]
        return 200, {"Content-Type": "application/xml"}, _xml("ListPartsResult", children)


def _part_number(query: dict[str, str]) -> int:
    try:
        number = int(query.get("partNumber", ""))
    except ValueError:
        number = 0
    if not 1 <= number <= MAX_PART_NUMBER:
        raise OssError(400, "InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive.",
                       ArgumentName="partNumber", ArgumentValue=query.get("partNumber", ""))  # fmt: skip
    return number


def _parse_authorization(incoming: _Incoming) -> tuple[str, str, str, dict[str, str] | None]:
    """(signature version, AccessKeyId, signature, V4 fields or None) from the Authorization header."""
    authorization = incoming.headers.get("authorization", "").strip()
    if authorization.startswith("OSS "):
        access_key_id, _, signature = authorization[4:].rpartition(":")
        return "v1", access_key_id.strip(), signature, None
    if authorization.startswith(V4_ALGORITHM + " "):
        v4 = _parse_v4_authorization(authorization)
        return "v4", v4["credential"].split("/", 1)[0], v4["signature"], v4
    if not authorization:
        # Presigned URLs and anonymous access are not part of an upload with an STS credential.
        raise OssError(403, "AccessDenied", "You have no right to access this object because of bucket acl.")
    raise OssError(400, "InvalidArgument", "Authorization header is invalid.")


def _parse_v4_authorization(value: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for item in value[len(V4_ALGORITHM):].split(","):
        name, eq, content = item.strip().partition("=")
        if eq:
            fields[name.strip().lower()] = content.strip()
    if "credential" not in fields or "signature" not in fields:
        raise OssError(400, "InvalidArgument", "Authorization header is invalid.")
    return fields


def _parse_complete(body: bytes) -> list[tuple[int, str]]:
    try:
        root = ElementTree.fromstring(body)  # noqa: S314 - test input from the SDK under test
    except ElementTree.ParseError:
        raise OssError(400, "MalformedXML") from None
    if root.tag != "CompleteMultipartUpload":
        raise OssError(400, "MalformedXML")
    parts = []
    for element in root.findall("Part"):
        number, etag = element.findtext("PartNumber"), element.findtext("ETag")
        if number is None or etag is None or not number.strip().isdigit():
            raise OssError(400, "MalformedXML")
        parts.append((int(number), etag))
    return parts
