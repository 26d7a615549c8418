"""Local commands behind ``make run``, ``make invoke`` and ``make token``.

``run``: serve every route on 127.0.0.1:$PORT under waitress, through the shim that plays Function Compute
(:mod:`upload_broker.local`). With no upstream credentials in the environment it
first starts the project's fake upstreams (VOD, ICE, Wangsu, OSS) and a development signing secret, and
prints a ready token and a ``curl`` line. With credentials and endpoints in the environment it uses those
and starts no fake. The development secret is kept in ``.broker/`` so tokens outlive a restart; when the
operator configured token verification, no token is ever printed.

``token --sub alice``: a development token for any user, accepted by ``make run``.

``invoke OP EVENT``: run ``functions/OP/index.py``'s ``handler(event, context)`` once with an FC 3.0
HTTP-trigger event (``tests/events/OP.json``; API Gateway events are in ``tests/events/apigateway/``),
against the fakes, and print the response struct — the way Function Compute calls it. A refresh first
invokes its create function and refreshes what that created.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import secrets
import socket
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass
from pathlib import Path

from upload_broker.config import TOKEN_SETTINGS

ROOT = Path(__file__).resolve().parents[2]
# Obviously fake keys: the fakes accept exactly these, nothing real ever does.
DEV_KEY_ID = "LTAI-dev-key-not-real"
DEV_KEY_SECRET = "dev-secret-not-real-000000"  # noqa: S105 - a fake key for the fakes
DEV_WANGSU_KEY = "ws-dev-key-not-real"
DEV_WANGSU_SECRET = "ws-dev-secret-not-real"  # noqa: S105 - a fake key for the fakes
# The fake VOD signs its callbacks with this, as the VOD console's authentication key would.
DEV_CALLBACK_KEY = "DevCallbackKey0NotReal"  # noqa: S105 - a fake key for the fakes


def state_dir() -> Path:
    """Where ``make run`` keeps what outlives it (the development secret, the ledger): ``.broker/``."""
    return Path(os.environ.get("BROKER_STATE_DIR") or ROOT / ".broker")


def start_fakes(environ: MutableMapping[str, str], *, port: int | str = 8000) -> tuple[list[str], Callable[[], None]]:
    """Start the fakes the environment lacks credentials for, each on a free port; set their endpoints
    into ``environ``. The fake VOD sends its signed upload-complete callbacks to the broker on ``port``, as
    the VOD console's HTTP callback would. Returns the banner's lines and a function that stops them."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    started: list = []
    notes: list[str] = []

    if not environ.get("ALIBABA_CLOUD_ACCESS_KEY_ID"):
        from tests.fakes.aliyun_rpc import FakeIce, FakeVod
        from tests.fakes.oss import FakeOss

        keys = {DEV_KEY_ID: DEV_KEY_SECRET}
        oss = FakeOss().start()
        # A browser sends Host: <bucket>.localhost:<port> to a localhost endpoint, which resolves to loopback.
        oss_url = f"http://localhost:{oss.port}"
        # The console's callback settings: the operator's own, if set, else the local broker's route.
        environ.setdefault("VOD_CALLBACK_URL", f"http://127.0.0.1:{port}/v1/callbacks/vod")
        environ.setdefault("VOD_CALLBACK_AUTH_KEY", DEV_CALLBACK_KEY)
        vod = FakeVod(keys, oss_endpoint=oss_url, callback_url=environ["VOD_CALLBACK_URL"],
                      callback_auth_key=environ["VOD_CALLBACK_AUTH_KEY"].split(",")[0].strip()).start()
        ice = FakeIce(keys, oss_endpoint=oss_url).start()
        oss.issuers += [vod, ice]  # the fake OSS accepts the credentials these two issue
        started += [oss, vod, ice]
        environ.update(
            ALIBABA_CLOUD_ACCESS_KEY_ID=DEV_KEY_ID,
            ALIBABA_CLOUD_ACCESS_KEY_SECRET=DEV_KEY_SECRET,
            VOD_ENDPOINT=vod.url,
            ICE_ENDPOINT=ice.url,
        )
        notes += [f"fake VOD    {vod.url}", f"fake ICE    {ice.url}", f"fake OSS    {oss_url}",
                  f"VOD callbacks to {environ['VOD_CALLBACK_URL']} (key "
                  + (DEV_CALLBACK_KEY if environ["VOD_CALLBACK_AUTH_KEY"] == DEV_CALLBACK_KEY
                     else "your VOD_CALLBACK_AUTH_KEY") + ")"]
    if not environ.get("WANGSU_ACCESS_KEY"):
        from tests.fakes.wangsu import FakeWangsu

        wangsu = FakeWangsu({DEV_WANGSU_KEY: DEV_WANGSU_SECRET}).start()
        started.append(wangsu)
        environ.update(WANGSU_ACCESS_KEY=DEV_WANGSU_KEY, WANGSU_SECRET_KEY=DEV_WANGSU_SECRET,
                       WANGSU_ENDPOINT=wangsu.url)
        notes.append(f"fake Wangsu {wangsu.url}")

    def stop() -> None:
        for fake in reversed(started):
            fake.stop()

    return notes, stop


