"""Function Compute 3.0 as the benchmark plays it: the HTTP-trigger event, the context, and an HTTP front end.

FC 3.0's built-in Python runtime calls a function's ``handler(event, context)`` with ``event`` = the
JSON text's bytes of the HTTP-trigger request struct and reads the response struct it returns ("Use an
HTTP trigger to invoke a function", FC 3.0, built-in runtimes:
https://www.alibabacloud.com/help/en/functioncompute/fc/http-trigger-invoking-function). Everything the
benchmark measures "as FC calls it" goes through :func:`event_bytes` and :class:`FcContext`:

- every invocation gets its own event: a fresh ``requestContext.requestId`` and a fresh bytes object,
  serialised from a dict built for that call, so the handler decodes and checks a whole event each time
  and nothing it would do is skipped by reuse;
- building those bytes is the platform's cost, not the function's: callers build them *before* the
  clock starts, and check the answer (parse its body, look for the VideoId) *after* it stops - on FC
  the runtime only serialises the returned struct. :class:`Staged` keeps the three steps apart.

:func:`wsgi_front_end` is the benchmark's stand-in for FC's HTTP front end when a function is served over
HTTP (bench/serve.py): a few lines that turn a WSGI request into that event, call the deployed handler
and write its response struct back. It is deliberately this small (no Flask, no routing: one function,
as one HTTP trigger serves one function) so that the HTTP-hop figures show the function plus the local
HTTP server, not a framework the platform does not run. The local Flask shim
(``upload_broker.local.create_app``, ``--app flask``) does the same job with Werkzeug in front and
routes every function; it can be measured with ``bench/run.py --app flask``.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

FUNCTION = "create_upload_video"
# The function refuses bodies over 64 KiB; the front end reads one byte more so the refusal can be made.
MAX_BODY_READ = 64 * 1024 + 1
_SEQUENCE = itertools.count(1)
_PROCESS_TAG = os.urandom(4).hex()

_REASONS = {
    200: "OK", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 409: "Conflict", 413: "Payload Too Large", 415: "Unsupported Media Type",
    429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
}


@dataclass(frozen=True)
class FcContext:
    """The parts of FC 3.0's Python context that the broker reads (python3.12 carries no credentials)."""

    request_id: str
    function_name: str = FUNCTION
    credentials: Any = None


def new_request_id() -> str:
    """A request id shaped like FC's (``1-<hex time>-<hex>``), unique per call."""
    return f"1-{int(time.time()):08x}-{_PROCESS_TAG}{next(_SEQUENCE):016x}"


def event_bytes(
    method: str,
    path: str,
    body: bytes = b"",
    headers: Mapping[str, str] | None = None,
    *,
    request_id: str | None = None,
    source_ip: str = "127.0.0.1",
    query: Mapping[str, str] | None = None,
    domain: str = "bench.cn-shanghai.fcapp.run",
) -> tuple[bytes, str]:
    """``(event, request_id)``: FC 3.0's HTTP-trigger request struct for one call, as JSON bytes."""
    request_id = request_id or new_request_id()
    now = time.time()
    try:
        text, is_base64 = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, is_base64 = base64.b64encode(body).decode("ascii"), True
    headers = dict(headers or {})
    event = {
        "version": "v1",
        "rawPath": quote(path, safe="/:@!$&'()*+,;=-._~"),
        "body": text,
        "isBase64Encoded": is_base64,
        "headers": headers,
        "queryParameters": dict(query or {}),
        "requestContext": {
            "accountId": "1234567890",
            "domainName": domain,
            "domainPrefix": domain.split(".", 1)[0],
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("User-Agent", ""),
            },
            "requestId": request_id,
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            "timeEpoch": str(int(now * 1000)),
        },
    }
    return json.dumps(event).encode("utf-8"), request_id


