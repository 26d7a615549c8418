"""The broker's HTTP layer without a framework: one request pipeline, one event adapter.

Function Compute 3.0's built-in Python runtime calls ``handler(event, context)``: behind an HTTP trigger
(or a custom domain) the event is FC 3.0's HTTP-trigger request struct, behind API Gateway it is the
gateway's event. :func:`request_from_event` turns either into a :class:`Request`, :func:`serve` runs the
pipeline, and :func:`event_response` writes the answer in the struct the caller expects. ``serve`` is the
one place where protocol rules (CORS, request id, JSON only, body limit, no-store) and error rendering
happen, so every function and the local Flask shim behave the same. Flask is not imported here: a
function's cold start pays only for what it uses.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from upload_broker.errors import (
    BrokerError,
    Forbidden,
    InternalError,
    InvalidJSON,
    MalformedEvent,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
)

log = logging.getLogger("upload_broker")

MAX_BODY_BYTES = 64 * 1024
# Matched with ``fullmatch``: ``re.match`` with ``$`` would accept a trailing newline, and an id echoed
# into a response header must never carry CR or LF.
_SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}")
ALLOWED_REQUEST_HEADERS = "Authorization, Content-Type, Idempotency-Key, X-Request-Id"
EXPOSED_HEADERS = "X-Request-Id, Retry-After, WWW-Authenticate, Idempotent-Replayed"


class Headers:
    """Case-insensitive, read-only request headers."""

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: dict[str, str] = {}
        for name, value in items:
            self._items[name.lower()] = value

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._items.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items


@dataclass
class Request:
    """What the pipeline needs from one HTTP request, whoever delivered it."""

    method: str
    path: str
    headers: Headers
    body: bytes = b""
    source_ip: str | None = None
    platform_request_id: str | None = None
    # The invocation context (python3.10 on FC carries the role's credentials in it); None locally.
    context: Any = None
    body_too_large: bool = False
    query: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Response:
    """A JSON response; ``body`` is None for a 204."""

    status: int
    body: Mapping[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def encoded_body(self) -> bytes:
        if self.body is None:
            return b""
        return _RESPONSE_ENCODER.encode(self.body).encode("utf-8")


# Built once: ``json.dumps`` with any non-default option builds a new encoder on every call.
_RESPONSE_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


@dataclass(frozen=True)
class Route:
    """A path pattern such as ``/v1/videos/{VideoId}/refresh`` and the methods it serves."""

    pattern: str
    methods: tuple[str, ...] = ("POST",)

    def match(self, path: str) -> dict[str, str] | None:
        found = _route_regex(self.pattern).match(path)
        return found.groupdict() if found else None


@functools.lru_cache(maxsize=256)
def _route_regex(pattern: str) -> re.Pattern[str]:
    """A route pattern's regex, compiled once per pattern (not once per request)."""
    return re.compile("^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(pattern)) + "/?$")


@dataclass(frozen=True)
class Answer:
    """A successful answer: its JSON body and any headers of its own (an idempotent replay's
    ``Idempotent-Replayed``)."""

    body: dict[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)


class Endpoint:
    """What :func:`serve` calls once a request has passed the protocol checks."""

    route: Route
    # True: the endpoint reads ``request.body`` itself (after checks of its own that must come first, such
    # as a signature) and gets ``{}`` as ``body``; the body's size limit still applies before it is called.
    raw_body: bool = False

    def handle(self, request: Request, body: dict[str, Any], path_params: dict[str, str], request_id: str) -> Answer:
        raise NotImplementedError


STATUS_TEXT = {
    200: "OK", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 409: "Conflict", 413: "Payload Too Large", 415: "Unsupported Media Type",
    429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
}


def request_id_for(request: Request) -> str:
    """The caller's ``X-Request-Id`` if it is sane, else the platform's, else a new one."""
    return sane_request_id(request.headers.get("X-Request-Id"), request.platform_request_id)


def sane_request_id(*candidates: object) -> str:
    """The first candidate that fully matches the request-id pattern, else a new id."""
    for candidate in candidates:
        if isinstance(candidate, str) and _SANE_REQUEST_ID.fullmatch(candidate):
            return candidate
    return str(uuid.uuid4())


def cors_headers(origin: str | None, allowed_origins: tuple[str, ...]) -> dict[str, str]:
    """CORS headers for an allowed ``Origin``; credentials are never allowed with ``*``."""
    if not origin:
        return {}
    if origin in allowed_origins:
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Credentials": "true",
            "Access-Control-Expose-Headers": EXPOSED_HEADERS,
            "Vary": "Origin",
        }
    if "*" in allowed_origins:
        return {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": EXPOSED_HEADERS}
    return {}


def serve(
    request: Request,
    endpoints: Iterable[Endpoint],
    *,
    allowed_origins: tuple[str, ...] = (),
    on_error: Callable[[Request, str, BrokerError], None] | None = None,
) -> Response:
    """Run one request through the protocol checks and the matching endpoint; never raises."""
    request_id = request_id_for(request)
    origin = request.headers.get("Origin")
    cors = cors_headers(origin, allowed_origins)
    try:
        response = _dispatch(request, tuple(endpoints), request_id, cors)
    except BrokerError as error:
        if on_error is not None:
            on_error(request, request_id, error)
        response = Response(error.status, error.body(request_id), error.headers())
    except Exception:
        # A bug. The traceback goes to the log (it holds no request secrets: handlers never put tokens
        # or credentials into exception text); the caller gets the generic contract body.
        log.exception("unhandled error", extra={"request_id": request_id})
        internal = InternalError()
        response = Response(internal.status, internal.body(request_id))
    return finish(response, request_id, cors)


def finish(response: Response, request_id: str, cors: Mapping[str, str] | None = None) -> Response:
    """The headers every response carries (contract, "Every response")."""
    response.headers.update(cors or {})
    response.headers["X-Request-Id"] = request_id
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Type"] = "application/json; charset=utf-8"
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def refusal(error: BrokerError, request_id: str) -> Response:
    """A refusal rendered outside :func:`serve` (an event that is not a request at all)."""
    return finish(Response(error.status, error.body(request_id), error.headers()), request_id)


def _dispatch(request: Request, endpoints: tuple[Endpoint, ...], request_id: str, cors: dict[str, str]) -> Response:
    path = request.path or "/"
    method = request.method.upper()

    if path.rstrip("/") == "/healthz":
        if method in ("GET", "HEAD"):
            return Response(200, {"Status": "ok", "RequestId": request_id})
        if method != "OPTIONS":
            raise MethodNotAllowed(("GET", "HEAD", "OPTIONS"))
        matched: tuple[Endpoint | None, dict[str, str]] = (None, {})
    else:
        matched = _match(endpoints, path)
        if matched[0] is None:
            raise NotFound("No such route. The broker's routes are listed in its openapi.yaml (for example "
                           "POST /v1/videos).")
    endpoint, path_params = matched

    if method == "OPTIONS":
        # A CORS preflight needs no token (browsers never send one on it).
        if request.headers.get("Origin") and not cors:
            raise Forbidden("This origin is not allowed to call the broker: the operator lists allowed origins "
                            "in BROKER_ALLOWED_ORIGINS.", code="Forbidden")
        methods = ("GET", "HEAD", "OPTIONS") if endpoint is None else (*endpoint.route.methods, "OPTIONS")
        headers = {"Allow": ", ".join(methods)}
        if cors:
            headers |= {
                "Access-Control-Allow-Methods": ", ".join(methods),
                "Access-Control-Allow-Headers": ALLOWED_REQUEST_HEADERS,
                "Access-Control-Max-Age": "600",
            }
        return Response(204, None, headers)

    assert endpoint is not None
    if method not in endpoint.route.methods:
        raise MethodNotAllowed((*endpoint.route.methods, "OPTIONS"))

    if endpoint.raw_body:
        check_body_size(request)
        body: dict[str, Any] = {}
    else:
        body = parse_json_body(request)
    answer = endpoint.handle(request, body, path_params, request_id)
    return Response(200, answer.body, dict(answer.headers))


def _match(endpoints: tuple[Endpoint, ...], path: str) -> tuple[Endpoint | None, dict[str, str]]:
    for endpoint in endpoints:
        params = endpoint.route.match(path)
        if params is not None:
            return endpoint, params
    return None, {}


def check_body_size(request: Request) -> None:
    """413 for a body (read or declared) over 64 KiB."""
    if request.body_too_large or len(request.body) > MAX_BODY_BYTES or _declared_length(request) > MAX_BODY_BYTES:
        raise PayloadTooLarge()


def parse_json_body(request: Request, *, any_content_type: bool = False) -> dict[str, Any]:
    """The body as a JSON object: empty means ``{}``; otherwise JSON in UTF-8 of at most 64 KiB, sent as
    ``application/json`` (any type with ``any_content_type``, for senders that do not document theirs)."""
    check_body_size(request)
    if not request.body.strip():
        return {}
    content_type = (request.headers.get("Content-Type") or "").strip()
    media_type, _, params = content_type.partition(";")
    if media_type.strip().lower() != "application/json" and not any_content_type:
        raise UnsupportedMediaType()
    charset = _CHARSET.search(params)
    if charset and charset.group(1).lower() not in ("utf-8", "utf8"):
        raise UnsupportedMediaType("Send the body as JSON in UTF-8.")
    try:
        text = request.body.decode("utf-8")
        if text.startswith("\ufeff"):
            raise ValueError("a byte order mark")  # as json.loads refuses it
        value = _BODY_DECODER.decode(text)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidJSON() from None
    if not isinstance(value, dict):
        raise InvalidJSON("The request body must be a JSON object, such as {\"Title\": \"...\"}.")
    return value


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            # Two values for one field is ambiguous; refusing beats guessing which one a proxy saw.
            raise ValueError("duplicate key")
        result[key] = value
    return result


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# Built once (``json.loads`` with a hook builds a new decoder on every call); decoding keeps no state.
_BODY_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constants)
_CHARSET = re.compile(r"charset\s*=\s*\"?([\w-]+)", re.I)


