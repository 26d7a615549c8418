"""Fail closed: with the ledger unreachable no credential is issued, and service resumes when it returns."""

from __future__ import annotations

import pytest

from tests.functional import ledger_helpers
from tests.functional.ledger_helpers import VIDEO, create, refresh
from tests.ledger_fixtures import PrivateRedis

# Fixtures used here (module attributes, so pytest finds them).
auth = ledger_helpers.auth
broker = ledger_helpers.broker
clock = ledger_helpers.clock


@pytest.fixture
def private_redis():
    with PrivateRedis() as server:
        yield server


@pytest.fixture
def settings() -> dict:
    return {"quota_creates_per_day": 1000}


@pytest.fixture
def config_overrides(private_redis, settings) -> dict:
    return {"ledger_url": private_redis.url, **settings}


def assert_unavailable(response) -> None:
    assert response.status_code == 503, response.json
    assert response.json["Code"] == "UpstreamUnavailable"
    assert int(response.headers["Retry-After"]) > 0
    assert "UploadAuth" not in response.json and "UploadAddress" not in response.json


def test_redis_going_away_and_coming_back(client, auth, fake_vod, private_redis):
    """Given a working broker, when Redis dies, then 503 and no upstream call; when it is back, service resumes."""
    video_id = create(client, auth).json["VideoId"]
    assert refresh(client, auth, video_id).status_code == 200
    calls = fake_vod.call_count()

    private_redis.kill()

    assert_unavailable(create(client, auth))
    assert_unavailable(refresh(client, auth, video_id))
    assert_unavailable(create(client, auth, headers={"Idempotency-Key": "k"}))
    assert fake_vod.call_count() == calls  # the quota reservation failed first: no upstream call

    private_redis.start()  # same port, empty (no persistence), same broker

    again = create(client, auth)
    assert again.status_code == 200, again.json
    assert refresh(client, auth, again.json["VideoId"]).status_code == 200
    assert refresh(client, auth, video_id).status_code == 404  # its record died with the store


@pytest.mark.parametrize("settings", [{}])
def test_without_limits_a_create_whose_record_fails_returns_no_credentials(client, auth, fake_vod, private_redis):
    assert create(client, auth).status_code == 200
    private_redis.kill()

    response = create(client, auth)

    assert_unavailable(response)
    # The upstream was asked before the store was needed, but its credentials never left the broker.
    assert fake_vod.call_count("CreateUploadVideo") == 2


@pytest.mark.parametrize("settings", [{"rate_per_minute": 100}])
def test_the_rate_limit_also_fails_closed(client, auth, fake_vod, private_redis):
    private_redis.kill()
    assert_unavailable(create(client, auth))
    assert fake_vod.call_count() == 0


@pytest.mark.parametrize("quota", [None, 5])
def test_sqlite_at_an_unwritable_path_fails_closed(fake_vod, fake_ice, fake_wangsu, tmp_path, quota):
    import time

    from tests.conftest import TEST_KEY_ID, TEST_KEY_SECRET
    from tests.jwt_helpers import HS256_SECRET, hs256
    from upload_broker.config import Config, Credentials
    from upload_broker.local import create_app
    from upload_broker.runtime import Broker

    config = Config(
        credentials=Credentials(TEST_KEY_ID, TEST_KEY_SECRET), vod_endpoint=fake_vod.url, jwt_secret=HS256_SECRET,
        ledger_url=f"sqlite:///{tmp_path}/missing-dir/ledger.sqlite3", quota_creates_per_day=quota,
    )
    client = create_app(broker=Broker(config)).test_client()
    now = time.time()
    headers = {"Authorization": "Bearer " + hs256(HS256_SECRET, {"sub": "alice", "iat": now, "exp": now + 60})}

    response = client.post("/v1/videos", json=VIDEO, headers=headers)

    assert_unavailable(response)
    assert_unavailable(client.post("/v1/videos/abc/refresh", headers=headers))
    assert fake_vod.call_count("CreateUploadVideo") == (0 if quota else 1)
    assert fake_vod.call_count("RefreshUploadVideo") == 0