def check_created(result: Any) -> dict[str, Any]:
    """The decoded body of a handler's response struct; raises unless it is a 200 with a VideoId."""
    if not isinstance(result, dict) or result.get("statusCode") != 200:
        raise RuntimeError(f"the handler answered {str(result)[:300]}")
    answer = json.loads(result["body"])
    if not answer.get("VideoId"):
        raise RuntimeError(f"the handler answered without a VideoId: {result['body'][:300]}")
    return answer


def _no_check(result: Any) -> None:
    return None


@dataclass(frozen=True)
class Staged:
    """A call in three steps, only the middle one timed: ``prepare()`` builds the input (the platform's
    work), ``run(prepared)`` is the call, ``check(result)`` verifies the answer (the harness's work)."""

    prepare: Callable[[], Any]
    run: Callable[[Any], Any]
    check: Callable[[Any], Any] = _no_check

    def timed(self, clock: Callable[[], int] = time.perf_counter_ns) -> int:
        """One call; returns the ``clock`` ticks of ``run`` alone. ``check`` raises on a wrong answer."""
        prepared = self.prepare()
        started = clock()
        result = self.run(prepared)
        elapsed = clock() - started
        self.check(result)
        return elapsed


def create_invocation(handler: Callable[[Any, Any], Any], authorization: str, body: bytes,
                      extra_headers: Callable[[], Mapping[str, str]] | None = None) -> Staged:
    """POST /v1/videos as FC invokes ``handler``: a new event and context per call, built untimed."""
    base = {"Authorization": authorization, "Content-Type": "application/json", "User-Agent": "bench/1.0"}

    def prepare() -> tuple[bytes, FcContext]:
        headers = {**base, **extra_headers()} if extra_headers else base
        event, request_id = event_bytes("POST", "/v1/videos", body, headers)
        return event, FcContext(request_id)

    def run(prepared: tuple[bytes, FcContext]) -> Any:
        return handler(*prepared)

    return Staged(prepare, run, check_created)


def wsgi_front_end(handler: Callable[[Any, Any], Any], function_name: str = FUNCTION) -> Callable:
    """A WSGI app that plays FC's HTTP trigger for one function: request → event bytes → handler → response."""

    def app(environ: dict, start_response: Callable) -> list[bytes]:
        length = environ.get("CONTENT_LENGTH") or ""
        declared = int(length) if length.isdigit() else None
        # Like FC, a declared length over the limit is not read: the header reaches the function, which refuses it.
        body = environ["wsgi.input"].read(MAX_BODY_READ) if declared is None or declared < MAX_BODY_READ else b""
        headers: dict[str, str] = {}
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                name = "-".join(part.capitalize() for part in key[5:].split("_"))
            elif key in ("CONTENT_TYPE", "CONTENT_LENGTH") and value:
                name = "-".join(part.capitalize() for part in key.split("_"))
            else:
                continue
            headers[name] = value
        # WSGI gives the path as latin-1 decoded bytes; FC's requestContext.http.path is the decoded text.
        path = environ.get("PATH_INFO", "/").encode("latin-1").decode("utf-8", "replace") or "/"
        query = {}
        if environ.get("QUERY_STRING"):
            from urllib.parse import parse_qs

            query = {k: ",".join(v) for k, v in parse_qs(environ["QUERY_STRING"], keep_blank_values=True).items()}
        event, request_id = event_bytes(environ["REQUEST_METHOD"], path, body, headers,
                                        source_ip=environ.get("REMOTE_ADDR", ""), query=query,
                                        domain=environ.get("HTTP_HOST", "127.0.0.1"))
        result = handler(event, FcContext(request_id, function_name))
        data = result.get("body") or ""
        payload = base64.b64decode(data) if result.get("isBase64Encoded") else data.encode("utf-8")
        status = int(result["statusCode"])
        response_headers = [(k, v) for k, v in (result.get("headers") or {}).items() if k.lower() != "content-length"]
        response_headers.append(("Content-Length", str(len(payload))))
        start_response(f"{status} {_REASONS.get(status, 'Unknown')}", response_headers)
        return [payload]

    return app
