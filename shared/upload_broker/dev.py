"""Local commands behind ``make run`` and ``make invoke``.

``run``: serve every route on 127.0.0.1:$PORT under waitress (a production WSGI server, threaded like a
Function Compute instance with instance concurrency). With no upstream credentials in the environment it
first starts the project's fake upstreams (VOD, ICE, Wangsu, OSS) and a development signing secret, and
prints a ready token and a ``curl`` line. With credentials and endpoints in the environment it uses those
and starts no fake.

``invoke OP EVENT``: run ``functions/OP/index.py``'s ``handler(event, context)`` once with an FC 3.0
HTTP-trigger event (``tests/events/OP.json``; API Gateway events are in ``tests/events/apigateway/``),
against the fakes, and print the response struct — the way Function Compute calls it. A refresh first
invokes its create function and refreshes what that created.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Obviously fake keys: the fakes accept exactly these, nothing real ever does.
DEV_KEY_ID = "LTAI-dev-key-not-real"
DEV_KEY_SECRET = "dev-secret-not-real-000000"  # noqa: S105 - a fake key for the fakes
DEV_WANGSU_KEY = "ws-dev-key-not-real"
DEV_WANGSU_SECRET = "ws-dev-secret-not-real"  # noqa: S105 - a fake key for the fakes
FAKE_PORTS = {"VOD": 9001, "ICE": 9002, "WANGSU": 9003, "OSS": 9004}


def start_fakes(environ: dict[str, str], *, fixed_ports: bool = True) -> tuple[list[str], Callable[[], None]]:
    """Start the fakes the environment lacks credentials for; set their endpoints into ``environ``."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    started: list = []
    notes: list[str] = []
    port = (lambda name: FAKE_PORTS[name]) if fixed_ports else (lambda name: 0)

    if not environ.get("ALIBABA_CLOUD_ACCESS_KEY_ID"):
        from tests.fakes.aliyun_rpc import FakeIce, FakeVod

        keys = {DEV_KEY_ID: DEV_KEY_SECRET}
        oss = None
        try:
            from tests.fakes.oss import FakeOss
        except ImportError:
            FakeOss = None  # noqa: N806 - the class, when the fake OSS is present
        # A browser sends Host: <bucket>.localhost:<port> to a localhost endpoint, which resolves to loopback.
        oss_url = f"http://localhost:{FAKE_PORTS['OSS']}" if fixed_ports else None
        vod = FakeVod(keys, port=port("VOD"), **({"oss_endpoint": oss_url} if oss_url and FakeOss else {}))
        ice = FakeIce(keys, port=port("ICE"), **({"oss_endpoint": oss_url} if oss_url and FakeOss else {}))
        vod.start()
        ice.start()
        started += [vod, ice]
        if FakeOss is not None and fixed_ports:
            oss = _start_oss(FakeOss, [vod, ice], FAKE_PORTS["OSS"])
            if oss is not None:
                started.append(oss)
                notes.append(f"fake OSS   {oss.url}")
        environ.update(
            ALIBABA_CLOUD_ACCESS_KEY_ID=DEV_KEY_ID,
            ALIBABA_CLOUD_ACCESS_KEY_SECRET=DEV_KEY_SECRET,
            VOD_ENDPOINT=vod.url,
            ICE_ENDPOINT=ice.url,
        )
        notes += [f"fake VOD   {vod.url}", f"fake ICE   {ice.url}"]
    if not environ.get("WANGSU_ACCESS_KEY"):
        from tests.fakes.wangsu import FakeWangsu

        wangsu = FakeWangsu({DEV_WANGSU_KEY: DEV_WANGSU_SECRET}, port=port("WANGSU"))
        wangsu.start()
        started.append(wangsu)
        environ.update(WANGSU_ACCESS_KEY=DEV_WANGSU_KEY, WANGSU_SECRET_KEY=DEV_WANGSU_SECRET,
                       WANGSU_ENDPOINT=wangsu.url)
        notes.append(f"fake Wangsu {wangsu.url}")

    def stop() -> None:
        for fake in reversed(started):
            fake.stop()

    return notes, stop


def _start_oss(fake_oss_class, issuers, port):
    try:
        oss = fake_oss_class(issuers=issuers, port=port)
        oss.start()
        return oss
    except TypeError:
        return None


def ensure_dev_secret(environ: dict[str, str]) -> str | None:
    """A development HS256 secret when no token verification is configured; None if one is."""
    if any(environ.get(n) for n in ("BROKER_JWT_SECRET", "BROKER_JWT_PUBLIC_KEY", "BROKER_JWKS_URL")):
        return environ.get("BROKER_JWT_SECRET")
    environ["BROKER_JWT_SECRET"] = "dev-" + secrets.token_urlsafe(32)
    return environ["BROKER_JWT_SECRET"]


def dev_token(secret: str, sub: str = "dev-user", ttl: int = 12 * 3600, **claims) -> str:
    import jwt

    now = int(time.time())
    return jwt.encode({"sub": sub, "iat": now, "exp": now + ttl, **claims}, secret, algorithm="HS256")


