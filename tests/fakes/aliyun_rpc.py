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
- [VODST] VOD "Basic data types": https://help.aliyun.com/document_detail/52839.htm. "Status: Audio and video
         status" lists Uploading (the initial status), UploadFail, UploadSucc, Transcoding, TranscodeFail, Checking,
         Blocked, Normal, ProduceFail; the legacy image / attached-media table lists Uploading, Normal (uploaded),
         UploadFail.
- [VODGVI] GetVideoInfo: https://alibabacloud.com/help/en/vod/developer-reference/api-vod-2017-03-21-getvideoinfo
         and https://www.alibabacloud.com/help/zh/doc-detail/52835.htm (VideoId required; answer
         {"RequestId","Video":{"VideoId","Title","Description","Status","CreationTime":"2017-11-14T09:15:50Z",
         "ModificationTime","Size":10897890,"CateId":0,"Tags","StorageLocation":"<bucket>.oss-cn-shanghai.aliyuncs.com",
         "RegionId","AppId","TemplateGroupId",...}}; an unknown VideoId is 404 InvalidVideo.NotFound
         "The video does not exist.").
- [ICEGMI] ICE GetMediaInfo: https://www.alibabacloud.com/help/en/ims/developer-reference/api-ice-2020-11-09-getmediainfo
         (MediaId wins; without it InputURL must be given, as an http(s)://<bucket>.oss-...aliyuncs.com/<key> or
         oss://<bucket>/<key> address; answer {"RequestId","MediaInfo":{"MediaId","MediaBasicInfo":{...},
         "FileInfoList":[{"FileBasicInfo":{"FileName","FileStatus","FileType":"source_file","FileSize","FileUrl",
         "Region","CreateTime"}}]}}; FileSize is a string in that schema) and the data types of the media asset
         library, https://www.alibabacloud.com/help/en/ims/developer-reference/data-type-3.
- [ICEST] ICE media asset status, MediaBasicInfo.Status in ListMediaBasicInfos:
         https://help.aliyun.com/document_detail/197964.html: Init (source file not ready), Preparing (e.g.
         uploading), PrepareFail, Normal (source file ready).
- [CB]   VOD HTTP callbacks: https://alibabacloud.com/help/en/vod/user-guide/http-callbacks and
         https://www.alibabacloud.com/help/doc-detail/67214.htm: a POST of the JSON event to the callback URL;
         success only on HTTP 200 (any other status, or a timeout, is a failure); a failed callback is retried
         twice, three attempts in all, then dropped. Authentication (optional, when an auth key is set): headers
         X-VOD-TIMESTAMP (UNIX seconds) and X-VOD-SIGNATURE = md5 hex of "<callback URL>|<timestamp>|<auth key>";
         the doc's example md5("https://www.example.com/your/callback|1519375990|test123") =
         "c72b60894140fa98920f1279219b7ed4". The FAQ's curl sends Content-Type: application/json.
- [CBURL] Per-upload callback URL in UserData {"MessageCallback":{"CallbackURL":..,"CallbackType":"http"}}:
         https://help.aliyun.com/document_detail/473081.html (the URL is bound to the media file and overrides the
         global one, but only takes effect while the global callback is configured as HTTP).
- [EVT]  Upload events: FileUploadComplete https://www.alibabacloud.com/help/doc-detail/55630.htm
         ({"Status":"success","EventTime":"2017-03-20T07:49:17Z","EventType":"FileUploadComplete","VideoId",
         "Size","FileUrl"}, plus "Extend", the JSON string of UserData.Extend); ImageUploadComplete
         https://help.aliyun.com/document_detail/91968.htm (EventTime yyyy-MM-ddTHH:mm:ss:SSSZ, sample
         "2024-04-10T01:37:14:627Z"; {"Status","FileURL","AppId","EventType","EventTime","Size","ImageId"});
         AttachedMediaUploadComplete https://www.alibabacloud.com/help/doc-detail/103250.html
         ({"EventTime","EventType","AttachedMediaId","Size","FileURL","Status"}).
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
import http.client
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
    "CallbackAttempt",
    "ICE_MEDIA_STATUSES",
    "VOD_IMAGE_STATUSES",
    "VOD_MEDIA_EXTENSIONS",
    "VOD_VIDEO_STATUSES",
    "callback_signature",
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

