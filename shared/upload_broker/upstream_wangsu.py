"""Wangsu (CDNetworks) Cloud VoD: ``getUploadToken`` over "Interface Authentication V3".

The signing is pure functions (:func:`canonical_request`, :func:`string_to_sign`, :func:`signature`,
:func:`sign_headers`) so golden-vector tests pin each step; :class:`WangsuClient` adds the pooled HTTP
session, the time budget and the one translation from the upstream's answers to the broker's error tree.

Sources (CDNetworks documentation of Wangsu Cloud VoD, fetched 2023 versions):

- Authentication V3, https://documents.cdnetworks.com/document/15923/20357 -- headers ``X-WS-AccessKey``,
  ``X-WS-Timestamp`` (seconds; "if the time differs from the server time by more than 5 minutes, the request
  is invalidated"), ``Authorization: WS3-HMAC-SHA256 Credential=<AccessKey>, SignedHeaders=content-type;host,
  Signature=<hex>`` ("content-type and host are mandatory" signed headers).
- Signature Calculation, https://documents.cdnetworks.com/document/15923/26914 --
  ``Signature = HexEncode(HMAC_SHA256(SecretKey, StringToSign))``,
  ``StringToSign = Algorithm + '\\n' + Timestamp + '\\n' + Hash.SHA256(CanonicalRequest)``,
  ``CanonicalRequest = Method + '\\n' + RequestURI + '\\n' + QueryString + '\\n' + CanonicalHeaders + '\\n' +
  SignedHeaders + '\\n' + HashedRequestPayload`` (QueryString is "" for POST).
- Request Syntax, https://documents.cdnetworks.com/document/15923/cloudvod-request-syntax -- "For POST
  Request: Supports content-type of 'application/json' and 'application/x-www-form-urlencoded'", with the
  example ``Content-Type: application/json; charset=utf-8``. The getUploadToken page's curl example is
  form-encoded; both are documented, and JSON keeps ``categoryNames`` (itself JSON) unambiguous, so we send JSON.
- Common Parameters, https://documents.cdnetworks.com/document/15923/20356 -- ``X-WS-RequestId`` response header.
- Get Video Upload Token, https://documents.cdnetworks.com/document/15923/20363 -- the request fields and the
  error codes 1500, 1604-1610, the only codes the page calls the request's own ("dedicated for get video upload
  token request").
- API Center GetUploadToken, https://documents.cdnetworks.com/document/api-doc/26505 -- ``overwrite`` is an
  Integer (0 or 1), and ``subtitleId`` / ``subtitle`` are request fields; "300/5min" per user.
- Object storage upload credential, https://documents.cdnetworks.com/document/object-storage/api-v2-uploadcredential
  -- the putPolicy ``deadline`` is a "UNIX timestamp; unit: millisecond" (a string in the JSON).

How Wangsu's answers reach the broker's caller:

- a documented getUploadToken code (:data:`PARAMETER_ERRORS`) is the request's fault: ``400 InvalidParameter``
  with the ``Field`` it names. Wangsu's codes are numbers, not names a client can branch on, so they are never put
  in ``Code``; the message cites the number ("Wangsu code 1500") for support. Only an integer that is one of the
  documented codes is ever repeated; Wangsu's own ``message`` text is logged, never returned.
- HTTP 429 or code 429: ``429 Throttling`` with a bounded ``Retry-After``.
- HTTP 401/403 or code 401/403 (the broker's credentials or clock): ``502 UpstreamError``, logged for the operator.
- anything else, undocumented codes included: ``502 UpstreamError``.

A token Wangsu issued whose putPolicy cannot be read is still the caller's: :func:`upload_token_expiration`
falls back to a short, conservative lifetime and logs a warning (without the token), because Wangsu has already
issued it and a 502 would only make the client ask for another.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from upload_broker.errors import InvalidParameter, Throttling, UpstreamError, UpstreamUnavailable

__all__ = [
    "ALGORITHM",
    "CONTENT_TYPE",
    "DEFAULT_ENDPOINT",
    "GET_UPLOAD_TOKEN_PATH",
    "MAX_CLOCK_SKEW_SECONDS",
    "PARAMETER_ERRORS",
    "SIGNED_HEADERS",
    "WangsuClient",
    "FALLBACK_TOKEN_SECONDS",
    "canonical_request",
    "decode_put_policy_deadline",
    "sign_headers",
    "signature",
    "string_to_sign",
    "upload_token_expiration",
]

log = logging.getLogger(__name__)

ALGORITHM = "WS3-HMAC-SHA256"
DEFAULT_ENDPOINT = "https://api.cloudv.haplat.net"
GET_UPLOAD_TOKEN_PATH = "/vod/videoManage/getUploadToken"  # noqa: S105 - a URL path, not a password
CONTENT_TYPE = "application/json; charset=utf-8"
# "content-type and the host is mandatory head" (Authentication V3); we sign exactly those two.
SIGNED_HEADERS: tuple[str, ...] = ("content-type", "host")
# "more than 5 minutes" of difference invalidates the request (Authentication V3).
MAX_CLOCK_SKEW_SECONDS = 300

CREDENTIALS_REFUSED = "The upstream refused the broker's credentials."

# getUploadToken's own error codes (its "Error Code" table: "dedicated for get video upload token request") ->
# (request field, message for the caller). 1604/1605/1609/1610 name fileMd5/fileSize, which the broker never sends
# (a client cannot: they are not fields of the route), but a direct caller of the client may; 1607 ("Video source
# error") names no field. No other code is the request's fault: the rest are 502.
PARAMETER_ERRORS: dict[int, tuple[str | None, str]] = {
    1500: ("originFileName", "originFileName must be at most 40 characters."),
    1604: ("fileMd5", "fileMd5 must not be empty."),
    1605: ("fileMd5", "fileMd5 is too long; send the 32-character hex MD5."),
    1606: ("originFileName", "originFileName is required."),
    1607: (None, "Wangsu Cloud VoD refused the video source."),
    1608: ("overwrite", "overwrite must be 0 or 1."),
    1609: ("fileSize", "fileSize must be a non-negative integer."),
    1610: ("fileSize", "fileSize is over Wangsu Cloud VoD's limit."),
}
_CREDENTIAL_CODES = frozenset({401, 403})
_THROTTLE_CODES = frozenset({429})

Clock = Callable[[], float]


# --- signing ---------------------------------------------------------------------------------------


def canonical_request(
    method: str,
    uri: str,
    query_string: str,
    headers: Mapping[str, str],
    signed_headers: Iterable[str],
    body: bytes,
) -> str:
    """The V3 CanonicalRequest: method, URI, query, canonical headers, signed-header list, hex SHA-256 of body.

    CanonicalHeaders is ``lowercase-name:trimmed-value\\n`` for each signed header in sorted order, so the
    string carries an empty line before SignedHeaders (the same shape as AWS SigV4, which V3 follows).
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    names = sorted({name.lower() for name in signed_headers})
    missing = [name for name in names if name not in lowered]
    if missing:
        raise ValueError(f"signed header(s) not in the request: {', '.join(missing)}")
    canonical_headers = "".join(f"{name}:{lowered[name].strip()}\n" for name in names)
    return "\n".join(
        [
            method.upper(),
            uri,
            query_string,
            canonical_headers,
            ";".join(names),
            hashlib.sha256(body).hexdigest(),
        ]
    )


