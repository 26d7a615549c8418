"""Helpers shared by the ledger's functional tests (quotas, idempotency, audit, outage)."""

from __future__ import annotations

import time

import pytest

from tests.jwt_helpers import HS256_SECRET, FakeClock, hs256
from upload_broker.runtime import Broker

VIDEO = {"Title": "Holiday", "FileName": "holiday.mp4", "FileSize": 1000}


@pytest.fixture
def settings() -> dict:
    """Broker settings for a test; parametrize it to change them."""
    return {}


@pytest.fixture
def config_overrides(ledger_url, settings) -> dict:
    return {"ledger_url": ledger_url, **settings}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(time.time())


@pytest.fixture
def broker(config, clock):
    broker = Broker(config, clock=clock)
    yield broker
    try:
        broker.ledger.close()
    except Exception:
        pass


@pytest.fixture
def auth(clock):
    """``auth("alice", scope="...")``: headers with a token that is current on the broker's (fake) clock."""

    def make(sub: str = "alice", **claims) -> dict[str, str]:
        payload = {"sub": sub, "iat": int(clock.now), "exp": int(clock.now + 300), **claims}
        return {"Authorization": "Bearer " + hs256(HS256_SECRET, payload)}

    return make


def create(client, auth, user="alice", body=None, headers=None):
    return client.post("/v1/videos", json=VIDEO if body is None else body, headers={**auth(user), **(headers or {})})


def refresh(client, auth, video_id, user="alice"):
    return client.post(f"/v1/videos/{video_id}/refresh", headers=auth(user))
