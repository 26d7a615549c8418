"""The local shim: a Flask app that plays Function Compute 3.0 for every function.

Each HTTP request is routed as the custom domain routes it (the path to the function whose route it is),
turned into FC 3.0's HTTP-trigger event, handed to that function's ``handler(event, context)`` as JSON
bytes — the production entry point, byte for byte — and the response struct is turned back into HTTP.
So ``make run`` and every test through it exercise exactly what Function Compute calls.

The event follows "Use an HTTP trigger to invoke a function" (FC 3.0, built-in runtimes):
https://www.alibabacloud.com/help/en/functioncompute/fc/http-trigger-invoking-function
"""

from __future__ import annotations

import base64
import importlib
import json
import os
import pkgutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from flask import Flask
from flask import Response as FlaskResponse
from flask import request as flask_request

from upload_broker.call import Function, Operation
from upload_broker.config import Config
from upload_broker.http import MAX_BODY_BYTES
from upload_broker.runtime import Broker, fc_handler

if TYPE_CHECKING:
    from werkzeug.wrappers import Response as WerkzeugResponse  # flask's Response and redirect()'s

PROJECT_ROOT = Path(__file__).resolve().parents[2]
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def discover_functions() -> list[Function]:
    """Every ``functions/<op>/operation.py``'s ``operation``, in folder order."""
    import functions

    found = []
    for info in sorted(pkgutil.iter_modules(functions.__path__), key=lambda i: i.name):
        if info.ispkg:
            module = importlib.import_module(f"functions.{info.name}.operation")
            found.append(module.operation)
    return found


def discover_operations() -> list[Operation]:
    """The functions that call an upstream operation (every one but a user's uploads and VOD's callbacks)."""
    return [function for function in discover_functions() if isinstance(function, Operation)]


@dataclass(frozen=True)
class LocalContext:
    """The parts of FC 3.0's Python context the broker reads (python3.12 carries no credentials)."""

    request_id: str
    function_name: str
    credentials: Any = None


class FunctionRouter:
    """Which function serves a path, as the custom domain in ``s.yaml`` routes it: each function's own
    route; anything else (``/healthz``, unknown paths) goes to the first function, whose pipeline answers
    it in JSON as every function does."""

    def __init__(self, broker: Broker, functions: list[Function]) -> None:
        self._functions = [(function, fc_handler(broker, [function])) for function in functions]

    def route(self, path: str) -> tuple[str, Callable[[Any, Any], Any]]:
        for operation, handler in self._functions:
            if operation.route.match(path) is not None:
                return operation.function, handler
        operation, handler = self._functions[0]
        return operation.function, handler


def platform_request_id(now: float) -> str:
    """A request id shaped as FC's (``1-<hex seconds>-<random>``)."""
    return f"1-{int(now):08x}-{os.urandom(12).hex()}"


def fc_event(path: str, now: float | None = None) -> dict[str, Any]:
    """FC 3.0's HTTP-trigger event for the current Flask request (the body is read at most 64 KiB + 1)."""
    now = time.time() if now is None else now
    body = b""
    declared = flask_request.content_length
    if declared is None or declared <= MAX_BODY_BYTES:
        # A declared length over the limit is never read: the header travels in the event and the
        # function refuses it. An undeclared (chunked) body is read one byte past the limit at most.
        body = flask_request.stream.read(MAX_BODY_BYTES + 1)
    try:
        text, is_base64 = body.decode("utf-8"), False
    except UnicodeDecodeError:
        # FC base64-encodes a body that is not text.
        text, is_base64 = base64.b64encode(body).decode("ascii"), True
    headers: dict[str, str] = {}
    for name, value in flask_request.headers.items():
        # A header sent twice arrives comma-joined, as FC joins multi-value headers.
        headers[name] = f"{headers[name]},{value}" if name in headers else value
    query: dict[str, str] = {name: ",".join(values) for name, values in flask_request.args.lists()}
    raw_path = flask_request.environ.get("RAW_URI") or flask_request.environ.get("REQUEST_URI") or ""
    raw_path = raw_path.split("?", 1)[0] or quote(path, safe="/:@!$&'()*+,;=-._~")
    return {
        "version": "v1",
        "rawPath": raw_path,
        "body": text,
        "isBase64Encoded": is_base64,
        "headers": headers,
        "queryParameters": query,
        "requestContext": {
            "accountId": "local",
            "domainName": flask_request.host,
            "domainPrefix": flask_request.host.split(".", 1)[0],
            "http": {
                "method": flask_request.method,
                "path": path,
                "protocol": flask_request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "sourceIp": flask_request.remote_addr or "",
                "userAgent": flask_request.headers.get("User-Agent", ""),
            },
            "requestId": platform_request_id(now),
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            "timeEpoch": str(int(now * 1000)),
        },
    }