def _declared_length(request: Request) -> int:
    """The body's declared ``Content-Length`` (0 when absent or unreadable); a front end that has not
    read the body yet (the local shim) passes the header on, so a huge upload is refused unread."""
    text = request.headers.get("Content-Length") or ""
    return int(text) if text.strip().isdigit() else 0


# --- the event adapter -----------------------------------------------------------------------------
#
# Function Compute 3.0, "Use an HTTP trigger to invoke a function" (built-in runtimes):
# https://www.alibabacloud.com/help/en/functioncompute/fc/http-trigger-invoking-function
# - the request struct: ``version`` ("v1"), ``rawPath`` (URL-encoded; the decoded path is
#   ``requestContext.http.path``), ``headers`` and ``queryParameters`` (a multi-value header or parameter
#   arrives as one comma-joined string), ``body`` with ``isBase64Encoded`` (true when the body is binary),
#   ``requestContext.{http.{method, path, sourceIp, userAgent}, requestId, ...}``;
# - the response struct: ``statusCode``, ``headers``, ``body``, ``isBase64Encoded``.
# The Python runtime hands ``event`` to the handler as the JSON text's bytes.
#
# API Gateway with a Function Compute back end sends ``path``, ``httpMethod``, ``headers``,
# ``queryParameters``, ``pathParameters``, ``body`` and ``isBase64Encoded``, and reads the same response
# struct back as JSON text (Alibaba Cloud API Gateway, "Use Function Compute as the backend service").