def string_to_sign(timestamp: str, canonical: str) -> str:
    """``WS3-HMAC-SHA256\\n<timestamp>\\n<hex SHA-256 of the CanonicalRequest>``."""
    return f"{ALGORITHM}\n{timestamp}\n{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"


def signature(secret_key: str, timestamp: str, canonical: str) -> str:
    """Lowercase hex HMAC-SHA256 of the StringToSign keyed with the SecretKey."""
    return hmac.new(
        secret_key.encode("utf-8"), string_to_sign(timestamp, canonical).encode("utf-8"), hashlib.sha256
    ).hexdigest()


def sign_headers(
    *,
    access_key: str,
    secret_key: str,
    method: str,
    uri: str,
    host: str,
    body: bytes,
    timestamp: int,
    query_string: str = "",
    content_type: str = CONTENT_TYPE,
) -> dict[str, str]:
    """Every header a V3 request needs (``Host`` and ``Content-Type`` included, exactly as they were signed)."""
    headers = {"Content-Type": content_type, "Host": host}
    canonical = canonical_request(method, uri, query_string, headers, SIGNED_HEADERS, body)
    ts = str(int(timestamp))
    digest = signature(secret_key, ts, canonical)
    headers.update(
        {
            "X-WS-AccessKey": access_key,
            "X-WS-Timestamp": ts,
            "Authorization": (
                f"{ALGORITHM} Credential={access_key}, SignedHeaders={';'.join(SIGNED_HEADERS)}, Signature={digest}"
            ),
        }
    )
    return headers