def http_response(result: dict[str, Any]) -> FlaskResponse:
    """The function's response struct as an HTTP response."""
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode("utf-8")
    return FlaskResponse(data, status=int(result["statusCode"]), headers=result.get("headers") or {})


def create_app(config: Config | None = None, *, broker: Broker | None = None) -> Flask:
    """The local app; tests pass a ``config`` (or a whole ``broker``) instead of patching the environment."""
    broker = broker or Broker(config or Config.from_env())
    router = FunctionRouter(broker, discover_functions())
    app = Flask("upload_broker")
    app.config["broker"] = broker
    demo_dir = PROJECT_ROOT / "examples" / "web"

    @app.route("/", defaults={"path": ""}, methods=ALL_METHODS)
    @app.route("/<path:path>", methods=ALL_METHODS)
    def dispatch(path: str) -> WerkzeugResponse:
        if (path == "demo" or path.startswith("demo/")) and demo_dir.is_dir() and flask_request.method in ("GET",
                                                                                                          "HEAD"):
            from flask import redirect, send_from_directory

            if path == "demo":
                # The page's assets are relative ("app.js"): without the slash they would resolve to /app.js.
                return redirect("/demo/", code=301)
            return send_from_directory(demo_dir, path[len("demo/"):] or "index.html")
        function, handler = router.route(flask_request.path)
        event = fc_event(flask_request.path)
        context = LocalContext(event["requestContext"]["requestId"], function)
        return http_response(handler(json.dumps(event).encode("utf-8"), context))

    # Werkzeug's router refuses some requests before ``dispatch`` (a path with a newline, a method not
    # listed above) with an HTML page; the broker's own pipeline answers them, in JSON, as a function would.
    app.register_error_handler(404, lambda _: dispatch(flask_request.path))
    app.register_error_handler(405, lambda _: dispatch(flask_request.path))
    return app


def serve_http(app: Flask, *, host: str, port: int, threads: int) -> None:
    """Serve ``app`` under waitress, refusing a body over 64 KiB before it is read.

    waitress buffers a whole request body before it calls the app, so the limit is its own
    ``max_request_body_size``: a request that declares ``Content-Length: 300000000`` is answered the moment
    its headers arrive, and a chunked body is cut off one byte past the limit. waitress renders that
    refusal itself, in text; :func:`_json_body_too_large` makes it the broker's JSON 413.
    """
    import waitress.parser
    from waitress import serve

    waitress.parser.RequestEntityTooLarge = _json_body_too_large()
    serve(app, host=host, port=port, threads=threads, ident="upload-broker", channel_timeout=30,
          connection_limit=256, max_request_body_size=MAX_BODY_BYTES + 1)  # waitress refuses at >= the size


def _json_body_too_large() -> type:
    from waitress.utilities import RequestEntityTooLarge

    from upload_broker.errors import PayloadTooLarge
    from upload_broker.http import refusal

    class JsonBodyTooLarge(RequestEntityTooLarge):
        def to_response(self, ident: str | None = None) -> tuple[str, list[tuple[str, str]], bytes]:
            response = refusal(PayloadTooLarge(), platform_request_id(time.time()))
            return "413 Payload Too Large", list(response.headers.items()), response.encoded_body()

    return JsonBodyTooLarge