class TestTablestore:
    """The same on a Tablestore ledger: the fake stops answering (connections dropped, port closed), then starts
    again on the same port. Tablestore keeps its data through an outage, so what was recorded before still is."""

    @pytest.fixture
    def fake_tablestore(self):
        from tests.conftest import TEST_KEY_ID, TEST_KEY_SECRET
        from tests.fakes.tablestore import FakeTablestore

        with FakeTablestore({TEST_KEY_ID: TEST_KEY_SECRET}) as fake:
            yield fake

    @pytest.fixture
    def config_overrides(self, fake_tablestore, settings) -> dict:
        return {"ledger_url": fake_tablestore.ledger_url(), **settings}

    def test_going_away_and_coming_back(self, client, auth, fake_vod, fake_tablestore):
        """Given a working broker, when Tablestore is unreachable, then 503 and no upstream call; when it is
        back, service resumes on the same broker."""
        video_id = create(client, auth).json["VideoId"]
        assert refresh(client, auth, video_id).status_code == 200
        calls = fake_vod.call_count()

        fake_tablestore.stop()

        assert_unavailable(create(client, auth))
        assert_unavailable(refresh(client, auth, video_id))
        assert_unavailable(create(client, auth, headers={"Idempotency-Key": "k"}))
        assert fake_vod.call_count() == calls  # the quota reservation failed first: no upstream call

        fake_tablestore.start()  # same port, same data

        again = create(client, auth)
        assert again.status_code == 200, again.json
        assert refresh(client, auth, again.json["VideoId"]).status_code == 200
        assert refresh(client, auth, video_id).status_code == 200  # its record outlived the outage
        assert refresh(client, auth, video_id, user="bob").status_code == 404

    @pytest.mark.parametrize("settings", [{}])
    def test_without_limits_a_create_whose_record_fails_returns_no_credentials(self, client, auth, fake_vod,
                                                                               fake_tablestore):
        assert create(client, auth).status_code == 200
        fake_tablestore.inject("BatchWriteRow", code="OTSServerBusy")  # the ownership record's write

        response = create(client, auth)

        assert_unavailable(response)
        assert fake_vod.call_count("CreateUploadVideo") == 2  # asked, but its credentials never left the broker
        assert create(client, auth).status_code == 200  # a busy store is busy once

    @pytest.mark.parametrize("code", ["OTSServerBusy", "OTSTimeout", "OTSInternalServerError"])
    def test_a_store_error_on_the_quota_fails_closed_before_the_upstream(self, client, auth, fake_vod,
                                                                        fake_tablestore, code):
        fake_tablestore.inject("GetRow", code=code)
        assert_unavailable(create(client, auth))
        assert fake_vod.call_count() == 0
        assert create(client, auth).status_code == 200

    def test_refused_credentials_fail_closed(self, client, auth, fake_vod, fake_tablestore):
        """The function's role lost its access (or its key was disabled): 503, never a credential."""
        assert create(client, auth).status_code == 200
        from tests.conftest import TEST_KEY_ID

        fake_tablestore.add_access_key(TEST_KEY_ID, "a-secret-the-broker-does-not-have")

        assert_unavailable(create(client, auth))
        assert fake_vod.call_count("CreateUploadVideo") == 1


CALLBACK_URL = "https://broker.example.com/v1/callbacks/vod"


@pytest.mark.parametrize("settings", [{"vod_callback_url": CALLBACK_URL, "vod_callback_auth_keys": ("Outage1Key",)}])
def test_a_callback_during_an_outage_is_a_503_so_vod_sends_it_again(client, auth, clock, private_redis):
    import hashlib

    video_id = create(client, auth).json["VideoId"]
    timestamp = str(int(clock.now))
    signature = hashlib.md5(f"{CALLBACK_URL}|{timestamp}|Outage1Key".encode()).hexdigest()

    def callback():
        return client.post("/v1/callbacks/vod", json={"EventType": "FileUploadComplete", "Status": "success",
                                                      "VideoId": video_id},
                           headers={"X-VOD-TIMESTAMP": timestamp, "X-VOD-SIGNATURE": signature})

    private_redis.kill()
    assert_unavailable(callback())  # VOD retries anything but a 200
    assert_unavailable(client.get("/v1/uploads", headers=auth()))
    private_redis.start()
    assert callback().status_code == 200  # the store is empty again: an unknown id, acknowledged
