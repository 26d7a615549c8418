"""Per-user quotas, rate limits and refresh limits, end to end on both ledger backends."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.functional import ledger_helpers
from tests.functional.ledger_helpers import VIDEO, create, refresh

# The ledger tests' overrides of tests/conftest.py's fixtures, for this module only (module attributes, so
# pytest finds them). ledger_url, redis_ledger_url and live_server come from tests/functional/conftest.py.
auth = ledger_helpers.auth
broker = ledger_helpers.broker
clock = ledger_helpers.clock
config_overrides = ledger_helpers.config_overrides
settings = ledger_helpers.settings


DAY = 86400


# --- creates per day --------------------------------------------------------------------------------------


@pytest.mark.parametrize("settings", [{"quota_creates_per_day": 2}])
def test_creates_past_the_daily_quota_get_429_with_an_exact_retry_after(client, auth, clock, fake_vod):
    assert create(client, auth).status_code == 200
    clock.advance(100)
    assert create(client, auth).status_code == 200
    clock.advance(50)

    refused = create(client, auth)

    assert refused.status_code == 429
    assert refused.json["Code"] == "QuotaExceeded"
    assert refused.headers["Retry-After"] == str(DAY - 150)  # the first create leaves the window then
    assert "UploadAuth" not in refused.json
    assert fake_vod.call_count("CreateUploadVideo") == 2
    assert create(client, auth, user="bob").status_code == 200  # per user

    clock.advance(DAY - 150)
    assert create(client, auth).status_code == 200


@pytest.mark.parametrize("settings", [{"quota_creates_per_day": 1}])
def test_a_failed_upstream_call_gives_the_quota_back(client, auth, fake_vod):
    fake_vod.inject("CreateUploadVideo", status=500)
    assert create(client, auth).status_code == 502
    assert create(client, auth).status_code == 200
    assert create(client, auth).status_code == 429


@pytest.mark.parametrize("settings", [{"quota_creates_per_day": 0}])
def test_a_quota_of_zero_refuses_every_create(client, auth, fake_vod):
    response = create(client, auth)
    assert (response.status_code, response.json["Code"]) == (429, "QuotaExceeded")
    assert fake_vod.call_count() == 0


def test_unset_quotas_are_unlimited(client, auth):
    assert all(create(client, auth).status_code == 200 for _ in range(12))


# --- bytes per day ----------------------------------------------------------------------------------------


# Every create route whose upstream takes a size, and a body declaring ``size`` bytes (None: not declared).
SIZED_CREATES = {
    "create_upload_video": ("/v1/videos", "FileSize", lambda size: {
        "Title": "t", "FileName": "a.mp4", **({} if size is None else {"FileSize": size})}),
    "create_upload_attached_media": ("/v1/attached-media", "FileSize", lambda size: {
        "BusinessType": "watermark", "MediaExt": "png", **({} if size is None else {"FileSize": size})}),
    "create_upload_media": ("/v1/media", "FileInfo.Size", lambda size: {"FileInfo": {
        "Type": "video", "Name": "a", "Ext": "mp4", **({} if size is None else {"Size": size})}}),
}


def test_every_create_that_declares_a_size_is_under_the_byte_quota_tests():
    from upload_broker.local import discover_operations

    declared = {op.function: op.size_field for op in discover_operations() if op.is_create and op.size_field}
    assert declared == {function: field for function, (_, field, _) in SIZED_CREATES.items()}


def upstream_calls(fake_vod, fake_ice) -> int:
    return fake_vod.call_count() + fake_ice.call_count()


@pytest.mark.parametrize("function", sorted(SIZED_CREATES))
@pytest.mark.parametrize("settings", [{"quota_bytes_per_day": 5000}])
def test_with_a_byte_quota_a_create_must_declare_its_size(client, auth, fake_vod, fake_ice, function):
    path, field, body = SIZED_CREATES[function]
    response = client.post(path, json=body(None), headers=auth())
    assert response.status_code == 400
    assert (response.json["Code"], response.json["Field"]) == ("MissingParameter", field)
    assert upstream_calls(fake_vod, fake_ice) == 0


@pytest.mark.parametrize("function", sorted(SIZED_CREATES))
@pytest.mark.parametrize("settings", [{"quota_bytes_per_day": 5000}])
def test_declared_bytes_are_counted_per_rolling_day(client, auth, clock, fake_vod, fake_ice, function):
    path, _, body = SIZED_CREATES[function]

    def post(size, user="alice"):
        return client.post(path, json=body(size), headers=auth(user))

    assert post(3000).status_code == 200
    clock.advance(10)
    assert post(1500).status_code == 200
    clock.advance(10)

    refused = post(1000)
    assert (refused.status_code, refused.json["Code"]) == (429, "QuotaExceeded")
    assert refused.headers["Retry-After"] == str(DAY - 20)
    assert post(500).status_code == 200  # exactly fits

    too_big = post(5001, user="bob")
    assert too_big.status_code == 429 and "whole daily quota" in too_big.json["Message"]
    too_big = post(10**12, user="carol")  # ICE's FileInfo.Size once counted as 0 bytes
    assert too_big.status_code == 429
    assert upstream_calls(fake_vod, fake_ice) == 3


# --- requests per minute ----------------------------------------------------------------------------------


@pytest.mark.parametrize("settings", [{"rate_per_minute": 3}])
def test_requests_past_the_rate_get_throttled_across_operations(client, auth, clock, fake_vod):
    video_id = create(client, auth).json["VideoId"]
    clock.advance(20)
    assert refresh(client, auth, video_id).status_code == 200
    assert refresh(client, auth, "no-such-video").status_code == 404  # a refused request counts too
    clock.advance(10)

    throttled = refresh(client, auth, video_id)

    assert (throttled.status_code, throttled.json["Code"]) == (429, "Throttling")
    assert throttled.headers["Retry-After"] == "30"
    assert fake_vod.call_count("RefreshUploadVideo") == 1
    assert create(client, auth, user="bob").status_code == 200
    clock.advance(30)
    assert refresh(client, auth, video_id).status_code == 200


# --- concurrency through a real threaded server ------------------------------------------------------------


@pytest.mark.parametrize("settings", [{"quota_creates_per_day": 10}])
def test_fifty_parallel_creates_against_a_quota_of_ten(live_server, auth, fake_vod):
    headers = auth("alice")
    fake_vod.latency = 0.05  # keep the calls in flight together

    def post(_: int) -> requests.Response:
        return requests.post(f"{live_server.url}/v1/videos", json=VIDEO, headers=headers, timeout=30)

    with ThreadPoolExecutor(50) as pool:
        responses = list(pool.map(post, range(50)))

    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 10
    assert statuses.count(429) == 40
    assert {r.json()["Code"] for r in responses if r.status_code == 429} == {"QuotaExceeded"}
    assert all(int(r.headers["Retry-After"]) > 0 for r in responses if r.status_code == 429)
    assert fake_vod.call_count("CreateUploadVideo") == 10


# --- refresh limits and the admin scope --------------------------------------------------------------------


@pytest.mark.parametrize("settings", [{"max_refreshes": 2}])
def test_refreshes_past_the_maximum_are_forbidden(client, auth, fake_vod):
    video_id = create(client, auth).json["VideoId"]
    assert refresh(client, auth, video_id).status_code == 200
    assert refresh(client, auth, video_id).status_code == 200

    refused = refresh(client, auth, video_id)

    assert (refused.status_code, refused.json["Code"]) == (403, "Forbidden")
    assert "refreshed 2 times" in refused.json["Message"]
    assert fake_vod.call_count("RefreshUploadVideo") == 2


@pytest.mark.parametrize("settings", [{"max_refreshes": 1}])
def test_a_failed_refresh_is_not_counted(client, auth, fake_vod):
    video_id = create(client, auth).json["VideoId"]
    fake_vod.inject("RefreshUploadVideo", code="InvalidVideo.Damaged", status=400)
    assert refresh(client, auth, video_id).json["Code"] == "InvalidVideo.Damaged"
    assert refresh(client, auth, video_id).status_code == 200
    assert refresh(client, auth, video_id).status_code == 403


@pytest.mark.parametrize("settings", [{"refresh_window_hours": 2}])
def test_refreshes_after_the_window_are_forbidden(client, auth, clock, fake_vod):
    video_id = create(client, auth).json["VideoId"]
    clock.advance(2 * 3600)
    assert refresh(client, auth, video_id).status_code == 200
    clock.advance(1)

    refused = refresh(client, auth, video_id)

    assert (refused.status_code, refused.json["Code"]) == (403, "Forbidden")
    assert "more than 2 hours ago" in refused.json["Message"]
    assert fake_vod.call_count("RefreshUploadVideo") == 1


@pytest.mark.parametrize("settings", [{"admin_scope": "uploads:admin", "max_refreshes": 0,
                                       "refresh_window_hours": 1}])
def test_an_admin_token_refreshes_any_resource_past_every_limit(client, auth, clock, broker, fake_vod):
    video_id = create(client, auth, user="alice").json["VideoId"]
    clock.advance(7200)
    assert refresh(client, auth, video_id, user="alice").status_code == 403
    assert refresh(client, auth, video_id, user="bob").status_code == 404  # no scope: not bob's

    def admin(user):
        return auth(user, scope="openid uploads:admin")

    response = refresh(client, admin, video_id, user="support-1")

    assert response.status_code == 200, response.json
    assert response.json["VideoId"] == video_id
    assert refresh(client, admin, "never-issued", user="support-1").status_code == 404
    latest = broker.ledger.audit_history("support-1")
    assert [(r.outcome, r.resource_id) for r in latest] == [("refused", "never-issued"),
                                                            ("admin-override", video_id)]
