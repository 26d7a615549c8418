"""A broker must never multiply the load on a failing upstream, and must read the upstream's codes exactly.

Before the retry quota, one refresh against a VOD stuck on 500 made 17-22 calls inside its budget and 20
parallel refreshes made 375. Now: at most three attempts per call and a per-instance retry quota, so under a
sustained failure the upstream sees about one call per request.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

BUDGET = 2.5
SLACK = 0.75


@pytest.fixture
def config_overrides():
    return {"upstream_connect_timeout": 0.5, "upstream_read_timeout": 1.0, "upstream_budget_seconds": BUDGET}


VIDEO = {"Title": "Storm", "FileName": "storm.mp4"}
MEDIA = {"FileInfo": {"Type": "video", "Name": "storm", "Ext": "mp4"}}


def test_a_hundred_refreshes_against_a_vod_stuck_on_500_make_at_most_130_calls(app, auth, fake_vod):
    video_id = app.test_client().post("/v1/videos", json=VIDEO, headers=auth("alice")).get_json()["VideoId"]
    fake_vod.inject("RefreshUploadVideo", status=500, code="InternalError", count=10**6)

    def refresh(_):
        started = time.monotonic()
        response = app.test_client().post(f"/v1/videos/{video_id}/refresh", headers=auth("alice"))
        return response.status_code, response.get_json()["Code"], time.monotonic() - started

    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(refresh, range(100)))

    assert {(status, code) for status, code, _ in results} == {(502, "UpstreamError")}
    assert all(elapsed <= BUDGET + SLACK for _, _, elapsed in results)
    assert fake_vod.call_count("RefreshUploadVideo") <= 130


def test_one_refresh_makes_at_most_three_attempts(client, auth, fake_vod):
    video_id = client.post("/v1/videos", json=VIDEO, headers=auth("alice")).get_json()["VideoId"]
    fake_vod.inject("RefreshUploadVideo", status=500, code="InternalError", count=10**6)
    response = client.post(f"/v1/videos/{video_id}/refresh", headers=auth("alice"))
    assert response.status_code == 502
    assert fake_vod.call_count("RefreshUploadVideo") <= 3


def test_one_create_against_persistent_throttling_makes_at_most_three_calls(client, auth, fake_vod):
    fake_vod.inject("CreateUploadVideo", status=400, code="Throttling.User", count=10**6)
    response = client.post("/v1/videos", json=VIDEO, headers=auth("alice"))
    assert (response.status_code, response.get_json()["Code"]) == (429, "Throttling")
    assert int(response.headers["Retry-After"]) >= 1
    assert fake_vod.call_count("CreateUploadVideo") <= 3


# --- the upstream's codes, read exactly -------------------------------------------------------------------


@pytest.mark.parametrize(("fault", "status", "code"), [
    # ICE: "RequestsTooFrequent" (403) is throttling (IMS error codes).
    (dict(status=403, code="RequestsTooFrequent"), 429, "Throttling"),
    # VOD common errors: the account's own state is the operator's problem.
    (dict(status=403, code="OperationDenied"), 502, "UpstreamError"),
    (dict(status=403, code="OperationDenied.Suspended"), 502, "UpstreamError"),
    # The documented credential codes, exactly.
    (dict(status=403, code="Forbidden.RAM"), 502, "UpstreamError"),
    (dict(status=400, code="InvalidAccessKeyId.Inactive"), 502, "UpstreamError"),
    # Not a credential code because it starts like one: the client's, passed through.
    (dict(status=400, code="Forbidden.Whatever"), 400, "Forbidden.Whatever"),
    # A Code that is not code-shaped is never passed to a client.
    (dict(status=400, code="Bad Code <script>"), 502, "UpstreamError"),
])
def test_upstream_codes_on_an_ice_create(client, auth, fake_ice, fault, status, code):
    fake_ice.inject("CreateUploadMedia", **fault, count=10)
    response = client.post("/v1/media", json=MEDIA, headers=auth("alice"))
    assert (response.status_code, response.get_json()["Code"]) == (status, code)
    if status == 429:
        assert int(response.headers["Retry-After"]) >= 1


@pytest.mark.parametrize("config_overrides", [{"vod_storage_location": "outin-not-mine.oss-cn-shanghai.aliyuncs.com"}])
@pytest.mark.parametrize("fault", [
    dict(status=400, code="InvalidStorage.NotFound"),
    dict(status=400, code="InvalidParameter", message="The specified parameter StorageLocation is not valid."),
])
def test_a_create_refused_for_the_operators_own_setting_is_a_502(client, auth, fake_vod, fault):
    fake_vod.inject("CreateUploadVideo", **fault)
    response = client.post("/v1/videos", json=VIDEO, headers=auth("alice"))
    assert (response.status_code, response.get_json()["Code"]) == (502, "UpstreamError")
    assert "StorageLocation" in response.get_json()["Message"]


def test_a_create_refused_for_the_clients_field_stays_the_clients(client, auth, fake_vod):
    fake_vod.inject("CreateUploadVideo", status=400, code="InvalidParameter",
                    message="The specified parameter FileName is not valid.")
    response = client.post("/v1/videos", json=VIDEO, headers=auth("alice"))
    assert (response.status_code, response.get_json()["Code"]) == (400, "InvalidParameter")
