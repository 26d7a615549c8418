"""A ledger store that is slow rather than gone (test_ledger_outage.py covers gone): a frozen Redis, a locked
SQLite file. Either way: no credential is issued, the caller gets a prompt 503 with Retry-After, and service
resumes by itself, without mixing up answers, when the store is responsive again.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import time

import pytest

from tests.functional.ledger_helpers import VIDEO
from tests.ledger_fixtures import PrivateRedis
from upload_broker.ledger.redis import READ_TIMEOUT

SLACK = 1.0


@pytest.fixture
def private_redis():
    with PrivateRedis() as server:
        yield server


def assert_unavailable(response) -> None:
    assert response.status_code == 503, response.get_json()
    assert response.get_json()["Code"] == "UpstreamUnavailable"
    assert int(response.headers["Retry-After"]) > 0
    assert "UploadAuth" not in response.get_json()


def timed(call, limit):
    started = time.monotonic()
    response = call()
    elapsed = time.monotonic() - started
    print(f"answered {response.status_code} in {elapsed:.2f}s")
    assert elapsed <= limit, f"took {elapsed:.2f}s, more than {limit:.2f}s"
    return response


class TestAFrozenRedis:
    @pytest.fixture
    def config_overrides(self, private_redis):
        return {"ledger_url": private_redis.url, "quota_creates_per_day": 1000}

    def test_is_a_prompt_503_without_credentials_and_service_resumes(self, client, auth, fake_vod, private_redis,
                                                                      config):
        video_id = client.post("/v1/videos", json=VIDEO, headers=auth("alice")).get_json()["VideoId"]
        pid = private_redis.process.pid
        os.kill(pid, signal.SIGSTOP)  # alive, port open, never answering: the slow store
        try:
            calls = fake_vod.call_count()
            limit = config.upstream_budget_seconds + 3 * READ_TIMEOUT + SLACK
            assert_unavailable(timed(lambda: client.post("/v1/videos", json=VIDEO, headers=auth("alice")), limit))
            assert_unavailable(timed(lambda: client.post(f"/v1/videos/{video_id}/refresh", headers=auth("alice")),
                                     limit))
            assert fake_vod.call_count() == calls  # the quota reservation timed out first: no upstream call
        finally:
            os.kill(pid, signal.SIGCONT)

        # Responsive again: the same broker serves, and every answer is the right one for its request.
        again = client.post("/v1/videos", json=VIDEO, headers=auth("alice"))
        assert again.status_code == 200, again.get_json()
        assert client.post(f"/v1/videos/{video_id}/refresh", headers=auth("alice")).status_code == 200
        assert client.post(f"/v1/videos/{video_id}/refresh", headers=auth("bob")).status_code == 404
        refreshed = client.post(f"/v1/videos/{again.get_json()['VideoId']}/refresh", headers=auth("alice"))
        assert refreshed.get_json()["VideoId"] == again.get_json()["VideoId"]


class TestALockedSqliteFile:
    @pytest.fixture
    def config_overrides(self, tmp_path):
        return {"ledger_url": f"sqlite:///{tmp_path / 'ledger.sqlite3'}"}

    def test_is_a_503_without_credentials_and_service_resumes(self, client, auth, fake_vod, config):
        video_id = client.post("/v1/videos", json=VIDEO, headers=auth("alice")).get_json()["VideoId"]
        path = config.ledger_url[len("sqlite:///"):]
        holder = sqlite3.connect(path, isolation_level=None, timeout=0)
        holder.execute("BEGIN EXCLUSIVE")  # another instance holding a long write transaction
        try:
            creates = fake_vod.call_count("CreateUploadVideo")
            limit = config.upstream_budget_seconds + 5.0 + SLACK  # the upstream call, then SQLite's busy timeout
            assert_unavailable(timed(lambda: client.post("/v1/videos", json=VIDEO, headers=auth("alice")), limit))
            # The upstream was asked before the record was needed; its credentials never left the broker.
            assert fake_vod.call_count("CreateUploadVideo") == creates + 1
            refreshes = fake_vod.call_count("RefreshUploadVideo")
            assert_unavailable(timed(lambda: client.post(f"/v1/videos/{video_id}/refresh", headers=auth("alice")),
                                     limit))
            assert fake_vod.call_count("RefreshUploadVideo") == refreshes
        finally:
            holder.execute("ROLLBACK")
            holder.close()

        again = client.post("/v1/videos", json=VIDEO, headers=auth("alice"))
        assert again.status_code == 200, again.get_json()
        assert client.post(f"/v1/videos/{video_id}/refresh", headers=auth("alice")).status_code == 200


class TestAFrozenTablestore:
    """Tablestore accepting connections but answering nothing: each call gives up at its read timeout."""

    @pytest.fixture
    def fake_tablestore(self):
        from tests.conftest import TEST_KEY_ID, TEST_KEY_SECRET
        from tests.fakes.tablestore import FakeTablestore

        with FakeTablestore({TEST_KEY_ID: TEST_KEY_SECRET}) as fake:
            yield fake

    @pytest.fixture
    def config_overrides(self, fake_tablestore):
        return {"ledger_url": fake_tablestore.ledger_url(), "quota_creates_per_day": 1000}

    def test_is_a_prompt_503_without_credentials_and_service_resumes(self, client, auth, fake_vod, fake_tablestore,
                                                                      config):
        from upload_broker.ledger.tablestore import READ_TIMEOUT as TABLESTORE_READ_TIMEOUT

        video_id = client.post("/v1/videos", json=VIDEO, headers=auth("alice")).get_json()["VideoId"]
        fake_tablestore.freeze()
        try:
            calls = fake_vod.call_count()
            limit = config.upstream_budget_seconds + 3 * TABLESTORE_READ_TIMEOUT + SLACK
            assert_unavailable(timed(lambda: client.post("/v1/videos", json=VIDEO, headers=auth("alice")), limit))
            assert_unavailable(timed(lambda: client.post(f"/v1/videos/{video_id}/refresh", headers=auth("alice")),
                                     limit))
            assert fake_vod.call_count() == calls  # the quota reservation timed out first: no upstream call
        finally:
            fake_tablestore.thaw()

        again = client.post("/v1/videos", json=VIDEO, headers=auth("alice"))
        assert again.status_code == 200, again.get_json()
        assert client.post(f"/v1/videos/{video_id}/refresh", headers=auth("alice")).status_code == 200
        assert client.post(f"/v1/videos/{video_id}/refresh", headers=auth("bob")).status_code == 404
        refreshed = client.post(f"/v1/videos/{again.get_json()['VideoId']}/refresh", headers=auth("alice"))
        assert refreshed.get_json()["VideoId"] == again.get_json()["VideoId"]
