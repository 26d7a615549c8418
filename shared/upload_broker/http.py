"""The broker's HTTP layer without a framework: one request pipeline, two adapters.

Function Compute calls a WSGI ``handler(environ, start_response)`` behind an HTTP trigger and an event
handler ``(event, context)`` behind API Gateway. Both adapters turn their input into a :class:`Request`,
run :func:`serve`, and write the :class:`Response` back. ``serve`` is the one place where protocol
rules (CORS, request id, JSON only, body limit, no-store) and error rendering happen, so every function
and the local Flask shim behave the same. Flask is not imported here: a function's cold start pays only
for what it uses.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from upload_broker.errors import (
    BrokerError,
    Forbidden,
    InternalError,
    InvalidJSON,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    UnsupportedMediaType,
)

log = logging.getLogger("upload_broker")

MAX_BODY_BYTES = 64 * 1024
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")
# Function Compute 2.0's HTTP trigger URL puts this prefix before the path the client asked for.
_FC_PROXY_PREFIX = re.compile(r"^/20\d\d-\d\d-\d\d/proxy/[^/]+/[^/]+")
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
    # The invocation context (FC 2.0 puts its credentials here); None locally.
    context: Any = None
    body_too_large: bool = False


@dataclass
class Response:
    """A JSON response; ``body`` is None for a 204."""

    status: int
    body: Mapping[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def encoded_body(self) -> bytes:
        if self.body is None:
            return b""
        return json.dumps(self.body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


@dataclass(frozen=True)
class Route:
    """A path pattern such as ``/v1/videos/{VideoId}/refresh`` and the methods it serves."""

    pattern: str
    methods: tuple[str, ...] = ("POST",)

    def match(self, path: str) -> dict[str, str] | None:
        regex = "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(self.pattern)) + "/?$"
        found = re.match(regex, path)
        return found.groupdict() if found else None


class Endpoint:
    """What :func:`serve` calls once a request has passed the protocol checks."""

    route: Route

    def handle(self, request: Request, body: dict[str, Any], path_params: dict[str, str], request_id: str) -> dict:
        raise NotImplementedError


STATUS_TEXT = {
    200: "OK", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 409: "Conflict", 413: "Payload Too Large", 415: "Unsupported Media Type",
    429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
}


def request_id_for(request: Request) -> str:
    """The caller's ``X-Request-Id`` if it is sane, else the platform's, else a new one."""
    for candidate in (request.headers.get("X-Request-Id"), request.platform_request_id):
        if candidate and _SANE_REQUEST_ID.match(candidate):
            return candidate
    return str(uuid.uuid4())


def normalise_path(path: str) -> str:
    path = _FC_PROXY_PREFIX.sub("", path or "/") or "/"
    return path


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
        error = InternalError()
        response = Response(error.status, error.body(request_id))
    response.headers.update(cors)
    response.headers["X-Request-Id"] = request_id
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Type"] = "application/json; charset=utf-8"
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


def _dispatch(request: Request, endpoints: tuple[Endpoint, ...], request_id: str, cors: dict[str, str]) -> Response:
    path = normalise_path(request.path)
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
            raise NotFound("No such route. See the broker's API reference for its routes.")
    endpoint, path_params = matched

    if method == "OPTIONS":
        # A CORS preflight needs no token (browsers never send one on it).
        if request.headers.get("Origin") and not cors:
            raise Forbidden("This origin is not allowed to call the broker.", code="Forbidden")
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

    body = parse_json_body(request)
    return Response(200, endpoint.handle(request, body, path_params, request_id))


def _match(endpoints: tuple[Endpoint, ...], path: str) -> tuple[Endpoint | None, dict[str, str]]:
    for endpoint in endpoints:
        params = endpoint.route.match(path)
        if params is not None:
            return endpoint, params
    return None, {}


def parse_json_body(request: Request) -> dict[str, Any]:
    """The body as a JSON object: empty means ``{}``; otherwise JSON in UTF-8 of at most 64 KiB."""
    if request.body_too_large or len(request.body) > MAX_BODY_BYTES:
        raise PayloadTooLarge()
    if not request.body.strip():
        return {}
    content_type = (request.headers.get("Content-Type") or "").strip()
    media_type, _, params = content_type.partition(";")
    if media_type.strip().lower() != "application/json":
        raise UnsupportedMediaType()
    charset = re.search(r"charset\s*=\s*\"?([\w-]+)", params, re.I)
    if charset and charset.group(1).lower() not in ("utf-8", "utf8"):
        raise UnsupportedMediaType("Send the body as JSON in UTF-8.")
    try:
        text = request.body.decode("utf-8")
        value = json.loads(text, object_pairs_hook=_no_duplicate_keys, parse_constant=_no_constants)
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


# --- adapters --------------------------------------------------------------------------------------


def request_from_wsgi(environ: Mapping[str, Any]) -> Request:
    """A :class:`Request` from a WSGI environ (Function Compute's HTTP trigger, or a local server)."""
    headers = [(k[5:].replace("_", "-"), v) for k, v in environ.items() if k.startswith("HTTP_")]
    if environ.get("CONTENT_TYPE"):
        headers.append(("Content-Type", environ["CONTENT_TYPE"]))
    length_text = environ.get("CONTENT_LENGTH") or ""
    too_large = False
    body = b""
    stream = environ.get("wsgi.input")
    try:
        length = int(length_text) if length_text.strip() else None
    except ValueError:
        length = None
    if length is not None and length > MAX_BODY_BYTES:
        too_large = True  # refused before reading: the body is never buffered
    elif stream is not None:
        if length is not None:
            body = stream.read(length) if length > 0 else b""
        elif environ.get("wsgi.input_terminated") or "chunked" in (environ.get("HTTP_TRANSFER_ENCODING") or ""):
            body = stream.read(MAX_BODY_BYTES + 1)
            too_large = len(body) > MAX_BODY_BYTES
    context = environ.get("fc.context")
    platform_id = getattr(context, "request_id", None) or environ.get("HTTP_X_FC_REQUEST_ID")
    forwarded = (environ.get("HTTP_X_FORWARDED_FOR") or "").split(",")[0].strip()
    return Request(
        method=environ.get("REQUEST_METHOD", "GET"),
        path=environ.get("PATH_INFO") or "/",
        headers=Headers(headers),
        body=body,
        source_ip=forwarded or environ.get("REMOTE_ADDR"),
        platform_request_id=platform_id,
        context=context,
        body_too_large=too_large,
    )


def write_wsgi(response: Response, start_response: Callable) -> list[bytes]:
    body = response.encoded_body()
    headers = list(response.headers.items())
    if response.status != 204:
        headers.append(("Content-Length", str(len(body))))
    start_response(f"{response.status} {STATUS_TEXT.get(response.status, 'Unknown')}", headers)
    return [body] if body else []


def request_from_event(event: bytes | str | Mapping[str, Any], context: Any = None) -> Request:
    """A :class:`Request` from an API Gateway event (``{path, httpMethod, headers, body, ...}``)."""
    if isinstance(event, (bytes, bytearray)):
        event = event.decode("utf-8")
    if isinstance(event, str):
        event = json.loads(event)
    if not isinstance(event, Mapping):
        raise ValueError("an API Gateway event is a JSON object")
    raw_body = event.get("body") or ""
    is_b64 = str(event.get("isBase64Encoded", "false")).lower() == "true"
    if is_b64:
        body = base64.b64decode(raw_body) if raw_body else b""
    else:
        body = raw_body.encode("utf-8") if isinstance(raw_body, str) else json.dumps(raw_body).encode("utf-8")
    headers = Headers((str(k), str(v)) for k, v in (event.get("headers") or {}).items())
    path = event.get("path") or "/"
    for name, value in (event.get("pathParameters") or {}).items():
        # When the gateway's path is templated ("/v1/videos/[VideoId]/refresh"), fill it in.
        path = path.replace("[" + name + "]", str(value)).replace("{" + name + "}", str(value))
    forwarded = (headers.get("X-Forwarded-For") or "").split(",")[0].strip()
    return Request(
        method=str(event.get("httpMethod") or "GET"),
        path=path,
        headers=headers,
        body=body[: MAX_BODY_BYTES + 1],
        source_ip=forwarded or headers.get("X-Real-IP") or None,
        platform_request_id=getattr(context, "request_id", None) or headers.get("X-Ca-Request-Id"),
        context=context,
        body_too_large=len(body) > MAX_BODY_BYTES,
    )


def event_response(response: Response) -> str:
    """API Gateway's integration response, as the JSON text the gateway reads from a function."""
    return json.dumps(
        {
            "isBase64Encoded": False,
            "statusCode": response.status,
            "headers": response.headers,
            "body": response.encoded_body().decode("utf-8"),
        },
        ensure_ascii=False,
    )
