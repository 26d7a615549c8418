"""A Tablestore ledger on Function Compute: it signs with the function's credentials, refreshed as FC refreshes
them, through the real entry point (FC 3.0 HTTP-trigger events), against the fake Tablestore and fake VOD.
"""

from __future__ import annotations

import time
from dataclasses import replace
from types import SimpleNamespace

import pytest

from tests.fakes.tablestore import FakeTablestore
from tests.functional.test_entry_points import BODY, call, fc_event
from upload_broker.config import Credentials
from upload_broker.runtime import Broker, entry_point

ROLE = ("STS.role-key", "role-secret", "role-token")
FRESH_ROLE = ("STS.fresh-key", "fresh-secret", "fresh-token")


def context_with(key_id, secret, token):
    """python3.10's invocation context, which carries the role's current credentials."""
    return SimpleNamespace(request_id="r", credentials=SimpleNamespace(
        access_key_id=key_id, access_key_secret=secret, security_token=token))


@pytest.fixture
def fake_tablestore():
    # It knows the role's keys only: the environment's key (config.credentials) would be refused.
    with FakeTablestore({ROLE[0]: ROLE[1:], FRESH_ROLE[0]: FRESH_ROLE[1:]}) as fake:
        yield fake


@pytest.fixture
def handler(config, fake_vod, fake_tablestore):
    from functions.create_upload_video.operation import operation

    for key_id, secret, token in (ROLE, FRESH_ROLE):
        fake_vod.add_access_key(key_id, (secret, token))
    broker = Broker(replace(config, ledger_url=fake_tablestore.ledger_url(), quota_creates_per_day=100))
    yield entry_point(operation, broker=broker)
    broker.ledger.close()


def test_the_ledger_signs_with_the_invocation_contexts_credentials(handler, auth, fake_tablestore):
    status, _, body = call(handler, fc_event("POST", "/v1/videos", BODY, auth()), context_with(*ROLE))

    assert status == 200, body
    # The ownership record was written, and the fake knows no key but the role's.
    assert [row["owner"] for row in fake_tablestore.rows("upload_broker_resources")] == ["alice"]
    assert all(code != "OTSAuthFailed" for _, _, code in fake_tablestore.calls)


def test_fresh_context_credentials_replace_expired_ones(handler, auth, fake_tablestore):
    assert call(handler, fc_event("POST", "/v1/videos", BODY, auth()), context_with(*ROLE))[0] == 200
    fake_tablestore.add_access_key(ROLE[0], (ROLE[1], ROLE[2], time.time() - 1))  # the old STS token expired

    status, _, body = call(handler, fc_event("POST", "/v1/videos", BODY, auth()), context_with(*FRESH_ROLE))

    assert status == 200, body


def test_with_no_context_credentials_the_environments_are_used(config, fake_vod, auth):
    """python3.12: the role's credentials are in ALIBABA_CLOUD_* (config.credentials), the context has none."""
    from functions.create_upload_video.operation import operation

    key_id, secret, token = ROLE
    with FakeTablestore({key_id: (secret, token)}) as fake:
        fake_vod.add_access_key(key_id, (secret, token))
        broker = Broker(replace(config, ledger_url=fake.ledger_url(), credentials=Credentials(key_id, secret, token)))
        handler = entry_point(operation, broker=broker)

        status, _, body = call(handler, fc_event("POST", "/v1/videos", BODY, auth()), SimpleNamespace(request_id="r"))

        assert status == 200, body
        assert fake.rows(f"{broker.ledger.prefix}resources")[0]["owner"] == "alice"
        broker.ledger.close()