def run(args: argparse.Namespace) -> int:
    environ = os.environ
    notes, stop_fakes = start_fakes(environ)
    secret = ensure_dev_secret(environ)
    environ.setdefault("BROKER_LEDGER_URL", f"sqlite:///{ROOT / '.broker' / 'ledger.sqlite3'}")
    (ROOT / ".broker").mkdir(exist_ok=True)
    environ.setdefault("BROKER_ALLOWED_ORIGINS", f"http://127.0.0.1:{environ.get('PORT', '8000')},"
                                                 f"http://localhost:{environ.get('PORT', '8000')}")
    from upload_broker.config import Config
    from upload_broker.errors import ConfigError

    try:
        config = Config.from_env()
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        stop_fakes()
        return 2
    from upload_broker.local import create_app, serve_http
    from upload_broker.runtime import configure_logging

    configure_logging()
    app = create_app(config)
    base = f"http://127.0.0.1:{config.port}"
    print("upload credential broker", flush=True)
    for note in notes:
        print(f"  {note}")
    if secret:
        token = dev_token(secret)
        print(f"\n  development token (user dev-user, 12 h):\n  export TOKEN={token}\n")
        print("  try it:")
        print(f"  curl -s -X POST {base}/v1/videos -H \"Authorization: Bearer $TOKEN\" "
              "-H 'Content-Type: application/json' -d '{\"Title\":\"My first upload\",\"FileName\":\"movie.mp4\"}'")
    print(f"\n  serving every route on {base} (Ctrl-C stops)", flush=True)
    try:
        serve_http(app, host="127.0.0.1", port=config.port, threads=args.threads)
    finally:
        stop_fakes()
    return 0


def invoke(args: argparse.Namespace) -> int:
    functions = function_names()
    if args.op not in functions:
        print(f"make invoke: no function {args.op!r}; OP is one of: {', '.join(functions)}", file=sys.stderr)
        return 2
    event_path = Path(args.event)
    if not event_path.is_file():
        print(f"make invoke: no event file {str(event_path)!r}; write one like tests/events/{args.op}.json "
              f"or pass EVENT=<file>", file=sys.stderr)
        return 2
    try:
        event_text = event_path.read_text(encoding="utf-8")
        json.loads(event_text)
    except (OSError, UnicodeDecodeError, ValueError) as error:
        print(f"make invoke: {event_path} is not a JSON event ({type(error).__name__})", file=sys.stderr)
        return 2

    environ = os.environ
    _, stop_fakes = start_fakes(environ, fixed_ports=False)
    secret = ensure_dev_secret(environ)
    with tempfile.TemporaryDirectory(prefix="broker-invoke-") as scratch:
        # One ledger file for the create and the refresh: they are two functions, as on FC.
        environ.setdefault("BROKER_LEDGER_URL", f"sqlite:///{Path(scratch) / 'ledger.sqlite3'}")
        try:
            from upload_broker.errors import ConfigError

            token = dev_token(secret) if secret else environ.get("TOKEN", "")
            event_text = event_text.replace("${TOKEN}", token)
            try:
                for placeholder in ("${VideoId}", "${MediaId}"):
                    if placeholder in event_text:
                        # A refresh needs a resource this user created: create one first, as a client would.
                        event_text = event_text.replace(placeholder, _create_for(args.op, token))
                result = _handler(args.op)(event_text.encode("utf-8"), _Context(args.op))
            except ConfigError as error:
                print(f"configuration error: {error}", file=sys.stderr)
                return 2
            if isinstance(result, str):  # an API Gateway event is answered as JSON text
                result = json.loads(result)
            try:
                result["body"] = json.loads(result["body"])
            except (ValueError, TypeError):
                pass
            print(json.dumps(result, indent=2, ensure_ascii=False))
            return 0 if int(result["statusCode"]) < 500 else 1
        finally:
            stop_fakes()


def function_names() -> list[str]:
    """The function folders (each ``functions/<name>/index.py``)."""
    return sorted(p.parent.name for p in (ROOT / "functions").glob("*/index.py"))


def _handler(function: str) -> Callable:
    """The function's production ``handler``, imported as Function Compute imports it."""
    import importlib

    return importlib.import_module(f"functions.{function}.index").handler


def _create_for(refresh_function: str, token: str) -> str:
    """Invoke the create that issues what ``refresh_function`` refreshes; return the new resource's id."""
    from upload_broker.local import discover_operations

    operations = {op.function: op for op in discover_operations()}
    refresh = operations[refresh_function]
    create = next(op for op in operations.values()
                  if op.is_create and op.provider == refresh.provider and op.kind == refresh.kind)
    event_text = (ROOT / "tests" / "events" / f"{create.function}.json").read_text(encoding="utf-8")
    result = _handler(create.function)(event_text.replace("${TOKEN}", token).encode("utf-8"), _Context(create.function))
    body = json.loads(result["body"])
    if result["statusCode"] != 200:
        raise SystemExit(f"make invoke: the create before the refresh failed: {json.dumps(body)}")
    return body[create.id_field]


@dataclass(frozen=True)
class _Context:
    """The parts of FC 3.0's Python context the broker reads (python3.12 carries no credentials)."""

    function_name: str
    request_id: str = "1-00000000-local-invoke"
    credentials: None = None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m upload_broker.dev")
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="serve every route locally")
    run_parser.add_argument("--threads", type=int, default=int(os.environ.get("BROKER_THREADS", "32")))
    invoke_parser = sub.add_parser("invoke", help="run one function's handler once with an FC 3.0 event")
    invoke_parser.add_argument("op")
    invoke_parser.add_argument("event")
    args = parser.parse_args(argv)
    return run(args) if args.command == "run" else invoke(args)


if __name__ == "__main__":
    sys.exit(main())
