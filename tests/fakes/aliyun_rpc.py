"""A moto-style fake of Alibaba Cloud's RPC-style APIs for ApsaraVideo VOD (2017-03-21) and ICE (2020-11-09).

It is a real HTTP server on 127.0.0.1. The real ``aliyunsdkcore.client.AcsClient`` talks to it, signs its
requests as it would for the real service, and gets the real services' JSON (or XML) answers back, so tests
exercise the broker's actual wire behaviour: signing, error parsing, timeouts, connection reuse.

Sources for every behaviour (cited again next to the code that implements it):

- [SIG]  RPC signature v1 (HMAC-SHA1, key = secret + "&", StringToSign = METHOD&%2F&percentEncode(sorted
         canonical query), RFC 3986 encoding, unique SignatureNonce, ISO 8601 UTC Timestamp):
         https://www.alibabacloud.com/help/doc-detail/127287.htm ("Signature mechanism") and
         https://help.aliyun.com/en/viapi/developer-reference/the-public-request-parameters-11 ("Common
         request parameters": Format optional, default XML; Timestamp format YYYY-MM-DDThh:mm:ssZ).
         The SDK side is aliyunsdkcore/auth/composer/rpc_signature_composer.py.
- [GW]   Gateway (POP) errors shared by every RPC product, with codes and messages:
         Alibaba Cloud SMS "API 错误码" page (aliyun docs, help.aliyun.com/document_detail/101346.html):
         SignatureDoesNotMatch / InvalidTimeStamp.Expired ("...不在15分钟内" = not within 15 minutes) /
         SignatureNonceUsed / InvalidVersion / InvalidAction.NotFound; and the public error centre
         https://error-center.alibabacloud.com/status/product/Public (InvalidAccessKeyId.NotFound,
         InvalidTimeStamp.Format, InvalidSignatureMethod, MissingSecurityToken,
         InvalidSecurityToken.MismatchWithAccessKey / .Malformed / .Expired, Throttling.User).
         Error body shape {"RequestId","HostId","Code","Message","Recommend"}:
         https://www.alibabacloud.com/help/en/imm/developer-reference/error-handling-1 and the Throttling.User
         response quoted in https://developer.aliyun.com/ask/523079 (status 400, same five keys).
- [VODERR] VOD common error codes: https://alibabacloud.com/help/en/vod/api-reference-error-codes
         (MissingParameter 400, InvalidParameter 400, InternalError 500, ServiceUnAvailable 503 - sic).
- [VODCUV] CreateUploadVideo: https://www.alibabacloud.com/help/doc-detail/55407.htm (Title/FileName
         required; Title <= 128, Description <= 1024, <= 16 Tags of <= 32 chars; FileName needs an extension).
         The Chinese page counts Title in bytes ("长度不超过 128 个字节"), which is what the broker's contract uses.
- [VODRUV] RefreshUploadVideo: https://www.alibabacloud.com/help/doc-detail/55397.htm (InvalidVideo.Damaged 400,
         InvalidVideo.NotFound 404) and https://www.alibabacloud.com/help/doc-detail/55397.htm (a refresh keeps
         the upload URL and issues a new credential; credentials last 3,000 s).
- [VODCUI] CreateUploadImage: https://www.alibabacloud.com/help/doc-detail/55619.htm (ImageType required,
         ImageExt default png, response RequestId/ImageId/ImageURL/FileURL/UploadAddress/UploadAuth).
- [VODCAM] CreateUploadAttachedMedia: https://help.aliyun.com/document_detail/98467.html (BusinessType
         watermark|subtitle|material; MediaExt per type; Title <= 128 bytes; <= 16 Tags).
- [ICECUM] ICE CreateUploadMedia: https://www.alibabacloud.com/help/doc-detail/2862076.html (ROS
         ALIYUN::ICE::UploadMedia, which mirrors the API: FileInfo Type/Name/Ext required, Type in
         video|image|audio|text|other; MediaMetaData, PostProcessConfig, UserData, UploadTargetConfig JSON)
         and https://www.alibabacloud.com/help/pt-br/ims/developer-reference/api-ice-2020-11-09-createuploadmedia.
- [ICERUM] ICE RefreshUploadMedia: https://alibabacloud.com/help/en/ims/developer-reference/api-ice-2020-11-09-refreshuploadmedia.
- [ICEERR] IMS error codes: https://help.aliyun.com/document_detail/197855.html (ResourceNotFound
         "Resource not found" 404 is ICE's not-found answer for an unknown MediaId).
- [AUTH] Decoded UploadAddress / UploadAuth shape and formats: the decoded CreateUploadVideo answer quoted in
         public code (UploadAddress {"Endpoint":"https://oss-cn-shanghai.aliyuncs.com","Bucket":"outin-<32 hex>",
         "FileName":"sv/<8hex>-<11hex>/<8hex>-<11hex>.mp4"}; UploadAuth {"SecurityToken":"CAIS...",
         "AccessKeyId":"STS.<25>","ExpireUTCTime":"2020-07-29T15:20:31Z","AccessKeySecret":"<44>",
         "Expiration":"3600","Region":"cn-shanghai"}), matching the VOD upload SDKs, which read ExpireUTCTime
         first and fall back to Expiration (seconds); https://www.alibabacloud.com/help/doc-detail/55397.htm
         says how to Base64-decode both.
- [THR]  Throttling: VOD enforces per-user QPS limits
         (https://alibabacloud.com/help/ja/vod/developer-reference/qps-limits-on-api-operations) and throttled
         calls answer 400 Throttling.User "Request was denied due to user flow control."
         (https://developer.aliyun.com/ask/571020, https://developer.aliyun.com/ask/523079).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import re
import secrets
import socket
import string
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit
from xml.sax.saxutils import escape as xml_escape

from tests.fakes.base import AccessKeyEntry, FakeHandler, FakeServer, access_key

__all__ = [
    "FakeAliyun",
    "FakeIce",
    "FakeVod",
    "RpcError",
    "VOD_MEDIA_EXTENSIONS",
    "canonical_string_to_sign",
    "percent_encode",
    "sign_rpc",
]

DEFAULT_OSS_ENDPOINT = "https://oss-cn-shanghai.aliyuncs.com"
PRODUCT_VERSIONS = {"vod": "2017-03-21", "ice": "2020-11-09"}
# The product names the real gateway puts in its troubleshooting link ([GW] example uses product=<name>).
_RECOMMEND_PRODUCT = {"vod": "vod", "ice": "ICE"}

# [GW]: the gateway rejects a Timestamp more than 15 minutes from its clock, and keeps nonces at least that long.
TIMESTAMP_WINDOW_SECONDS = 15 * 60
NONCE_WINDOW_SECONDS = 15 * 60
_TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")

# VOD "Upload overview / Restrictions": the audio and video extensions a CreateUploadVideo FileName may have.
VOD_MEDIA_EXTENSIONS: frozenset[str] = frozenset(
    {
        # video
        "3gp", "asf", "avi", "dat", "dv", "flv", "f4v", "gif", "m2t", "m3u8", "m4v", "mj2", "mjpeg", "mkv",
        "mov", "mp4", "mpe", "mpg", "mpeg", "mts", "ogg", "qt", "rm", "rmvb", "swf", "ts", "vob", "wmv", "webm",
        # audio
        "aac", "ac3", "acm", "amr", "ape", "caf", "flac", "m4a", "mp3", "ra", "wav", "wma", "aiff",
    }
)  # fmt: skip
VOD_IMAGE_TYPES = frozenset({"default", "cover"})  # [VODCUI]
VOD_IMAGE_EXTENSIONS = frozenset({"png", "jpg", "jpeg", "gif", "heic", "webp"})  # [VODCUI] ImageExt (2022-10-27 list)
# [VODCAM] MediaExt valid values per BusinessType.
VOD_ATTACHED_EXTENSIONS: dict[str, frozenset[str]] = {
    "watermark": frozenset({"png", "gif", "apng", "mov"}),
    "subtitle": frozenset({"srt", "ass", "stl", "ttml", "vtt"}),
    "material": frozenset({"jpg", "gif", "png", "mp4", "mat", "zip", "apk"}),
}
ICE_FILE_TYPES = frozenset({"video", "image", "audio", "text", "other"})  # [ICECUM]

# Default messages, as the docs spell them.
_MESSAGES: dict[str, str] = {
    "Throttling.User": "Request was denied due to user flow control.",  # [THR]
    "Throttling": "Request was denied due to request throttling.",
    "InternalError": "The request processing has failed due to some unknown error.",  # [VODERR]
    "ServiceUnAvailable": "The request has failed due to a temporary failure of the server.",  # [VODERR]
    "ServiceUnavailable": "The request has failed due to a temporary failure of the server.",
}
_STATUS_FOR_CODE: dict[str, int] = {
    "Throttling.User": 400,
    "Throttling": 400,
    "InternalError": 500,
    "ServiceUnAvailable": 503,
    "ServiceUnavailable": 503,
}
# [VODERR] spells the 503 code "ServiceUnAvailable"; a test that only names a status gets the documented code.
_CODE_FOR_STATUS: dict[int, str] = {400: "Throttling.User", 500: "InternalError", 503: "ServiceUnAvailable"}


# --------------------------------------------------------------------------------------------------------------
# Signing: the server side of [SIG], byte for byte what aliyunsdkcore computes.
# --------------------------------------------------------------------------------------------------------------


def percent_encode(value: str) -> str:
    """RFC 3986 percent-encoding as [SIG] requires: only A-Z a-z 0-9 - _ . ~ stay; space is %20, * is %2A."""
    return quote(value.encode("utf-8"), safe="-_.~")


def canonical_string_to_sign(method: str, params: Mapping[str, str]) -> str:
    """METHOD & %2F & percentEncode(sorted, encoded key=value pairs joined by &), per [SIG]."""
    pairs = sorted((k, v) for k, v in params.items() if k != "Signature")
    canonical = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in pairs)
    return f"{method.upper()}&{percent_encode('/')}&{percent_encode(canonical)}"


def sign_rpc(string_to_sign: str, secret: str) -> str:
    """Base64(HMAC-SHA1(secret + "&", StringToSign)), per [SIG]."""
    digest = hmac.new((secret + "&").encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _iso8601(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_timestamp(value: str) -> float | None:
    if not _TIMESTAMP_RE.match(value):
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:
        return None


def _b64json(obj: Mapping[str, Any]) -> str:
    # The real values decode to compact JSON ("eyJTZWN1cml0eVRva2VuIjoi" = '{"SecurityToken":"'), see [AUTH].
    return base64.b64encode(json.dumps(obj, separators=(",", ":")).encode("utf-8")).decode("ascii")


def _request_id() -> str:
    return str(uuid.uuid4()).upper()


def _hex(n: int) -> str:
    return secrets.token_hex((n + 1) // 2)[:n]


def _alnum(n: int) -> str:
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(n))


def _ext_of(name: str) -> str:
    tail = name.replace("\\", "/").rsplit("/", 1)[-1]
    return tail.rsplit(".", 1)[1].lower() if "." in tail else ""


# --------------------------------------------------------------------------------------------------------------
# State types
# --------------------------------------------------------------------------------------------------------------


class RpcError(Exception):
    """An error answer in the real service's shape (status + Code + Message)."""

    def __init__(self, status: int, code: str, message: str, *, delay: float = 0.0) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.delay = delay  # an injected fault may hold the answer back


