"""Shared fixtures: fake upstreams (real HTTP servers), a config pointing at them, the app, tokens.

The chain is ``fakes -> config -> broker -> app -> client`` (flask's tutorial shape); every test gets its
own fakes and its own ledger file, so no state leaks between tests.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from tests.fakes.aliyun_rpc import FakeIce, FakeVod
from tests.jwt_helpers import HS256_SECRET, hs256
from upload_broker.config import Config, Credentials
from upload_broker.runtime import Broker

# Obviously fake test credentials; the fakes accept exactly these.
TEST_KEY_ID = "LTAI-test-key-id-not-real"
TEST_KEY_SECRET = "test-secret-not-real-0000"
WANGSU_TEST_KEY = "ws-test-access-key"
WANGSU_TEST_SECRET = "ws-test-secret-not-real"
ALLOWED_ORIGIN = "https://app.example.com"


@pytest.fixture
def fake_vod() -> Iterator[FakeVod]:
    with FakeVod({TEST_KEY_ID: TEST_KEY_SECRET}) as fake:
        yield fake


@pytest.fixture
def fake_ice() -> Iterator[FakeIce]:
    with FakeIce({TEST_KEY_ID: TEST_KEY_SECRET}) as fake:
        yield fake


@pytest.fixture
def fake_wangsu():
    from tests.fakes.wangsu import FakeWangsu

    with FakeWangsu({WANGSU_TEST_KEY: WANGSU_TEST_SECRET}) as fake:
        yield fake


@pytest.fixture
def config_overrides() -> dict:
    """Override in a test module (or parametrize) to change settings; merged into ``config``."""
    return {}


@pytest.fixture
def config(fake_vod, fake_ice, fake_wangsu, tmp_path, config_overrides) -> Config:
    settings = dict(
        credentials=Credentials(TEST_KEY_ID, TEST_KEY_SECRET),
        vod_endpoint=fake_vod.url,
        ice_endpoint=fake_ice.url,
        wangsu_access_key=WANGSU_TEST_KEY,
        wangsu_secret_key=WANGSU_TEST_SECRET,
        wangsu_endpoint=fake_wangsu.url,
        jwt_secret=HS256_SECRET,
        allowed_origins=(ALLOWED_ORIGIN,),
        ledger_url=f"sqlite:///{tmp_path / 'ledger.sqlite3'}",
        upstream_connect_timeout=1.0,
        upstream_read_timeout=2.0,
        upstream_budget_seconds=4.0,
    )
    settings.update(config_overrides)
    return Config(**settings)


@pytest.fixture
def broker(config) -> Iterator[Broker]:
    broker = Broker(config)
    yield broker
    broker.ledger.close()


@pytest.fixture
def app(broker):
    from upload_broker.local import create_app

    return create_app(broker=broker)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def token() -> Callable[..., str]:
    """``token("alice")`` → an ``Authorization`` header value for a fresh HS256 token of that user."""

    def make(sub: str = "alice", *, ttl: float = 300, **claims) -> str:
        now = time.time()
        payload = {"sub": sub, "iat": int(now), "exp": int(now + ttl), **claims}
        return "Bearer " + hs256(HS256_SECRET, payload)

    return make


@pytest.fixture
def auth(token) -> Callable[..., dict[str, str]]:
    """``auth("alice")`` → request headers carrying that user's token."""

    def make(sub: str = "alice", **claims) -> dict[str, str]:
        return {"Authorization": token(sub, **claims)}

    return make
