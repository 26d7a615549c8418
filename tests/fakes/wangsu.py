"""A fake Wangsu Cloud VoD that speaks the real wire protocol: HTTP/1.1 keep-alive, V3 signatures, the envelope.

It checks each request the way the service documents it: the ``X-WS-AccessKey``/``X-WS-Timestamp``/
``Authorization``/``Content-Type``/``Host`` headers (Common Parameters, documents.cdnetworks.com/document/15923/20356),
a timestamp within 5 minutes and a WS3-HMAC-SHA256 signature recomputed from the raw request (Authentication V3,
.../15923/20357; Signature Calculation, .../15923/26914). The signature check is written here independently of
``upload_broker.upstream_wangsu`` on purpose: a fake that imported the client's signer would agree with any bug in it.

What the documentation we could reach does not say, and this fake therefore assumes:

- The "Common Responses" page (codes for a refused signature, an unknown key, a stale timestamp) was not
  reachable; every authentication failure here is HTTP 401 with ``{"code": 401, "message": ...}``.
- getUploadToken's business errors (1500, 1604-1610) come back as HTTP 200 with that envelope code, as the
  doc's envelope (``code`` inside a 200 body) suggests.
- The fileSize limit behind 1610 is undocumented; ``max_file_size`` sets it.
- ``overwrite``: the API Center types it "Integer ... Value range: 0(no) 1(Yes)"
  (documents.cdnetworks.com/document/api-doc/26505), so in a JSON body only the numbers 0 and 1 are accepted and
  anything else, the strings "0"/"1" included, is 1608 "Parameter overwrite is neither 0 nor 1". A form-encoded
  body (the older page's curl example, .../15923/20363) has only strings, so there "0" and "1" are the values.

The issued ``uploadToken`` follows Wangsu object storage's upload credential: ``<AccessKey>:<encodedSign>:
<encodedPutPolicy>`` with URL-safe Base64 and a putPolicy whose ``deadline`` is a millisecond Unix time as a
string (documents.cdnetworks.com/document/object-storage/api-v2-uploadcredential).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.fakes.base import FakeHandler, FakeServer

GET_UPLOAD_TOKEN_PATH = "/vod/videoManage/getUploadToken"
MAX_SKEW_SECONDS = 300
_AUTHORIZATION = re.compile(
    r"^WS3-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+)\s*,\s*SignedHeaders=(?P<signed>[^,\s]+)\s*,"
    r"\s*Signature=(?P<signature>[0-9a-fA-F]+)\s*$"
)
_MANDATORY_SIGNED = {"content-type", "host"}


@dataclass
class RecordedCall:
    """One request as the fake saw it, and how it answered."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int | None = None
    response: dict[str, Any] | None = None
    connection_id: int = 0

    @property
    def params(self) -> dict[str, Any]:
        """The request's parameters, decoded as the content type says (empty if they would not decode)."""
        return _decode_params(self.headers.get("content-type", ""), self.body, urlsplit(self.path).query) or {}


@dataclass
class _Fault:
    status: int | None
    code: int | None
    remaining: int
    delay: float | None
    drop: bool
    retry_after: int | None
    body: bytes | None


@dataclass
class Upload:
    """An issued upload: what a ``fileId`` resume returns again."""

    access_key: str
    file_id: str | None
    video_id: str
    file_key: str
    origin_file_name: str
    issued_at: float
    tokens: list[str] = field(default_factory=list)


_INVALID = object()


def _overwrite(value: Any, *, form: bool) -> Any:
    """overwrite as the fake understands it: None (absent), 0 or 1, or _INVALID (answered with 1608)."""
    if value is None:
        return None
    if form:  # a form or query string carries only text
        return int(value) if value in ("0", "1") else _INVALID
    if type(value) is int and value in (0, 1):  # Integer: not "1", not true, not 1.0
        return value
    return _INVALID


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii")


def _decode_params(content_type: str, body: bytes, query: str) -> dict[str, Any] | None:
    """Parameters from a JSON or form body (POST) or the query string (GET); None when they do not decode."""
    media = content_type.split(";", 1)[0].strip().lower()
    if not body:
        return dict(parse_qsl(query, keep_blank_values=True))
    try:
        if media == "application/json":
            parsed = json.loads(body.decode("utf-8"))
            return parsed if isinstance(parsed, dict) else None
        if media == "application/x-www-form-urlencoded":
            return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
    except (UnicodeDecodeError, ValueError):
        return None
    return None