def operator_token_setting(environ: Mapping[str, str]) -> str | None:
    """The operator's own token setting, if one is in the environment."""
    return next((name for name in TOKEN_SETTINGS if (environ.get(name) or "").strip()), None)


def dev_secret() -> str:
    """The development HS256 secret, made once and kept in ``.broker/dev-jwt-secret`` (mode 0600), so a
    token stays good across restarts of ``make run``. Never an operator's secret."""
    folder = state_dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = folder / "dev-jwt-secret"
    try:
        # O_EXCL: two commands starting at once do not overwrite each other's secret.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        secret = path.read_text(encoding="ascii").strip()
        if len(secret) >= 32:
            return secret
        raise SystemExit(f"{path} is not a development secret; delete it and run again") from None
    with os.fdopen(fd, "w", encoding="ascii") as file:
        file.write("dev-" + secrets.token_urlsafe(32) + "\n")
    return dev_secret()


def ensure_dev_secret(environ: MutableMapping[str, str]) -> str | None:
    """The development secret, set as ``BROKER_JWT_SECRET``; None when the operator configured tokens
    (then nothing here signs a token: a token signed with an operator's secret is a real credential)."""
    if operator_token_setting(environ):
        return None
    environ["BROKER_JWT_SECRET"] = dev_secret()
    return environ["BROKER_JWT_SECRET"]


def dev_token(secret: str, sub: str = "dev-user", ttl: int = 12 * 3600, **claims) -> str:
    import jwt

    now = int(time.time())
    return jwt.encode({"sub": sub, "iat": now, "exp": now + ttl, **claims}, secret, algorithm="HS256")


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def port_taken(port: int) -> int:
    print(f"make run: port {port} on 127.0.0.1 is already in use (another make run?). Stop that, or pick "
          f"another port: make run PORT={port + 1}", file=sys.stderr)
    return 2


def run(args: argparse.Namespace) -> int:
    environ = os.environ
    from upload_broker.config import Config
    from upload_broker.errors import ConfigError

    port_text = environ.get("PORT", "8000")
    if port_text.isdigit() and not port_is_free(int(port_text)):
        return port_taken(int(port_text))  # before a fake starts or a token is printed
    notes, stop_fakes = start_fakes(environ, port=port_text)
    secret = ensure_dev_secret(environ)
    environ.setdefault("BROKER_LEDGER_URL", f"sqlite:///{state_dir() / 'ledger.sqlite3'}")
    state_dir().mkdir(mode=0o700, parents=True, exist_ok=True)
    environ.setdefault("BROKER_ALLOWED_ORIGINS", f"http://127.0.0.1:{port_text},http://localhost:{port_text}")
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
        print(f"\n  development token (user dev-user, 12 h; another user: make token SUB=alice):\n"
              f"  export TOKEN={token}\n")
        print("  try it:")
        print(f"  curl -s -X POST {base}/v1/videos -H \"Authorization: Bearer $TOKEN\" "
              "-H 'Content-Type: application/json' -d '{\"Title\":\"My first upload\",\"FileName\":\"movie.mp4\"}'")
    else:
        print(f"\n  tokens: verified with your {operator_token_setting(environ)}; no development token is printed "
              "(use a token from your identity provider)")
    print(f"\n  web demo: {base}/demo/")
    print(f"  serving every route on {base} (Ctrl-C stops)", flush=True)
    try:
        serve_http(app, host="127.0.0.1", port=config.port, threads=args.threads)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:  # taken between the check and the bind
            return port_taken(config.port)
        raise
    except KeyboardInterrupt:
        print("\n  stopped", flush=True)  # Ctrl-C is how a person stops it: no traceback
    finally:
        stop_fakes()
    return 0