# --- the client ------------------------------------------------------------------------------------


def _pooled_session(pool_maxsize: int = 32) -> requests.Session:
    # One keep-alive pool per client, sized for a warm function serving concurrent requests; the adapter's
    # own retries stay off (max_retries=0) because only we know which failures are safe to repeat.
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_maxsize, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request cannot have reached the upstream: it failed while connecting."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError) and exc.args:
        reason = getattr(exc.args[0], "reason", None)
        # NewConnectionError covers refused connections and DNS failures (NameResolutionError subclasses it).
        return isinstance(reason, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError))
    return False


def _as_int(value: Any) -> int | None:
    """An envelope code or header as an int: a JSON integer or ASCII digits only (never "١٥٠٠", never 1.5)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,9}", value.strip()):
        return int(value.strip())
    return None


def _retry_after(response: requests.Response) -> int:
    value = _as_int(response.headers.get("Retry-After"))
    # Bounded: a gateway's huge or garbage value must not tell our callers to go away for a day.
    return min(max(value if value is not None else 1, 1), 60)


class WangsuClient:
    """Calls Wangsu Cloud VoD with the server's AccessKey; one pooled keep-alive session per instance.

    Build it once at cold start and reuse it: the session's connection pool is the point. ``clock`` gives the
    Unix time that goes into ``X-WS-Timestamp`` (tests pass a skewed one); the time budget uses the monotonic
    clock so a wrong wall clock cannot stretch it.
    """

    def __init__(
        self,
        access_key: str,
        secret_key: str,
        endpoint: str = DEFAULT_ENDPOINT,
        *,
        connect_timeout: float = 3.0,
        read_timeout: float = 5.0,
        clock: Clock = time.time,
        session: requests.Session | None = None,
    ) -> None:
        if not access_key or not secret_key:
            raise ValueError("both the Wangsu AccessKey and SecretKey are required")
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("the Wangsu endpoint must be an http:// or https:// URL")
        self.access_key = access_key
        self._secret_key = secret_key
        self.endpoint = endpoint.rstrip("/")
        # The Host we sign must be the Host we send: hostname plus an explicit port, never userinfo.
        hostname = parts.hostname.lower()
        hostname = f"[{hostname}]" if ":" in hostname else hostname  # an IPv6 literal keeps its brackets
        self._host = hostname + (f":{parts.port}" if parts.port else "")
        self._base_path = parts.path.rstrip("/")
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self._clock = clock
        self._session = session if session is not None else _pooled_session()

    def __repr__(self) -> str:
        return f"WangsuClient(access_key={self.access_key!r}, endpoint={self.endpoint!r})"

    def close(self) -> None:
        """Close the pooled connections."""
        self._session.close()

    def __enter__(self) -> WangsuClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get_upload_token(self, params: Mapping[str, Any], *, budget_seconds: float = 8.0) -> dict[str, Any]:
        """Call ``getUploadToken`` and return its ``data`` object (``videoId``, ``uploadUrl``, ``uploadToken``, ...).

        ``params`` are sent as given (``None`` values dropped); validation against the documented limits is the
        caller's job, before the call. Raises :class:`InvalidParameter` for the documented parameter errors,
        :class:`Throttling`, :class:`UpstreamError` (refused credentials, 5xx, anything unreadable) and
        :class:`UpstreamUnavailable` (could not connect, timed out, or ``budget_seconds`` spent).

        A request that may have reached the upstream is never repeated: after a read timeout or a dropped
        response the token may already be issued. A connection that failed while connecting is retried once.
        """
        body = json.dumps(
            {k: v for k, v in params.items() if v is not None}, ensure_ascii=False, separators=(",", ":")
        ).encode("utf-8")
        response = self._post(GET_UPLOAD_TOKEN_PATH, body, budget_seconds)
        return self._data_or_raise(response)

    # -- transport ---------------------------------------------------------------------------------

    def _post(self, path: str, body: bytes, budget_seconds: float) -> requests.Response:
        url, uri = self.endpoint + path, self._base_path + path
        deadline = time.monotonic() + budget_seconds
        attempts_left = 2  # the first try plus one retry, only for failures before anything was sent
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise UpstreamUnavailable("Wangsu Cloud VoD did not answer in time; retry later.")
            # Signed per attempt: a retry after a slow connect must not carry a stale timestamp.
            headers = sign_headers(
                access_key=self.access_key,
                secret_key=self._secret_key,
                method="POST",
                uri=uri,
                host=self._host,
                body=body,
                timestamp=math.floor(self._clock()),
            )
            timeout = (min(self.connect_timeout, remaining), min(self.read_timeout, remaining))
            attempts_left -= 1
            try:
                return self._session.post(url, data=body, headers=headers, timeout=timeout, allow_redirects=False)
            except requests.RequestException as exc:
                # Library text is never put in a message: it can echo URLs and headers.
                if _never_sent(exc) and attempts_left > 0 and deadline - time.monotonic() > 0:
                    log.warning("wangsu: connecting failed (%s); retrying once", type(exc).__name__)
                    continue
                log.warning("wangsu: getUploadToken failed in transport: %s", type(exc).__name__)
                if isinstance(exc, requests.Timeout):
                    raise UpstreamUnavailable("Wangsu Cloud VoD did not answer in time; retry later.") from None
                raise UpstreamUnavailable("Wangsu Cloud VoD could not be reached; retry later.") from None

    # -- the one translation point -----------------------------------------------------------------

    def _data_or_raise(self, response: requests.Response) -> dict[str, Any]:
        request_id = response.headers.get("X-WS-RequestId")
        status = response.status_code
        try:
            envelope = response.json()
        except ValueError:
            envelope = None
        code = _as_int(envelope.get("code")) if isinstance(envelope, dict) else None
        upstream_message = envelope.get("message") if isinstance(envelope, dict) else None
        # Logged for operators only; the caller gets the broker's own words.
        log.info("wangsu: getUploadToken HTTP %s code %s request %s", status, code, request_id)

        if status == 200 and code == 200 and isinstance(envelope, dict):
            data = envelope.get("data")
            if isinstance(data, dict) and data.get("uploadToken") and data.get("videoId"):
                return data
            raise UpstreamError("Wangsu Cloud VoD answered without an upload token.", upstream_request_id=request_id)

        if status == 429 or code in _THROTTLE_CODES:
            raise Throttling(
                "Wangsu Cloud VoD is throttling requests; retry after the time in Retry-After.",
                retry_after=_retry_after(response),
                upstream_request_id=request_id,
            )
        if status in (401, 403) or code in _CREDENTIAL_CODES:
            log.error(
                "wangsu: credentials refused (HTTP %s, code %s, %r, request %s); check WANGSU_ACCESS_KEY, "
                "WANGSU_SECRET_KEY and the clock",
                status,
                code,
                upstream_message,
                request_id,
            )
            raise UpstreamError(CREDENTIALS_REFUSED, upstream_request_id=request_id)
        if code in PARAMETER_ERRORS:
            field, message = PARAMETER_ERRORS[code]
            raise InvalidParameter(f"{message[:-1]} (Wangsu code {code}).", field=field, code="InvalidParameter",
                                   upstream_request_id=request_id)
        log.error("wangsu: unexpected answer HTTP %s code %s %r request %s", status, code, upstream_message, request_id)
        raise UpstreamError("Wangsu Cloud VoD failed to issue an upload token.", upstream_request_id=request_id)


# --- the issued token ------------------------------------------------------------------------------

# Deadlines at or above this are milliseconds: 1e11 s is the year 5138, while 1e11 ms is 1973.
_MILLISECONDS_FROM = 100_000_000_000


def decode_put_policy_deadline(upload_token: str) -> datetime:
    """When an issued ``uploadToken`` stops working, as an aware UTC datetime.

    The token is ``<AccessKey>:<encodedSign>:<encodedPutPolicy>``; the third part is URL-safe Base64 of the
    putPolicy JSON whose ``deadline`` is Unix time in milliseconds per the object-storage docs (a string
    there); seconds are accepted too. Raises :class:`UpstreamError` if the token cannot be read.
    """
    unreadable = UpstreamError("Wangsu Cloud VoD returned an upload token the broker could not read.")
    if not isinstance(upload_token, str):
        raise unreadable
    parts = upload_token.split(":")
    if len(parts) != 3 or not parts[2]:
        raise unreadable
    encoded = parts[2].strip()
    try:
        raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        policy = json.loads(raw.decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise unreadable from None
    if not isinstance(policy, dict):
        raise unreadable
    deadline = policy.get("deadline")
    if isinstance(deadline, bool) or not isinstance(deadline, (int, float, str)):
        raise unreadable
    try:
        number = float(deadline)
    except ValueError:
        raise unreadable from None
    if not math.isfinite(number) or number <= 0:
        raise unreadable
    seconds = number / 1000 if number >= _MILLISECONDS_FROM else number
    try:
        return datetime.fromtimestamp(seconds, tz=timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise unreadable from None


# How long an issued token is taken to last when its putPolicy cannot be read. Neither getUploadToken page
# (15923/20363, api-doc/26505) nor the object-storage credential page documents a lifetime (the putPolicy carries
# its own deadline), so there is nothing to quote: the value errs short on purpose. An Expiration that comes too
# early costs the client one more getUploadToken (a resume with the same fileId); one that comes too late fails an
# upload half-way. 15 minutes is well under the 3,000 s the broker's other upstreams give their credentials, and
# long enough that clients do not spend the account's shared "300/5min" getUploadToken allowance on renewals.
FALLBACK_TOKEN_SECONDS = 15 * 60


def upload_token_expiration(upload_token: Any, now: float, *, video_id: Any = None) -> datetime:
    """When an issued ``uploadToken`` stops working: its putPolicy ``deadline``, else ``now`` + FALLBACK_TOKEN_SECONDS.

    Wangsu has already issued the token when this runs, so an unreadable putPolicy is not the caller's problem:
    the token is returned with the conservative fallback and the operator gets a warning (which names the video,
    never the token).
    """
    try:
        return decode_put_policy_deadline(upload_token)
    except UpstreamError:
        log.warning(
            "wangsu: the putPolicy of the uploadToken issued for video %r could not be read; Expiration set to "
            "now + %d s",
            video_id[:64] if isinstance(video_id, str) else None,
            FALLBACK_TOKEN_SECONDS,
        )
        return datetime.fromtimestamp(now, tz=timezone.utc) + timedelta(seconds=FALLBACK_TOKEN_SECONDS)
