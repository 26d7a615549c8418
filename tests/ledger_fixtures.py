"""Fixtures for the ledger's tests: every backend, a threaded HTTP server, a private Redis to kill.

Import what a module uses (``from tests.ledger_fixtures import ledger, ledger_url, ...``). ``ledger_url``
is parametrized over ``sqlite``, ``redis`` and ``tablestore``, so every test that uses it runs on all three.

Redis tests use the server on 127.0.0.1:6379, database 15, under a key prefix unique to the test, and
delete that prefix afterwards. If that server does not answer, the Redis cases are skipped locally and
fail loudly in CI (env ``CI`` set): a backend must never go untested silently.

Tablestore tests use one fake Tablestore (tests/fakes/tablestore.py) for the session, started on first use,
with a table prefix unique to the test whose tables are dropped afterwards. The fake knows the tests'
AccessKey, which the test also puts in ``ALIBABA_CLOUD_ACCESS_KEY_ID``/``_SECRET`` (as Function Compute puts
the role's there), so a ledger opened from its URL alone - the audit CLI's - signs as the broker's does.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

REDIS_TEST_URL = os.environ.get("BROKER_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
BACKENDS = ("sqlite", "redis", "tablestore")


def require_redis(url: str = REDIS_TEST_URL) -> None:
    """Skip (or, with env CI set, fail) when the test Redis does not answer."""
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=1.0)
    try:
        client.ping()
    except redis.RedisError as error:
        message = f"Redis at {url} is not reachable ({type(error).__name__}); start it with `redis-server`"
        if os.environ.get("CI"):
            pytest.fail(message + " - CI must run the Redis ledger tests", pytrace=False)
        pytest.skip(message)
    finally:
        client.close()


def delete_prefix(url: str, prefix: str) -> int:
    """Delete every key under ``prefix`` (SCAN, never KEYS; in batches of 1,000); how many were deleted.
    The tests' cleanup, and the benchmarks' (bench/run.py, bench/list_uploads.py)."""
    import redis

    client = redis.Redis.from_url(url)
    deleted, batch = 0, []
    try:
        for key in client.scan_iter(match=prefix + "*", count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                deleted += client.delete(*batch)
                batch = []
        if batch:
            deleted += client.delete(*batch)
    finally:
        client.close()
    return deleted


@pytest.fixture
def redis_ledger_url() -> Iterator[str]:
    """A Redis ledger URL with a key prefix of its own, deleted after the test."""
    require_redis()
    prefix = f"test:{uuid.uuid4().hex}:"
    yield f"{REDIS_TEST_URL}?prefix={prefix}"
    delete_prefix(REDIS_TEST_URL, prefix)


_FAKE_TABLESTORE = None


def shared_fake_tablestore():
    """One fake Tablestore instance for the session (started on first use); each test uses its own table prefix."""
    global _FAKE_TABLESTORE
    if _FAKE_TABLESTORE is None:
        from tests.conftest import TEST_KEY_ID, TEST_KEY_SECRET
        from tests.fakes.tablestore import FakeTablestore

        _FAKE_TABLESTORE = FakeTablestore({TEST_KEY_ID: TEST_KEY_SECRET}).start()
        atexit.register(_FAKE_TABLESTORE.stop)
    return _FAKE_TABLESTORE


def use_test_credentials(monkeypatch) -> None:
    """The tests' AccessKey in the ``ALIBABA_CLOUD_*`` variables, where a ledger opened from a URL finds it."""
    from tests.conftest import TEST_KEY_ID, TEST_KEY_SECRET

    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_ID", TEST_KEY_ID)
    monkeypatch.setenv("ALIBABA_CLOUD_ACCESS_KEY_SECRET", TEST_KEY_SECRET)
    monkeypatch.delenv("ALIBABA_CLOUD_SECURITY_TOKEN", raising=False)


def _tablestore_url(monkeypatch) -> Iterator[str]:
    fake = shared_fake_tablestore()
    use_test_credentials(monkeypatch)
    prefix = f"t{uuid.uuid4().hex[:12]}_"
    yield fake.ledger_url(prefix)
    fake.drop_tables(prefix)


@pytest.fixture
def tablestore_ledger_url(monkeypatch) -> Iterator[str]:
    """A Tablestore ledger URL on the session's fake, with a table prefix of its own, dropped after the test."""
    yield from _tablestore_url(monkeypatch)


@pytest.fixture(params=BACKENDS)
def ledger_url(request, tmp_path) -> Iterator[str]:
    """``sqlite:///<tmp>/ledger.sqlite3``, a prefixed Redis URL or a prefixed Tablestore URL (on the fake):
    every user of it runs on every backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    elif request.param == "redis":
        yield request.getfixturevalue("redis_ledger_url")
    else:
        yield from _tablestore_url(request.getfixturevalue("monkeypatch"))


@pytest.fixture
def ledger(ledger_url):
    from upload_broker.ledger import open_ledger

    opened = open_ledger(ledger_url)
    yield opened
    opened.close()


# --- a real threaded HTTP server ------------------------------------------------------------------------


class LiveServer:
    """A waitress server (32 threads) on 127.0.0.1:<free port> hosting a WSGI app."""

    def __init__(self, app, threads: int = 32) -> None:
        from waitress.server import create_server

        self._server = create_server(app, host="127.0.0.1", port=0, threads=threads, connection_limit=200)
        self.url = f"http://127.0.0.1:{self._server.effective_port}"
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.close()
        self._server.task_dispatcher.shutdown(timeout=5)


@pytest.fixture
def live_server(app) -> Iterator[LiveServer]:
    with LiveServer(app) as server:
        yield server


# --- a private Redis that a test may kill ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    """``redis-server --port <port> --save "" --appendonly no`` as a subprocess: start, kill, start again."""

    def __init__(self, port: int | None = None) -> None:
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            message = "redis-server is not installed"
            if os.environ.get("CI"):
                pytest.fail(message, pytrace=False)
            pytest.skip(message)
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        import redis

        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.RedisError:
                if time.monotonic() > deadline:
                    raise RuntimeError("the private redis-server did not start") from None
                time.sleep(0.05)
        client.close()
        return self

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def __enter__(self) -> PrivateRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()