def token(args: argparse.Namespace) -> int:
    """``make token SUB=alice [HOURS=12]``: a development token that ``make run`` accepts, on stdout alone."""
    setting = operator_token_setting(os.environ)
    if setting:
        print(f"make token: {setting} is set, so the broker verifies tokens with your own key; make token signs "
              "only with the local development secret. Use a token from your identity provider.", file=sys.stderr)
        return 2
    if not args.sub.strip() or not 0 < args.hours <= 24 * 30:
        print("usage: make token SUB=<user> [HOURS=12] (HOURS between 0 and 720)", file=sys.stderr)
        return 2
    print(dev_token(dev_secret(), sub=args.sub, ttl=int(args.hours * 3600)))
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
    _, stop_fakes = start_fakes(environ)
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
                        event_text = event_text.replace(placeholder, _create_for(args.op, placeholder[2:-1], token))
                event_text = _signed_callback(event_text, environ)
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


def _create_for(function: str, id_field: str, token: str) -> str:
    """Invoke the create that issues what ``function`` refreshes (or, for any other function, the create whose
    answer carries ``id_field``); return the new resource's id."""
    from upload_broker.local import discover_operations

    operations = {op.function: op for op in discover_operations()}
    refresh = operations.get(function)
    if refresh is not None:
        create = next(op for op in operations.values()
                      if op.is_create and op.provider == refresh.provider and op.kind == refresh.kind)
    else:  # vod_callback: an upload to say is complete
        create = next(op for op in operations.values()
                      if op.is_create and op.id_field == id_field and op.kind in ("video", "media"))
    event_text = (ROOT / "tests" / "events" / f"{create.function}.json").read_text(encoding="utf-8")
    result = _handler(create.function)(event_text.replace("${TOKEN}", token).encode("utf-8"), _Context(create.function))
    body = json.loads(result["body"])
    if result["statusCode"] != 200:
        raise SystemExit(f"make invoke: the create before the refresh failed: {json.dumps(body)}")
    return body[create.id_field]


def _signed_callback(event_text: str, environ: Mapping[str, str]) -> str:
    """``${VOD_TIMESTAMP}`` and ``${VOD_SIGNATURE}`` as VOD would sign a callback now, with the callback URL
    and key in the environment (the fake VOD's, unless the operator set their own)."""
    if "${VOD_TIMESTAMP}" not in event_text:
        return event_text
    from upload_broker.callbacks import signature

    timestamp = str(int(time.time()))
    url = environ.get("VOD_CALLBACK_URL", "")
    key = (environ.get("VOD_CALLBACK_AUTH_KEY") or "").split(",")[0].strip()
    signed = signature(url, timestamp, key)
    return event_text.replace("${VOD_TIMESTAMP}", timestamp).replace("${VOD_SIGNATURE}", signed)


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
    token_parser = sub.add_parser("token", help="print a development token for a user")
    token_parser.add_argument("--sub", default="dev-user")
    token_parser.add_argument("--hours", type=float, default=12.0)
    args = parser.parse_args(argv)
    return {"run": run, "invoke": invoke, "token": token}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
