"""The local shim: a Flask app that mounts every function on its contract route.

Function Compute calls each function's WSGI handler directly; locally one Flask app serves them all, with
the same pipeline (:func:`upload_broker.http.serve`), so ``make run`` behaves like the deployed API.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from flask import Flask
from flask import Response as FlaskResponse
from flask import request as flask_request

from upload_broker.config import Config
from upload_broker.http import request_from_wsgi
from upload_broker.operations import Operation
from upload_broker.runtime import Broker

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def discover_operations() -> list[Operation]:
    """Every ``functions/<op>/operation.py``'s ``operation``, in folder order."""
    import functions

    operations = []
    for info in sorted(pkgutil.iter_modules(functions.__path__), key=lambda i: i.name):
        if info.ispkg:
            module = importlib.import_module(f"functions.{info.name}.operation")
            operations.append(module.operation)
    return operations


def create_app(config: Config | None = None, *, broker: Broker | None = None) -> Flask:
    """The local app; tests pass a ``config`` (or a whole ``broker``) instead of patching the environment."""
    broker = broker or Broker(config or Config.from_env())
    endpoints = broker.endpoints(discover_operations())
    app = Flask("upload_broker")
    app.config["broker"] = broker
    demo_dir = PROJECT_ROOT / "examples" / "web"

    @app.route("/", defaults={"path": ""}, methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
    @app.route("/<path:path>", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
    def dispatch(path: str) -> FlaskResponse:
        if (path == "demo" or path.startswith("demo/")) and demo_dir.is_dir() and flask_request.method == "GET":
            from flask import send_from_directory

            return send_from_directory(demo_dir, path[len("demo/"):] or "index.html")
        response = broker.serve(request_from_wsgi(flask_request.environ), endpoints)
        return FlaskResponse(response.encoded_body(), status=response.status, headers=response.headers)

    # Werkzeug's router refuses some requests before ``dispatch`` (a path with a newline, a method not
    # listed above) with an HTML page; the broker's own pipeline answers them, in JSON, as a function would.
    app.register_error_handler(404, lambda _: dispatch(flask_request.path))
    app.register_error_handler(405, lambda _: dispatch(flask_request.path))
    return app