# [VODST] / [ICEST]: the statuses each kind of resource can have, where it starts, and where its upload takes it
# (the fake does not transcode, so a video stays UploadSucc until a test moves it on with set_status).
VOD_VIDEO_STATUSES = frozenset(
    {"Uploading", "UploadFail", "UploadSucc", "Transcoding", "TranscodeFail", "Checking", "Blocked", "Normal",
     "ProduceFail"}
)  # fmt: skip
VOD_IMAGE_STATUSES = frozenset({"Uploading", "Normal", "UploadFail"})
ICE_MEDIA_STATUSES = frozenset({"Init", "Preparing", "PrepareFail", "Normal"})
_STATUSES = {"video": VOD_VIDEO_STATUSES, "image": VOD_IMAGE_STATUSES, "attached": VOD_IMAGE_STATUSES,
             "media": ICE_MEDIA_STATUSES}  # fmt: skip
_INITIAL_STATUS = {"video": "Uploading", "image": "Uploading", "attached": "Uploading", "media": "Init"}
_UPLOADED_STATUS = {"video": "UploadSucc", "image": "Normal", "attached": "Normal", "media": "Normal"}

# [CB]: three attempts in all, the retries 1 s apart; an attempt that gets no answer within 5 s has failed.
CALLBACK_ATTEMPTS = 3
CALLBACK_RETRY_INTERVAL = 1.0
CALLBACK_TIMEOUT = 5.0

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


def _iso8601_colon_ms(epoch: float) -> str:
    # [EVT] ImageUploadComplete's EventTime: yyyy-MM-ddTHH:mm:ss:SSSZ (a colon before the milliseconds).
    moment = datetime.fromtimestamp(epoch, tz=timezone.utc)
    return f"{moment:%Y-%m-%dT%H:%M:%S}:{moment.microsecond // 1000:03d}Z"


def callback_signature(callback_url: str, timestamp: str, auth_key: str) -> str:
    """[CB] X-VOD-SIGNATURE: lowercase hex md5 of "<callback URL>|<X-VOD-TIMESTAMP>|<auth key>"."""
    return hashlib.md5(f"{callback_url}|{timestamp}|{auth_key}".encode()).hexdigest()  # noqa: S324 - VOD's choice


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
    modified_at: float = 0.0
    size: int | None = None  # bytes, once the file has landed
    uploaded_at: float | None = None  # when the file landed in OSS (mark_uploaded)
    event: dict[str, Any] | None = None  # the upload-complete event VOD sends for it ([EVT])


@dataclass(frozen=True)
class CallbackAttempt:
    """One HTTP callback attempt the fake VOD made ([CB]), in order, in ``FakeVod.callback_attempts``."""

    resource_id: str
    url: str
    event: dict[str, Any]
    headers: dict[str, str]  # as sent (Content-Type, and X-VOD-TIMESTAMP / X-VOD-SIGNATURE when signed)
    attempt: int  # 1, 2, 3
    status: int | None  # the receiver's HTTP status, None when there was no answer
    error: str | None  # why there was no answer (timeout, refused, ...)
    at: float  # the fake's clock when it was sent

    @property
    def delivered(self) -> bool:
        return self.status == 200  # [CB]: only 200 counts


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


def _xml_element(name: str, value: Any) -> str:
    if isinstance(value, Mapping):  # a nested object is a nested element
        return f"<{name}>" + "".join(_xml_element(k, v) for k, v in value.items()) + f"</{name}>"
    if isinstance(value, (list, tuple)):  # an array repeats its element, once per item (none when empty)
        return "".join(_xml_element(name, item) for item in value)
    if value is None:
        return ""
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"<{name}>{xml_escape(str(value))}</{name}>"


def _to_xml(root: str, body: Mapping[str, Any]) -> str:
    # [SIG] common parameters: Format defaults to XML; the JSON answer's keys become elements, nested as they nest.
    return f'<?xml version="1.0" encoding="UTF-8"?>{_xml_element(root, body)}'


