"""What the real-client tests share: one clock, a fake OSS, a fake VOD pointing at it, the broker over real HTTP.

Import the ``*_fixture`` functions into a test module to use them (pytest finds a fixture by its ``name``, and the
``_fixture`` suffix keeps the imported names apart from the test parameters); they override the
conftest's ``fake_vod`` and ``broker`` so that the fake VOD, the fake OSS and the broker all read one
:class:`OffsetClock`. ``credential_lifetime`` (seconds) can be parametrized per test.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
import requests

from tests.conftest import TEST_KEY_ID, TEST_KEY_SECRET
from tests.fakes.aliyun_rpc import FakeVod
from tests.fakes.oss import FakeOss, OffsetClock
from upload_broker.runtime import Broker


@pytest.fixture(name="clock")
def clock_fixture() -> OffsetClock:
    return OffsetClock()


@pytest.fixture(name="credential_lifetime")
def credential_lifetime_fixture() -> int:
    return 60


@pytest.fixture(name="fake_oss")
def fake_oss_fixture(clock) -> Iterator[FakeOss]:
    with FakeOss(clock=clock) as oss:
        yield oss


@pytest.fixture(name="fake_vod")
def fake_vod_fixture(fake_oss, clock, credential_lifetime) -> Iterator[FakeVod]:
    with FakeVod(
        {TEST_KEY_ID: TEST_KEY_SECRET}, clock=clock, oss_endpoint=fake_oss.url, credential_lifetime=credential_lifetime
    ) as vod:
        fake_oss.add_issuer(vod)
        yield vod


@pytest.fixture(name="broker")
def broker_fixture(config, clock) -> Iterator[Broker]:
    broker = Broker(config, clock=clock)
    yield broker
    broker.ledger.close()


@dataclass
class BrokerServer:
    """The broker's local app served over real HTTP on 127.0.0.1, recording every ``(method, path)`` it serves."""

    url: str
    calls: list[tuple[str, str]] = field(default_factory=list)

    def called(self, method: str, path: str) -> int:
        return self.calls.count((method, path))


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - stdlib signature
        pass


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    block_on_close = False


@pytest.fixture(name="broker_server")
def broker_server_fixture(app) -> Iterator[BrokerServer]:
    # wsgiref rather than waitress: its shutdown() is clean from another thread (waitress's close() races its
    # select loop), and a test's few requests need no production server.
    recorded: list[tuple[str, str]] = []

    def recording(environ, start_response):
        recorded.append((environ["REQUEST_METHOD"], environ.get("PATH_INFO", "")))
        return app(environ, start_response)

    server = make_server("127.0.0.1", 0, recording, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="broker", daemon=True)
    thread.start()
    try:
        yield BrokerServer(f"http://127.0.0.1:{server.server_port}", recorded)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def decode(value: str) -> dict:
    """An UploadAddress / UploadAuth as the object it encodes."""
    return json.loads(base64.b64decode(value))


def broker_post(server: BrokerServer, path: str, authorization: str, body: dict) -> dict:
    response = requests.post(f"{server.url}{path}", json=body, headers={"Authorization": authorization}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()