class _Handler(FakeHandler["FakeWangsu"]):
    server_version = "FakeWangsu/1.0"
    timeout = 30  # an idle keep-alive connection is closed after this

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def _serve(self) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        call = RecordedCall(self.command, self.path, headers, body, connection_id=self.connection_id)
        fake._record(call)

        fault = fake._next_fault()
        if fake.latency:
            time.sleep(fake.latency)
        if fault is not None and fault.delay:
            time.sleep(fault.delay)

        if fault is not None and (fault.status is not None or fault.code is not None or fault.body is not None):
            status = fault.status if fault.status is not None else 200
            envelope = {"code": fault.code if fault.code is not None else status, "message": "Injected fault"}
        else:
            status, envelope = fake.handle(self.command, self.path, headers, body)
        call.status, call.response = status, envelope

        if fault is not None and fault.drop:
            # The work is done (a token may be issued) but the answer never arrives.
            self.drop_connection()
            return

        payload = fault.body if fault is not None and fault.body is not None else json.dumps(envelope).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("X-WS-RequestId", uuid.uuid4().hex)
            if fault is not None and fault.retry_after is not None:
                self.send_header("Retry-After", str(fault.retry_after))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            # The client gave up (read timeout) before the slow answer was ready.
            self.close_connection = True


class FakeWangsu(FakeServer):
    """A local Wangsu Cloud VoD: ``getUploadToken`` behind V3 signature checks, with state and fault injection.

    ``access_keys`` maps AccessKey -> SecretKey. ``clock`` is the server's Unix time (the skew check and the
    token deadlines use it). ``latency`` delays every answer; :meth:`inject` queues faults. Thread-safe.
    """

    max_file_size = 50 * 1024**3
    bucket_name = "fake-cloudv"
    handler = _Handler
    thread_name = "fake-wangsu"

    def __init__(
        self,
        access_keys: dict[str, str],
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
        token_lifetime: int = 3600,
        latency: float = 0.0,
    ) -> None:
        super().__init__(host, port)
        self.access_keys = dict(access_keys)
        self.clock = clock
        self.token_lifetime = token_lifetime
        self.latency = latency
        self.calls: list[RecordedCall] = []
        self.uploads: dict[tuple[str, str], Upload] = {}
        self.videos: dict[str, Upload] = {}
        self._faults: list[_Fault] = []
        self._lock = threading.RLock()

    # -- inspection and control ------------------------------------------------------------------

    def call_count(self, path: str | None = GET_UPLOAD_TOKEN_PATH) -> int:
        """How many requests reached the fake (for ``path``, or any path when ``path`` is None)."""
        with self._lock:
            return sum(1 for c in self.calls if path is None or urlsplit(c.path).path == path)

    def inject(
        self,
        *,
        status: int | None = None,
        code: int | None = None,
        count: int = 1,
        delay: float | None = None,
        drop: bool = False,
        retry_after: int | None = None,
        body: bytes | None = None,
    ) -> None:
        """Make the next ``count`` requests misbehave.

        ``delay`` sleeps before answering (then answers normally unless another fault is set, so a slow call
        still issues a token, as a real slow upstream would); ``drop`` closes the connection without an answer
        (after doing the work); ``status``/``code`` answer with that HTTP status and envelope code instead of
        the real answer; ``body`` sends those raw bytes; ``retry_after`` adds the header.
        """
        with self._lock:
            self._faults.append(_Fault(status, code, count, delay, drop, retry_after, body))

    def reset(self) -> None:
        """Forget calls, faults and issued uploads."""
        with self._lock:
            self.calls.clear()
            self._faults.clear()
            self.uploads.clear()
            self.videos.clear()

    def _next_fault(self) -> _Fault | None:
        with self._lock:
            if not self._faults:
                return None
            fault = self._faults[0]
            fault.remaining -= 1
            if fault.remaining <= 0:
                self._faults.pop(0)
            return fault

    def _record(self, call: RecordedCall) -> None:
        with self._lock:
            self.calls.append(call)

    # -- the service -----------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        """Answer one request: ``(HTTP status, envelope)``. Headers are keyed in lowercase."""
        parts = urlsplit(target)
        if parts.path != GET_UPLOAD_TOKEN_PATH:
            return 404, {"code": 404, "message": "Not Found"}
        if method not in ("POST", "GET"):
            return 405, {"code": 405, "message": "Method Not Allowed"}
        refused = self._authenticate(method, parts.path, parts.query, headers, body)
        if refused is not None:
            return 401, {"code": 401, "message": refused}
        content_type = headers.get("content-type", "")
        params = _decode_params(content_type, body if method == "POST" else b"", parts.query)
        if params is None:
            return 400, {"code": 400, "message": "The request body could not be parsed."}
        form = method == "GET" or not body or content_type.split(";", 1)[0].strip().lower() != "application/json"
        return 200, self._get_upload_token(headers["x-ws-accesskey"], params, content_type_is_form=form)

    def _authenticate(self, method: str, path: str, query: str, headers: dict[str, str], body: bytes) -> str | None:
        """None when the V3 signature holds; else why not (the message the fake answers with)."""
        for name in ("x-ws-accesskey", "x-ws-timestamp", "authorization", "content-type", "host"):
            if not headers.get(name, "").strip():
                return f"Missing header: {name}"
        access_key = headers["x-ws-accesskey"].strip()
        try:
            timestamp = int(headers["x-ws-timestamp"].strip())
        except ValueError:
            return "X-WS-Timestamp must be a Unix time in seconds."
        if abs(self.clock() - timestamp) > MAX_SKEW_SECONDS:
            return "The request time differs from the server time by more than 5 minutes."
        match = _AUTHORIZATION.match(headers["authorization"].strip())
        if match is None:
            return "The Authorization header is malformed."
        if match["credential"] != access_key:
            return "Credential does not match X-WS-AccessKey."
        secret_key = self.access_keys.get(access_key)
        if secret_key is None:
            return "The AccessKey does not exist."
        signed = match["signed"].lower().split(";")
        if not _MANDATORY_SIGNED <= set(signed) or any(name not in headers for name in signed):
            return "SignedHeaders must list content-type and host, and only headers that were sent."
        canonical_headers = "".join(f"{name}:{headers[name].strip()}\n" for name in sorted(set(signed)))
        canonical = (
            f"{method}\n{path}\n{query if method == 'GET' else ''}\n{canonical_headers}\n"
            f"{';'.join(sorted(set(signed)))}\n{hashlib.sha256(body).hexdigest()}"
        )
        to_sign = f"WS3-HMAC-SHA256\n{timestamp}\n{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"
        expected = hmac.new(secret_key.encode("utf-8"), to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, match["signature"].lower()):
            return "The signature does not match."
        return None

    def _get_upload_token(self, access_key: str, params: dict[str, Any], *, content_type_is_form: bool = False
                          ) -> dict[str, Any]:
        name = params.get("originFileName")
        if name is None or (isinstance(name, str) and not name.strip()):
            return {"code": 1606, "message": "The video name cannot be empty."}
        name = str(name)
        if len(name) > 40:
            return {"code": 1500, "message": "The file name has exceeded 40 characters."}
        overwrite = _overwrite(params.get("overwrite"), form=content_type_is_form)
        if overwrite is _INVALID:
            return {"code": 1608, "message": "Parameter overwrite is neither 0 nor 1."}
        if "fileMd5" in params:
            md5 = str(params["fileMd5"] or "")
            if not md5:
                return {"code": 1604, "message": "The file MD5 value cannot be empty."}
            if len(md5) > 32:
                return {"code": 1605, "message": "The length of MD5 string is too long."}
        if "fileSize" in params:
            size = params["fileSize"]
            if isinstance(size, bool) or not (isinstance(size, int) or (isinstance(size, str) and size.isdigit())):
                return {"code": 1609, "message": "Video size can only be a non-negative integer."}
            if int(size) < 0:
                return {"code": 1609, "message": "Video size can only be a non-negative integer."}
            if int(size) > self.max_file_size:
                return {"code": 1610, "message": "Video size has exceeded the limit."}

        file_id = params.get("fileId")
        file_id = str(file_id) if file_id not in (None, "") else None
        now = self.clock()
        with self._lock:
            upload = self.uploads.get((access_key, file_id)) if file_id else None
            if upload is None or overwrite == 1:
                # A new video, or an explicit overwrite of the breakpoint's earlier one.
                video_id = uuid.uuid4().hex
                ext = name.rsplit(".", 1)[-1].lower() if "." in name else "mp4"
                day = datetime.fromtimestamp(now, tz=timezone.utc).strftime("%Y%m%d")
                file_key = f"video/{day}/{video_id}/{uuid.uuid4().hex}_{uuid.uuid4().hex}.{ext}"
                upload = Upload(access_key, file_id, video_id, file_key, name, now)
                self.videos[video_id] = upload
                if file_id:
                    self.uploads[(access_key, file_id)] = upload
            token = self._upload_token(access_key, upload, now)
            upload.tokens.append(token)
        return {
            "code": 200,
            "message": "Operation successfully",
            "data": {
                "speedDomainlUrl": "",  # sic: the doc's own spelling
                "bucketName": self.bucket_name,
                "uploadUrl": f"{self.url}/file/upload",
                "uploadToken": token,
                "fileKey": upload.file_key,
                "httpDnsServer": "",
                "videoId": upload.video_id,
            },
        }

    def _upload_token(self, access_key: str, upload: Upload, now: float) -> str:
        policy = {
            "scope": f"{self.bucket_name}:{upload.file_key}",
            "deadline": str(int((now + self.token_lifetime) * 1000)),
            "overwrite": 1,
        }
        encoded_policy = _b64url(json.dumps(policy, separators=(",", ":")).encode("utf-8"))
        secret = self.access_keys[access_key].encode("utf-8")
        encoded_sign = _b64url(hmac.new(secret, encoded_policy.encode("ascii"), hashlib.sha1).hexdigest().encode())
        return f"{access_key}:{encoded_sign}:{encoded_policy}"