def _missing(name: str) -> RpcError:
    # [VODERR] MissingParameter 400; the doc's message with the parameter name filled in.
    msg = f'The input parameter "{name}" that is mandatory for processing this request is not supplied.'
    return RpcError(400, "MissingParameter", msg)


def _invalid(name: str, why: str = "") -> RpcError:
    # [VODERR] InvalidParameter 400.
    msg = f'The specified parameter "{name}" is not valid.'
    return RpcError(400, "InvalidParameter", msg + (f" {why}" if why else ""))


@dataclass
class Fault:
    """One queued fault; see FakeAliyun.inject."""

    action: str | None
    status: int | None
    code: str | None
    message: str | None
    delay: float | None
    drop: bool
    remaining: int


@dataclass
class Resource:
    """A video, image, attached medium or ICE media asset the fake has created."""

    kind: str  # "video" | "image" | "attached" | "media"
    resource_id: str
    status: str
    bucket: str
    file_name: str
    params: dict[str, str]
    created_at: float
    damaged: bool = False
    access_key_ids: list[str] = field(default_factory=list)


@dataclass
class _Answer:
    status: int
    body: dict[str, Any]
    root: str  # XML root element name
    delay: float = 0.0
    drop: bool = False


# --------------------------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------------------------


class _Handler(FakeHandler["FakeAliyun"]):
    server_version = "FakeAliyunRPC/1.0"

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        self._handle()

    def do_GET(self) -> None:  # noqa: N802 - RPC APIs accept GET too ([SIG] HTTPMethod)
        self._handle()

    def _handle(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        query = urlsplit(self.path).query
        url_params = dict(parse_qsl(query, keep_blank_values=True))
        body_params: dict[str, str] = {}
        if body and self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded"):
            body_params = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        answer = fake._serve(self.command, url_params, body_params)
        pause = fake.latency + (answer.delay or 0.0)
        if pause > 0:
            time.sleep(pause)
        if answer.drop:
            self.drop_connection()
            return
        fmt = (url_params.get("Format") or body_params.get("Format") or "XML").upper()
        if fmt == "JSON":
            payload = json.dumps(answer.body).encode("utf-8")
            ctype = "application/json;charset=utf-8"
        else:
            payload = _to_xml(answer.root, answer.body).encode("utf-8")
            ctype = "text/xml;charset=utf-8"
        self.send_response(answer.status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-acs-request-id", str(answer.body.get("RequestId", "")))
        self.end_headers()
        self.wfile.write(payload)


def _to_xml(root: str, body: Mapping[str, Any]) -> str:
    # [SIG] common parameters: Format defaults to XML. Answers here are flat, so a flat rendering suffices.
    inner = "".join(f"<{k}>{xml_escape(str(v))}</{k}>" for k, v in body.items())
    return f'<?xml version="1.0" encoding="UTF-8"?><{root}>{inner}</{root}>'


# --------------------------------------------------------------------------------------------------------------
# The fake
# --------------------------------------------------------------------------------------------------------------


class FakeAliyun(FakeServer):
    """A fake VOD or ICE RPC endpoint. Use FakeVod / FakeIce, or FakeAliyun(product="vod"|"ice")."""

    handler = _Handler

    def __init__(
        self,
        access_keys: Mapping[str, AccessKeyEntry],
        *,
        product: str = "vod",
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
        credential_lifetime: int = 3000,
        oss_endpoint: str = DEFAULT_OSS_ENDPOINT,
        latency: float = 0.0,
        region: str = "cn-shanghai",
    ) -> None:
        if product not in PRODUCT_VERSIONS:
            raise ValueError(f"product must be one of {sorted(PRODUCT_VERSIONS)}, not {product!r}")
        super().__init__(host, port)
        self.product = product
        self.thread_name = f"fake-{product}"
        self.version = PRODUCT_VERSIONS[product]
        self.clock = clock
        self.credential_lifetime = int(credential_lifetime)
        self.oss_endpoint = oss_endpoint.rstrip("/")
        self.latency = float(latency)
        self.region = region
        self.host_id = f"{product}.{region}.aliyuncs.com"
        self._keys: dict[str, tuple[str, str | None, float | None]] = {}
        for key_id, entry in access_keys.items():
            self.add_access_key(key_id, entry)
        # One storage bucket per fake, as an account's default VOD storage location ([AUTH]: outin-<32 hex>).
        self.default_bucket = f"outin-{_hex(32)}"

        self._lock = threading.RLock()
        self._init_state()

    def _init_state(self) -> None:
        self.resources: dict[str, Resource] = {}
        self.issued_credentials: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.results: list[tuple[str, int, str | None]] = []  # (action, status, Code or None)
        self.connections = 0
        self._nonces: dict[str, float] = {}
        self._faults: list[Fault] = []

    @property
    def endpoint(self) -> str:
        """host:port, the form AcsRequest.set_endpoint / CommonRequest(domain=...) take."""
        return f"{self.host}:{self.port}"

    # ---- test helpers -----------------------------------------------------------------------------------------

    def add_access_key(self, key_id: str, entry: AccessKeyEntry) -> None:
        """secret, or (secret, security_token), or (secret, security_token, expires_at_epoch) for STS keys."""
        self._keys[key_id] = access_key(entry)

    def inject(
        self,
        action: str | None = None,
        *,
        status: int | None = None,
        code: str | None = None,
        count: int = 1,
        delay: float | None = None,
        drop: bool = False,
        message: str | None = None,
    ) -> None:
        """Queue a fault for the next `count` authenticated calls of `action` (any action if None).

        - code/status: answer with that error instead of serving the call. Give either; the other is filled
          in ("Throttling.User"->400, "InternalError"->500, "ServiceUnAvailable"->503 per [VODERR]/[THR]).
        - delay: seconds to wait before answering (with the error, or with the normal answer if no error).
        - drop: close the socket without any response (after `delay`, if given).
        Faults apply after authentication, as a real throttle or 5xx would, and are consumed in FIFO order.
        """
        if count < 1:
            raise ValueError("count must be >= 1")
        if code is not None and status is None:
            status = _STATUS_FOR_CODE.get(code, 400)
        if status is not None and code is None:
            code = _CODE_FOR_STATUS.get(status, "InternalError")
        with self._lock:
            self._faults.append(Fault(action, status, code, message, delay, drop, count))

    def pending_faults(self) -> int:
        with self._lock:
            return sum(f.remaining for f in self._faults)

    def call_count(self, action: str | None = None) -> int:
        with self._lock:
            return sum(1 for a, _ in self.calls if action is None or a == action)

    def last_call(self, action: str | None = None) -> dict[str, str]:
        """The params of the latest call (of `action`), e.g. to assert what the upstream received."""
        with self._lock:
            for a, params in reversed(self.calls):
                if action is None or a == action:
                    return dict(params)
        raise LookupError(f"no call of {action or 'any action'} was received")

    def reset(self) -> None:
        """Forget every resource, credential, call, nonce and queued fault (the keys and server stay)."""
        with self._lock:
            self._init_state()

    def mark_damaged(self, resource_id: str) -> None:
        with self._lock:
            self.resources[resource_id].damaged = True

    def mark_uploaded(self, resource_id: str) -> None:
        # [VODRUV]/55397: a medium starts "Uploading" and becomes "Uploaded" once its file is in storage.
        with self._lock:
            self.resources[resource_id].status = "Uploaded"

    def get(self, resource_id: str) -> Resource:
        with self._lock:
            return self.resources[resource_id]

    @property
    def videos(self) -> dict[str, Resource]:
        with self._lock:
            return {k: r for k, r in self.resources.items() if r.kind == "video"}

    @property
    def images(self) -> dict[str, Resource]:
        with self._lock:
            return {k: r for k, r in self.resources.items() if r.kind == "image"}

    @property
    def attached_media(self) -> dict[str, Resource]:
        with self._lock:
            return {k: r for k, r in self.resources.items() if r.kind == "attached"}

    @property
    def media(self) -> dict[str, Resource]:
        with self._lock:
            return {k: r for k, r in self.resources.items() if r.kind == "media"}

    def create_video(self, title: str = "seeded", file_name: str = "seeded.mp4", **params: str) -> dict[str, str]:
        """Seed a video directly (no HTTP, not recorded in calls); returns the CreateUploadVideo answer."""
        if self.product != "vod":
            raise RuntimeError("create_video is a VOD helper")
        with self._lock:
            return self._create_upload_video({"Title": title, "FileName": file_name, **params})

    def create_media(self, file_info: Mapping[str, Any] | None = None, **params: str) -> dict[str, str]:
        """Seed an ICE media asset directly (no HTTP, not recorded in calls); returns the CreateUploadMedia answer."""
        if self.product != "ice":
            raise RuntimeError("create_media is an ICE helper")
        info = dict(file_info or {"Type": "video", "Name": "seeded", "Ext": "mp4"})
        with self._lock:
            return self._create_upload_media({"FileInfo": json.dumps(info), **params})

    def credential_for(self, resource_id: str) -> dict[str, Any]:
        """The latest issued upload credential for a resource (what a fake OSS should accept)."""
        with self._lock:
            key_ids = self.resources[resource_id].access_key_ids
            return {"AccessKeyId": key_ids[-1], **self.issued_credentials[key_ids[-1]]}

    # ---- request processing -----------------------------------------------------------------------------------

    def _connected(self, connection: socket.socket) -> int:
        with self._lock:
            self.connections += 1  # since the last reset(), unlike connection_count
        return super()._connected(connection)

    def _error_body(self, request_id: str, code: str, message: str) -> dict[str, Any]:
        # [GW]: the shape every RPC product answers errors with.
        return {
            "RequestId": request_id,
            "HostId": self.host_id,
            "Code": code,
            "Message": message,
            "Recommend": f"https://api.aliyun.com/troubleshoot?q={code}&product={_RECOMMEND_PRODUCT[self.product]}",
        }

    def _serve(self, method: str, url_params: dict[str, str], body_params: dict[str, str]) -> _Answer:
        params = {**url_params, **body_params}  # [SIG]: body params are part of the signed set
        action = params.get("Action", "")
        request_id = _request_id()
        with self._lock:
            self.calls.append((action, dict(params)))
        try:
            self._authenticate(method, params)
            fault = self._take_fault(action)
            if fault is not None and (fault.drop or fault.code):
                if fault.drop:
                    self._record(action, 0, "drop")
                    return _Answer(0, {}, "Error", delay=fault.delay or 0.0, drop=True)
                code = fault.code or "InternalError"
                msg = fault.message or _MESSAGES.get(code, code)
                raise RpcError(fault.status or 500, code, msg, delay=fault.delay or 0.0)
            with self._lock:
                body = self._dispatch(action, params)
            body = {"RequestId": request_id, **body}
            self._record(action, 200, None)
            return _Answer(200, body, f"{action}Response", delay=(fault.delay or 0.0) if fault else 0.0)
        except RpcError as err:
            self._record(action, err.status, err.code)
            return _Answer(
                err.status,
                self._error_body(request_id, err.code, err.message),
                "Error",
                delay=err.delay,
            )

    def _record(self, action: str, status: int, code: str | None) -> None:
        with self._lock:
            self.results.append((action, status, code))

    def _take_fault(self, action: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.action is None or fault.action == action:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def _authenticate(self, method: str, params: dict[str, str]) -> None:
        """The gateway's checks, in the order a request meets them ([SIG], [GW])."""
        for name in ("Action", "Version", "AccessKeyId", "SignatureMethod", "SignatureVersion",
                     "SignatureNonce", "Timestamp", "Signature"):  # fmt: skip
            if not params.get(name):
                raise _missing(name)
        if params["Version"] != self.version:
            raise RpcError(400, "InvalidVersion", "Specified parameter Version is not valid.")
        if params["Action"] not in self._actions():
            msg = "Specified api is not found, please check your url and method."
            raise RpcError(404, "InvalidAction.NotFound", msg)
        fmt = params.get("Format")
        if fmt is not None and fmt.upper() not in ("JSON", "XML"):
            raise RpcError(400, "InvalidParameter.Format", "Specified parameter Format is not valid.")
        if params["SignatureMethod"] != "HMAC-SHA1":
            raise RpcError(400, "InvalidSignatureMethod", "Specified signature method is not valid.")
        if params["SignatureVersion"] != "1.0":
            raise _invalid("SignatureVersion")
        sent_at = _parse_timestamp(params["Timestamp"])
        if sent_at is None:
            raise RpcError(400, "InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted.")
        now = self.clock()
        if abs(now - sent_at) > TIMESTAMP_WINDOW_SECONDS:
            raise RpcError(400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired.")
        key = self._keys.get(params["AccessKeyId"])
        if key is None:
            raise RpcError(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        secret, token, token_expires_at = key
        sent_token = params.get("SecurityToken")
        if token is not None:
            if not sent_token:
                raise RpcError(400, "MissingSecurityToken", "SecurityToken is mandatory for this action.")
            if not hmac.compare_digest(sent_token, token):
                msg = "Specified SecurityToken mismatch with the AccessKey."
                raise RpcError(400, "InvalidSecurityToken.MismatchWithAccessKey", msg)
            if token_expires_at is not None and now >= token_expires_at:
                raise RpcError(400, "InvalidSecurityToken.Expired", "Specified SecurityToken is expired.")
        elif sent_token:
            # A long-term key with a token attached: the gateway treats it as an STS call it can't resolve.
            raise RpcError(400, "InvalidSecurityToken.Malformed", "Specified SecurityToken is malformed.")
        string_to_sign = canonical_string_to_sign(method, params)
        if not hmac.compare_digest(sign_rpc(string_to_sign, secret), params["Signature"]):
            # [GW] message; the SDK splits it at ':' and compares with its own StringToSign to tell a wrong
            # secret (it then reports InvalidAccessKeySecret) from a wrongly built request.
            raise RpcError(
                400,
                "SignatureDoesNotMatch",
                f"Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}",
            )
        nonce = params["SignatureNonce"]
        with self._lock:
            horizon = now - NONCE_WINDOW_SECONDS
            # Dicts keep insertion order, and times only grow on a real clock, so expired nonces are at the
            # front: drop them from there instead of scanning every nonce of the last 15 minutes per call.
            while self._nonces:
                oldest, seen = next(iter(self._nonces.items()))
                if seen >= horizon:
                    break
                del self._nonces[oldest]
            if nonce in self._nonces:
                raise RpcError(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
            self._nonces[nonce] = now

    # ---- actions ----------------------------------------------------------------------------------------------

    def _actions(self) -> dict[str, Callable[[dict[str, str]], dict[str, Any]]]:
        if self.product == "vod":
            return {
                "CreateUploadVideo": self._create_upload_video,
                "RefreshUploadVideo": self._refresh_upload_video,
                "CreateUploadImage": self._create_upload_image,
                "CreateUploadAttachedMedia": self._create_upload_attached_media,
            }
        return {
            "CreateUploadMedia": self._create_upload_media,
            "RefreshUploadMedia": self._refresh_upload_media,
        }

    def _dispatch(self, action: str, params: dict[str, str]) -> dict[str, Any]:
        return self._actions()[action](params)

    @staticmethod
    def _require(params: Mapping[str, str], name: str) -> str:
        value = params.get(name)
        if value is None or value == "":
            raise _missing(name)
        return value

    @staticmethod
    def _check_bytes(params: Mapping[str, str], name: str, limit: int) -> None:
        value = params.get(name)
        if value is not None and len(value.encode("utf-8")) > limit:
            raise _invalid(name, f"It must be at most {limit} bytes of UTF-8.")

    @staticmethod
    def _check_chars(params: Mapping[str, str], name: str, limit: int) -> None:
        value = params.get(name)
        if value is not None and len(value) > limit:
            raise _invalid(name, f"It must be at most {limit} characters.")

    @staticmethod
    def _check_tags(params: Mapping[str, str], name: str = "Tags") -> None:
        # [VODCUV]/[VODCAM]: at most 16 comma-separated tags, each at most 32 characters.
        value = params.get(name)
        if value is None:
            return
        tags = value.split(",")
        if len(tags) > 16 or any(len(t) > 32 for t in tags):
            raise _invalid(name, "At most 16 tags of at most 32 characters each.")

    @staticmethod
    def _check_json(params: Mapping[str, str], name: str) -> Any:
        value = params.get(name)
        if value is None:
            return None
        try:
            return json.loads(value)
        except ValueError:
            raise _invalid(name, "It must be a JSON string.") from None

    @staticmethod
    def _check_int(params: Mapping[str, str], name: str) -> None:
        value = params.get(name)
        if value is not None and not re.fullmatch(r"-?\d+", value):
            raise _invalid(name)

    def _object_url(self, bucket: str, key: str) -> str:
        parts = urlsplit(self.oss_endpoint)
        host = parts.hostname or ""
        try:
            ipaddress.ip_address(host)
            path_style = True
        except ValueError:
            path_style = host == "localhost"
        if path_style:  # a local fake OSS can't do virtual-hosted buckets
            return f"{self.oss_endpoint}/{bucket}/{key}"
        return f"{parts.scheme}://{bucket}.{parts.netloc}/{key}"

    def _bucket_for(self, params: Mapping[str, str]) -> str:
        # StorageLocation is "<bucket>.oss-<region>.aliyuncs.com" ([VODCUI] example); its first label is the bucket.
        location = params.get("StorageLocation")
        return location.split(".", 1)[0] if location else self.default_bucket

    def _issue(self, resource: Resource) -> tuple[str, str]:
        """Make an UploadAddress/UploadAuth pair for a resource and remember the credential ([AUTH])."""
        now = self.clock()
        key_id = "STS." + _alnum(25)
        secret = _alnum(44)
        token = "CAIS" + base64.b64encode(secrets.token_bytes(450)).decode("ascii")
        expires_at = now + self.credential_lifetime
        self.issued_credentials[key_id] = {
            "secret": secret,
            "token": token,
            "expires_at": expires_at,
            "bucket": resource.bucket,
            "file_name": resource.file_name,
            "resource_id": resource.resource_id,
            "endpoint": self.oss_endpoint,
            "issued_at": now,
        }
        resource.access_key_ids.append(key_id)
        address = _b64json({"Endpoint": self.oss_endpoint, "Bucket": resource.bucket, "FileName": resource.file_name})
        auth = _b64json(
            {
                "SecurityToken": token,
                "AccessKeyId": key_id,
                "ExpireUTCTime": _iso8601(expires_at),
                "AccessKeySecret": secret,
                "Expiration": str(self.credential_lifetime),
                "Region": self.region,
            }
        )
        return address, auth

    def _new_resource(self, kind: str, resource_id: str, file_name: str, params: dict[str, str]) -> Resource:
        resource = Resource(
            kind=kind,
            resource_id=resource_id,
            status="Uploading",  # 55397: the initial status of an uploaded-to-be medium
            bucket=self._bucket_for(params),
            file_name=file_name,
            params=dict(params),
            created_at=self.clock(),
        )
        self.resources[resource_id] = resource
        return resource

    @staticmethod
    def _sv_object(ext: str) -> str:
        # [AUTH] real layout: sv/<8hex>-<11hex>/<8hex>-<11hex>.<ext>
        stem = f"{_hex(8)}-{_hex(11)}"
        return f"sv/{stem}/{stem}.{ext}"

    # VOD ------------------------------------------------------------------------------------------------------

    def _create_upload_video(self, params: dict[str, str]) -> dict[str, Any]:
        title = self._require(params, "Title")
        file_name = self._require(params, "FileName")
        self._check_bytes({"Title": title}, "Title", 128)
        self._check_bytes(params, "Description", 1024)
        self._check_tags(params)
        ext = _ext_of(file_name)
        if ext not in VOD_MEDIA_EXTENSIONS:
            raise _invalid("FileName", "The file name must have an audio or video extension that VOD supports.")
        self._check_int(params, "FileSize")
        self._check_int(params, "CateId")
        self._check_json(params, "UserData")
        video_id = _hex(32)
        resource = self._new_resource("video", video_id, self._sv_object(ext), params)
        address, auth = self._issue(resource)
        return {"VideoId": video_id, "UploadAddress": address, "UploadAuth": auth}

    def _refresh_upload_video(self, params: dict[str, str]) -> dict[str, Any]:
        video_id = self._require(params, "VideoId")
        resource = self.resources.get(video_id)
        if resource is None or resource.kind != "video":
            raise RpcError(404, "InvalidVideo.NotFound", "The video not exist.")  # [VODRUV]
        if resource.damaged:
            raise RpcError(400, "InvalidVideo.Damaged", "The video has been Damaged.")  # [VODRUV]
        address, auth = self._issue(resource)  # same UploadAddress, new credential (55397)
        return {"VideoId": video_id, "UploadAddress": address, "UploadAuth": auth}

    def _create_upload_image(self, params: dict[str, str]) -> dict[str, Any]:
        image_type = self._require(params, "ImageType")
        if image_type not in VOD_IMAGE_TYPES:
            raise _invalid("ImageType", "Valid values: default, cover.")
        ext = (params.get("ImageExt") or "png").lower()
        if ext not in VOD_IMAGE_EXTENSIONS:
            raise _invalid("ImageExt", f"Valid values: {', '.join(sorted(VOD_IMAGE_EXTENSIONS))}.")
        # [VODCUI]: Title "长度不超过 128 个字符", Description 1,024 characters: CreateUploadImage counts characters.
        self._check_chars(params, "Title", 128)
        self._check_chars(params, "Description", 1024)
        self._check_tags(params)
        self._check_int(params, "CateId")
        self._check_json(params, "UserData")
        image_id = _hex(32)
        key = f"image/{image_type}/{_hex(32).upper()}-6-2.{ext}"
        resource = self._new_resource("image", image_id, key, params)
        address, auth = self._issue(resource)
        url = self._object_url(resource.bucket, key)
        return {
            "ImageId": image_id,
            "ImageURL": url,
            "FileURL": url,
            "UploadAddress": address,
            "UploadAuth": auth,
        }

    def _create_upload_attached_media(self, params: dict[str, str]) -> dict[str, Any]:
        business_type = self._require(params, "BusinessType")
        allowed = VOD_ATTACHED_EXTENSIONS.get(business_type)
        if allowed is None:
            raise _invalid("BusinessType", "Valid values: watermark, subtitle, material.")
        # [VODCAM]: MediaExt wins over FileName's extension when both are given.
        ext = (params.get("MediaExt") or _ext_of(params.get("FileName", ""))).lower()
        if not ext:
            raise _missing("MediaExt")
        if ext not in allowed:
            raise _invalid("MediaExt", f"Valid values for {business_type}: {', '.join(sorted(allowed))}.")
        self._check_bytes(params, "Title", 128)
        self._check_bytes(params, "Description", 1024)
        self._check_tags(params)
        self._check_int(params, "FileSize")
        self._check_json(params, "UserData")
        media_id = _hex(32)
        key = f"{business_type}/{datetime.fromtimestamp(self.clock(), tz=timezone.utc):%Y/%m/%d}/{_hex(32)}.{ext}"
        resource = self._new_resource("attached", media_id, key, params)
        address, auth = self._issue(resource)
        url = self._object_url(resource.bucket, key)
        return {"MediaId": media_id, "MediaURL": url, "FileURL": url, "UploadAddress": address, "UploadAuth": auth}

    # ICE ------------------------------------------------------------------------------------------------------

    def _create_upload_media(self, params: dict[str, str]) -> dict[str, Any]:
        raw = self._require(params, "FileInfo")
        try:
            info = json.loads(raw)
        except ValueError:
            raise _invalid("FileInfo", "It must be a JSON string.") from None
        if not isinstance(info, dict):
            raise _invalid("FileInfo", "It must be a JSON object.")
        for name in ("Type", "Name", "Ext"):  # [ICECUM] required fields
            if not info.get(name):
                raise _invalid("FileInfo", f"FileInfo.{name} is required.")
        if info["Type"] not in ICE_FILE_TYPES:
            raise _invalid("FileInfo", "FileInfo.Type must be one of video, image, audio, text, other.")
        meta = self._check_json(params, "MediaMetaData")
        if isinstance(meta, dict):
            if len(str(meta.get("Title", ""))) > 128:  # [ICECUM]: Title up to 128 characters
                raise _invalid("MediaMetaData", "MediaMetaData.Title must be at most 128 characters.")
            if len(str(meta.get("Description", ""))) > 1024:
                raise _invalid("MediaMetaData", "MediaMetaData.Description must be at most 1024 characters.")
        for name in ("PostProcessConfig", "UploadTargetConfig", "UserData"):
            self._check_json(params, name)
        ext = str(info["Ext"]).lstrip(".").lower()
        media_id = _hex(32)
        resource = self._new_resource("media", media_id, self._sv_object(ext), params)
        address, auth = self._issue(resource)
        url = self._object_url(resource.bucket, resource.file_name)
        return {"MediaId": media_id, "MediaURL": url, "FileURL": url, "UploadAddress": address, "UploadAuth": auth}

    def _refresh_upload_media(self, params: dict[str, str]) -> dict[str, Any]:
        media_id = self._require(params, "MediaId")
        resource = self.resources.get(media_id)
        if resource is None or resource.kind != "media":
            raise RpcError(404, "ResourceNotFound", "Resource not found")  # [ICEERR]
        address, auth = self._issue(resource)
        return {"MediaId": media_id, "UploadAddress": address, "UploadAuth": auth}


class FakeVod(FakeAliyun):
    """Fake ApsaraVideo VOD, API version 2017-03-21."""

    def __init__(self, access_keys: Mapping[str, AccessKeyEntry], **kwargs: Any) -> None:
        super().__init__(access_keys, product="vod", **kwargs)


class FakeIce(FakeAliyun):
    """Fake Intelligent Media Services (ICE), API version 2020-11-09."""

    def __init__(self, access_keys: Mapping[str, AccessKeyEntry], **kwargs: Any) -> None:
        super().__init__(access_keys, product="ice", **kwargs)