class EventKind:
    """Which platform sent an event: decides the response's form."""

    FC_HTTP = "fc-http"
    API_GATEWAY = "api-gateway"


def decode_event(event: Any) -> Mapping[str, Any]:
    """The event as a JSON object; :class:`InvalidJSON` when it is not one."""
    if isinstance(event, (bytes, bytearray, memoryview)):
        try:
            event = bytes(event).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidJSON("The event is not JSON in UTF-8.") from None
    if isinstance(event, str):
        try:
            event = json.loads(event)
        except (ValueError, RecursionError):
            raise InvalidJSON("The event is not JSON.") from None
    if not isinstance(event, Mapping):
        raise InvalidJSON("The event must be a JSON object (an HTTP-trigger or API Gateway event).")
    return event


def event_kind(event: Mapping[str, Any]) -> str:
    """FC 3.0 HTTP-trigger events carry ``requestContext.http``; API Gateway's carry ``httpMethod``."""
    if "httpMethod" in event and "requestContext" not in event:
        return EventKind.API_GATEWAY
    if "rawPath" in event or "requestContext" in event or event.get("version") == "v1":
        return EventKind.FC_HTTP
    if "httpMethod" in event or "path" in event:
        return EventKind.API_GATEWAY
    raise MalformedEvent("The event is neither a Function Compute HTTP-trigger event nor an API Gateway event.")


def request_from_event(event: Mapping[str, Any], context: Any = None) -> Request:
    """A :class:`Request` from a decoded event of either kind; :class:`MalformedEvent` when it is not
    well formed (every field is checked for its type before use)."""
    if event_kind(event) == EventKind.FC_HTTP:
        return _request_from_fc_http(event, context)
    return _request_from_api_gateway(event, context)