def _post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> tuple[int | None, str | None]:
    """POST a callback; (status, None) when the receiver answered, (None, why) when it did not ([CB])."""
    parts = urlsplit(url)
    connection_class = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection = connection_class(parts.hostname or "", parts.port, timeout=timeout)
    try:
        connection.request("POST", target, body=body, headers=dict(headers))
        response = connection.getresponse()
        response.read()
        return response.status, None
    except (OSError, http.client.HTTPException) as error:  # timeouts, refused connections, bad answers
        return None, f"{type(error).__name__}: {error}"
    finally:
        connection.close()


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

        # [CB] console settings (VOD only; see FakeVod): the global HTTP callback URL and the auth key, or None.
        self.callback_url: str | None = None
        self.callback_auth_key: str | None = None
        # [CB] delivery timing; tests may shorten them, the defaults are the documented ones.
        self.callback_timeout = CALLBACK_TIMEOUT
        self.callback_retry_interval = CALLBACK_RETRY_INTERVAL

        self._lock = threading.RLock()
        self._callback_changed = threading.Condition()
        self._callback_cancel = threading.Event()
        self._init_state()

    def _init_state(self) -> None:
        self.resources: dict[str, Resource] = {}
        self.issued_credentials: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.results: list[tuple[str, int, str | None]] = []  # (action, status, Code or None)
        self.connections = 0
        self._nonces: dict[str, float] = {}
        self._faults: list[Fault] = []
        # Deliveries still running belong to the state being forgotten: cancel them, start a fresh record.
        self._callback_cancel.set()
        with self._callback_changed:
            self._callback_cancel = threading.Event()
            self.callback_attempts: list[CallbackAttempt] = []
            self._callbacks_in_flight = 0
            self._callback_changed.notify_all()

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

    def mark_uploaded(self, resource_id: str, size: int | None = None) -> None:
        """The resource's file has landed in OSS (FakeOss calls this on PutObject / CompleteMultipartUpload).

        Its status moves on ([VODST]: a video to UploadSucc, an image or attached medium to Normal; [ICEST]: a
        media asset to Normal), its size is recorded, and a VOD resource's upload-complete event ([EVT]) is
        POSTed to its callback URL, if it has one, from a background thread ([CB]).
        """
        with self._lock:
            resource = self.resources[resource_id]
            now = self.clock()
            resource.status = _UPLOADED_STATUS[resource.kind]
            resource.modified_at = now
            resource.uploaded_at = now
            if size is not None:
                resource.size = int(size)
            resource.event = self._upload_event(resource) if self.product == "vod" else None
            url = self._callback_url_for(resource)
            event = resource.event
        if event is not None and url is not None:
            self._start_delivery(resource_id, url, event)

    def set_status(self, resource_id: str, status: str) -> None:
        """Put a resource in any status its kind documents ([VODST], [ICEST]); an undocumented one is refused."""
        with self._lock:
            resource = self.resources[resource_id]
            allowed = _STATUSES[resource.kind]
            if status not in allowed:
                raise ValueError(f"{status!r} is not a documented {resource.kind} status: {sorted(allowed)}")
            resource.status = status
            resource.modified_at = self.clock()

    def callback_url_for(self, resource_id: str) -> str | None:
        """Where this resource's events go: its UserData MessageCallback URL, else the console URL ([CBURL])."""
        with self._lock:
            return self._callback_url_for(self.resources[resource_id])

    def send_callback(self, resource_id: str) -> dict[str, Any]:
        """(Re)send a resource's upload-complete event, the same body again (a replay), in the background.

        Returns the event. Refused for a resource whose file has not landed, or one with no callback URL.
        """
        with self._lock:
            resource = self.resources[resource_id]
            if resource.event is None:
                raise RuntimeError(f"{resource_id} has no upload-complete event: its file has not landed in OSS")
            url = self._callback_url_for(resource)
            event = dict(resource.event)
        if url is None:
            raise RuntimeError("no callback URL: set callback_url (or the upload's UserData MessageCallback)")
        self._start_delivery(resource_id, url, event)
        return event

    def wait_for_callbacks(self, count: int, timeout: float = 10.0) -> list[CallbackAttempt]:
        """Wait until at least `count` callback attempts were made; returns them all. TimeoutError if not."""
        deadline = time.monotonic() + timeout
        with self._callback_changed:
            while len(self.callback_attempts) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"{len(self.callback_attempts)} callback attempt(s) after {timeout} s, expected {count}"
                    )
                self._callback_changed.wait(remaining)
            return list(self.callback_attempts)

    def drain_callbacks(self, timeout: float = 10.0) -> list[CallbackAttempt]:
        """Wait until no delivery is running (retries included); returns every attempt. TimeoutError if not."""
        deadline = time.monotonic() + timeout
        with self._callback_changed:
            while self._callbacks_in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{self._callbacks_in_flight} callback delivery(ies) still running")
                self._callback_changed.wait(remaining)
            return list(self.callback_attempts)

    def stop(self) -> None:
        """Stop serving; deliveries still waiting to retry give up (what was recorded stays)."""
        super().stop()
        with self._callback_changed:
            self._callback_cancel.set()
            self._callback_cancel = threading.Event()  # for deliveries after a later start()
            self._callbacks_in_flight = 0  # the cancelled ones no longer count
            self._callback_changed.notify_all()

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

    def create_image(self, image_type: str = "default", **params: str) -> dict[str, str]:
        """Seed a VOD image directly (no HTTP, not recorded in calls); returns the CreateUploadImage answer."""
        if self.product != "vod":
            raise RuntimeError("create_image is a VOD helper")
        with self._lock:
            return self._create_upload_image({"ImageType": image_type, **params})

    def create_attached_media(
        self, business_type: str = "subtitle", media_ext: str = "vtt", **params: str
    ) -> dict[str, str]:
        """Seed a VOD attached medium directly (no HTTP, not recorded); returns the CreateUploadAttachedMedia answer."""
        if self.product != "vod":
            raise RuntimeError("create_attached_media is a VOD helper")
        with self._lock:
            return self._create_upload_attached_media({"BusinessType": business_type, "MediaExt": media_ext, **params})

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

    # ---- callbacks ([CB]) -------------------------------------------------------------------------------------

    def _callback_url_for(self, resource: Resource) -> str | None:
        if self.product != "vod" or not self.callback_url:
            return None  # [CBURL]: no global HTTP callback, so a UserData URL does not take effect either
        try:
            user_data = json.loads(resource.params.get("UserData") or "null")
        except ValueError:
            user_data = None
        message_callback = user_data.get("MessageCallback") if isinstance(user_data, dict) else None
        if isinstance(message_callback, dict):
            url = message_callback.get("CallbackURL")
            callback_type = str(message_callback.get("CallbackType") or "http").lower()
            if callback_type == "http" and isinstance(url, str) and url:
                return url
        return self.callback_url

    def _upload_event(self, resource: Resource) -> dict[str, Any] | None:
        """[EVT] the event VOD sends when this resource's file has landed, keys in the docs' sample order."""
        url = self._object_url(resource.bucket, resource.file_name)
        at = resource.uploaded_at if resource.uploaded_at is not None else self.clock()
        if resource.kind == "video":
            event: dict[str, Any] = {"Status": "success", "EventTime": _iso8601(at), "EventType": "FileUploadComplete",
                                     "VideoId": resource.resource_id}  # fmt: skip
            if resource.size is not None:
                event["Size"] = resource.size
            event["FileUrl"] = url
            try:
                user_data = json.loads(resource.params.get("UserData") or "null")
            except ValueError:
                user_data = None
            if isinstance(user_data, dict) and "Extend" in user_data:
                extend = user_data["Extend"]
                event["Extend"] = extend if isinstance(extend, str) else json.dumps(extend, separators=(",", ":"))
            return event
        if resource.kind == "image":
            event = {"Status": "success", "FileURL": url}
            if resource.params.get("AppId"):
                event["AppId"] = resource.params["AppId"]
            event |= {"EventType": "ImageUploadComplete", "EventTime": _iso8601_colon_ms(at)}
            if resource.size is not None:
                event["Size"] = resource.size
            event["ImageId"] = resource.resource_id
            return event
        if resource.kind == "attached":
            event = {"EventTime": _iso8601(at), "EventType": "AttachedMediaUploadComplete",
                     "AttachedMediaId": resource.resource_id}  # fmt: skip
            if resource.size is not None:
                event["Size"] = resource.size
            return event | {"FileURL": url, "Status": "success"}
        return None

    def _start_delivery(self, resource_id: str, url: str, event: dict[str, Any]) -> None:
        # [CB]: asynchronous, so the OSS request that completed the upload is never held up by the receiver.
        with self._callback_changed:
            cancel = self._callback_cancel
            self._callbacks_in_flight += 1
        thread = threading.Thread(
            target=self._deliver, args=(resource_id, url, event, cancel), name=f"fake-{self.product}-callback",
            daemon=True,
        )  # fmt: skip
        thread.start()

    def _deliver(self, resource_id: str, url: str, event: dict[str, Any], cancel: threading.Event) -> None:
        body = json.dumps(event, separators=(",", ":")).encode("utf-8")
        try:
            for attempt in range(1, CALLBACK_ATTEMPTS + 1):
                if attempt > 1 and cancel.wait(self.callback_retry_interval):
                    return
                if cancel.is_set():
                    return
                now = self.clock()
                headers = {"Content-Type": "application/json"}  # [CB] the FAQ's curl
                if self.callback_auth_key:
                    timestamp = str(int(now))  # UNIX seconds, 10 digits
                    headers["X-VOD-TIMESTAMP"] = timestamp
                    headers["X-VOD-SIGNATURE"] = callback_signature(url, timestamp, self.callback_auth_key)
                status, error = _post(url, body, headers, self.callback_timeout)
                record = CallbackAttempt(resource_id, url, dict(event), headers, attempt, status, error, now)
                with self._callback_changed:
                    if cancel.is_set():
                        return  # reset() since: this attempt belongs to forgotten state
                    self.callback_attempts.append(record)
                    self._callback_changed.notify_all()
                if status == 200:
                    return
        finally:
            with self._callback_changed:
                if not cancel.is_set():
                    self._callbacks_in_flight -= 1
                self._callback_changed.notify_all()

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
                "GetVideoInfo": self._get_video_info,
            }
        return {
            "CreateUploadMedia": self._create_upload_media,
            "RefreshUploadMedia": self._refresh_upload_media,
            "GetMediaInfo": self._get_media_info,
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
        now = self.clock()
        resource = Resource(
            kind=kind,
            resource_id=resource_id,
            status=_INITIAL_STATUS[kind],  # [VODST] Uploading / [ICEST] Init: the file is not there yet
            bucket=self._bucket_for(params),
            file_name=file_name,
            params=dict(params),
            created_at=now,
            modified_at=now,
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

    def _storage_location(self, bucket: str) -> str:
        # [VODGVI] StorageLocation "<bucket>.oss-<region>.aliyuncs.com", the form CreateUpload* take back.
        return f"{bucket}.oss-{self.region}.aliyuncs.com"

    def _get_video_info(self, params: dict[str, str]) -> dict[str, Any]:
        video_id = self._require(params, "VideoId")
        resource = self.resources.get(video_id)
        if resource is None or resource.kind != "video":
            raise RpcError(404, "InvalidVideo.NotFound", "The video does not exist.")  # [VODGVI]
        p = resource.params
        video: dict[str, Any] = {"VideoId": video_id, "Title": p.get("Title", "")}
        if p.get("Description"):
            video["Description"] = p["Description"]
        video |= {
            "Status": resource.status,
            "CreationTime": _iso8601(resource.created_at),
            "ModificationTime": _iso8601(resource.modified_at),
        }
        if resource.size is not None:
            video["Size"] = resource.size
        if p.get("CateId"):
            video["CateId"] = int(p["CateId"])  # a Long in [VODST]
        if p.get("Tags"):
            video["Tags"] = p["Tags"]
        if p.get("TemplateGroupId"):
            video["TemplateGroupId"] = p["TemplateGroupId"]
        video |= {"StorageLocation": self._storage_location(resource.bucket), "RegionId": self.region}
        if p.get("AppId"):
            video["AppId"] = p["AppId"]
        return {"Video": video}

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

    def _media_by_input_url(self, input_url: str) -> Resource | None:
        # [ICEGMI] InputURL: http(s)://<bucket>.oss-<region>.aliyuncs.com/<key>, oss://<bucket>/<key>, or the
        # object URL this fake handed out (path-style when its OSS endpoint is local).
        for resource in self.resources.values():
            if resource.kind != "media":
                continue
            bucket, key = resource.bucket, resource.file_name
            host = f"{bucket}.oss-{self.region}.aliyuncs.com"
            if input_url in (f"oss://{bucket}/{key}", f"https://{host}/{key}", f"http://{host}/{key}",
                             self._object_url(bucket, key)):  # fmt: skip
                return resource
        return None

    def _get_media_info(self, params: dict[str, str]) -> dict[str, Any]:
        media_id, input_url = params.get("MediaId"), params.get("InputURL")
        if media_id:  # [ICEGMI]: MediaId wins
            resource = self.resources.get(media_id)
        elif input_url:
            resource = self._media_by_input_url(input_url)
        else:
            raise _invalid("MediaId", "Either MediaId or InputURL must be given.")
        if resource is None or resource.kind != "media":
            raise RpcError(404, "ResourceNotFound", "Resource not found")  # [ICEERR]
        try:
            info = json.loads(resource.params.get("FileInfo") or "{}")
            meta = json.loads(resource.params.get("MediaMetaData") or "{}")
        except ValueError:
            info, meta = {}, {}
        info = info if isinstance(info, dict) else {}
        meta = meta if isinstance(meta, dict) else {}
        url = self._object_url(resource.bucket, resource.file_name)
        basic: dict[str, Any] = {"MediaId": resource.resource_id, "InputURL": url, "MediaType": info.get("Type", "")}
        if meta.get("BusinessType"):
            basic["BusinessType"] = meta["BusinessType"]
        basic["Title"] = str(meta.get("Title") or info.get("Name") or "")
        for name in ("Description", "CateId", "Tags", "CoverURL"):
            if meta.get(name) not in (None, ""):
                basic[name] = meta[name]
        if resource.params.get("UserData"):
            basic["UserData"] = resource.params["UserData"]
        basic |= {
            "Status": resource.status,
            "CreateTime": _iso8601(resource.created_at),
            "ModifiedTime": _iso8601(resource.modified_at),
        }
        files: list[dict[str, Any]] = []
        if resource.uploaded_at is not None:  # the source file exists once it has landed
            file_info: dict[str, Any] = {
                "FileName": resource.file_name.rsplit("/", 1)[-1],
                "FileStatus": "Normal",
                "FileType": "source_file",
            }
            if resource.size is not None:
                file_info["FileSize"] = str(resource.size)  # a string in [ICEGMI]'s schema
            file_info |= {"FileUrl": url, "Region": self.region, "CreateTime": _iso8601(resource.uploaded_at)}
            files.append({"FileBasicInfo": file_info})
        return {"MediaInfo": {"MediaId": resource.resource_id, "MediaBasicInfo": basic, "FileInfoList": files}}

    def _refresh_upload_media(self, params: dict[str, str]) -> dict[str, Any]:
        media_id = self._require(params, "MediaId")
        resource = self.resources.get(media_id)
        if resource is None or resource.kind != "media":
            raise RpcError(404, "ResourceNotFound", "Resource not found")  # [ICEERR]
        address, auth = self._issue(resource)
        return {"MediaId": media_id, "UploadAddress": address, "UploadAuth": auth}


class FakeVod(FakeAliyun):
    """Fake ApsaraVideo VOD, API version 2017-03-21.

    ``callback_url`` / ``callback_auth_key`` are the console's event-notification settings ([CB], as
    SetMessageCallback sets them): with a URL, each upload-complete event is POSTed there (or to the upload's own
    UserData MessageCallback URL, [CBURL]); with a key, signed. Both are plain attributes a test may change.
    """

    def __init__(
        self,
        access_keys: Mapping[str, AccessKeyEntry],
        *,
        callback_url: str | None = None,
        callback_auth_key: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(access_keys, product="vod", **kwargs)
        self.callback_url = callback_url
        self.callback_auth_key = callback_auth_key


class FakeIce(FakeAliyun):
    """Fake Intelligent Media Services (ICE), API version 2020-11-09."""

    def __init__(self, access_keys: Mapping[str, AccessKeyEntry], **kwargs: Any) -> None:
        super().__init__(access_keys, product="ice", **kwargs)