def _request_from_fc_http(event: Mapping[str, Any], context: Any) -> Request:
    version = _optional(event, "version", str)
    if version is not None and version != "v1":
        raise MalformedEvent(f"The event's version {version[:16]!r} is not one this broker reads (v1).")
    request_context = _optional(event, "requestContext", Mapping) or {}
    http = _optional(request_context, "http", Mapping, "requestContext.http") or {}
    method = _optional(http, "method", str, "requestContext.http.method")
    if not method:
        raise MalformedEvent("The event has no requestContext.http.method.")
    raw_path = _optional(event, "rawPath", str)
    path = _optional(http, "path", str, "requestContext.http.path")
    if path is None:
        if raw_path is None:
            raise MalformedEvent("The event has neither rawPath nor requestContext.http.path.")
        path = unquote(raw_path)
    headers = _string_map(event, "headers")
    body, too_large = _event_body(event)
    return Request(
        method=method,
        path=path or "/",
        headers=Headers(headers.items()),
        body=body,
        source_ip=_optional(http, "sourceIp", str, "requestContext.http.sourceIp"),
        platform_request_id=_optional(request_context, "requestId", str, "requestContext.requestId")
        or context_request_id(context),
        context=context,
        body_too_large=too_large,
        query=_string_map(event, "queryParameters"),
    )


def _request_from_api_gateway(event: Mapping[str, Any], context: Any) -> Request:
    method = _optional(event, "httpMethod", str)
    if not method:
        raise MalformedEvent("The event has no httpMethod.")
    path = _optional(event, "path", str) or "/"
    for name, value in _string_map(event, "pathParameters").items():
        # When the gateway's path is templated ("/v1/videos/[VideoId]/refresh"), fill it in.
        path = path.replace("[" + name + "]", value).replace("{" + name + "}", value)
    headers = Headers(_string_map(event, "headers").items())
    body, too_large = _event_body(event)
    forwarded = (headers.get("X-Forwarded-For") or "").split(",")[0].strip()
    return Request(
        method=method,
        path=path,
        headers=headers,
        body=body,
        source_ip=headers.get("X-Real-IP") or forwarded or None,
        platform_request_id=headers.get("X-Ca-Request-Id") or context_request_id(context),
        context=context,
        body_too_large=too_large,
        query=_string_map(event, "queryParameters"),
    )


def _optional(mapping: Mapping[str, Any], key: str, kind: type, name: str | None = None) -> Any:
    value = mapping.get(key)
    if value is None or isinstance(value, kind):
        return value
    raise MalformedEvent(f"The event's {name or key} must be {_KIND_WORDS.get(kind, kind.__name__)}.")


_KIND_WORDS = {str: "a string", Mapping: "an object", bool: "a boolean"}


def _string_map(event: Mapping[str, Any], key: str) -> dict[str, str]:
    """Headers, query or path parameters: an object of strings (API Gateway may send numbers)."""
    value = _optional(event, key, Mapping) or {}
    result: dict[str, str] = {}
    for name, item in value.items():
        if not isinstance(name, str) or isinstance(item, bool) or not isinstance(item, (str, int, float)):
            raise MalformedEvent(f"The event's {key} must map names to strings.")
        result[name] = str(item)
    return result


def _event_body(event: Mapping[str, Any]) -> tuple[bytes, bool]:
    """The body's bytes (at most 64 KiB + 1 are kept) and whether it is over the limit."""
    raw = event.get("body")
    flag = event.get("isBase64Encoded", False)
    if isinstance(flag, str) and flag.lower() in ("true", "false"):
        flag = flag.lower() == "true"  # API Gateway sends the flag as text in some integrations
    if not isinstance(flag, bool):
        raise MalformedEvent("The event's isBase64Encoded must be a boolean.")
    if raw is None or raw == "":
        return b"", False
    if not isinstance(raw, str):
        raise MalformedEvent("The event's body must be a string.")
    if flag:
        # 4 base64 characters carry 3 bytes: a text this long cannot be within the limit, so it is not decoded.
        if len(raw) > (MAX_BODY_BYTES + 2) // 3 * 4 + 4:
            return b"", True
        try:
            body = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise MalformedEvent("The event's body is not valid base64 although isBase64Encoded is true.") from None
    else:
        if len(raw) > MAX_BODY_BYTES:
            return b"", True
        body = raw.encode("utf-8", "surrogatepass")
    return body, len(body) > MAX_BODY_BYTES


def context_request_id(context: Any) -> str | None:
    """The invocation context's request id, if it has a string one."""
    value = getattr(context, "request_id", None)
    return value if isinstance(value, str) else None


def event_response(response: Response, kind: str = EventKind.FC_HTTP) -> dict[str, Any] | str:
    """The response struct: a dict for an FC 3.0 HTTP trigger (the runtime serialises it), JSON text for
    API Gateway (which reads the function's output as that text, as its own Python sample returns it)."""
    struct = {
        "statusCode": response.status,
        "headers": dict(response.headers),
        "body": response.encoded_body().decode("utf-8"),
        "isBase64Encoded": False,
    }
    if kind == EventKind.API_GATEWAY:
        return json.dumps(struct, ensure_ascii=False)
    return struct
