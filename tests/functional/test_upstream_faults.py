"""Upstream faults, through the fakes and the real SDKs: throttling bursts, 5xx, dropped connections, and
latency beyond the read timeout, for the creates and refreshes of VOD videos and ICE media and for Wangsu.

For every fault the story is the same:
- the request ends within the configured time budget (wall time measured per request),
- with the contract's status and Code (429 + Retry-After, 502, 503 + Retry-After), never a 500,
- a refresh may be retried inside that budget, a create never twice once the upstream may have acted:
  exactly one upstream create call after a read timeout or a dropped connection, and at most one resource,
  which no one holds a credential for.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

READ_TIMEOUT = 1.0
BUDGET = 2.5
SLOW = READ_TIMEOUT + 0.8  # an answer held back longer than the read timeout
SLACK = 0.75  # scheduling, the pipeline, and the fake's own answer time


@pytest.fixture
def config_overrides():
    return {"upstream_connect_timeout": 0.5, "upstream_read_timeout": READ_TIMEOUT, "upstream_budget_seconds": BUDGET}


VIDEO = {"Title": "Fault test", "FileName": "fault.mp4"}
MEDIA = {"FileInfo": {"Type": "video", "Name": "fault", "Ext": "mp4"}}
WANGSU = {"originFileName": "fault.mp4"}


def timed_post(client, path, *, json=None, headers=None):
    started = time.monotonic()
    response = client.post(path, json=json, headers=headers)
    elapsed = time.monotonic() - started
    assert elapsed <= BUDGET + SLACK, f"{path} took {elapsed:.2f}s, past the {BUDGET}s budget"
    return response


def assert_error(response, status, code, *, retry_after=False):
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert body["Code"] == code and body["RequestId"] == response.headers["X-Request-Id"]
    assert "UploadAuth" not in body
    if retry_after:
        assert int(response.headers["Retry-After"]) >= 1


class Route:
    """One upstream operation: how to call it through the broker and how to count what the fake did."""

    def __init__(self, name, fake, action, create_path, body, id_field, refresh_path=None):
        self.name, self.fake, self.action = name, fake, action
        self.create_path, self.body, self.id_field, self.refresh_path = create_path, body, id_field, refresh_path

    def resources(self):
        return len(self.fake.videos) if self.name == "video" else len(self.fake.media)

    def calls(self, action=None):
        return self.fake.call_count(action or self.action)


@pytest.fixture(params=["video", "media"])
def aliyun(request, fake_vod, fake_ice):
    if request.param == "video":
        return Route("video", fake_vod, "CreateUploadVideo", "/v1/videos", VIDEO, "VideoId", "/v1/videos/{}/refresh")
    return Route("media", fake_ice, "CreateUploadMedia", "/v1/media", MEDIA, "MediaId", "/v1/media/{}/refresh")


def refresh_action(route):
    return "RefreshUploadVideo" if route.name == "video" else "RefreshUploadMedia"


def created(client, auth, route):
    response = client.post(route.create_path, json=route.body, headers=auth("alice"))
    assert response.status_code == 200, response.get_json()
    return response.get_json()[route.id_field]


# --- throttling ------------------------------------------------------------------------------------------


def test_a_short_throttling_burst_on_a_create_is_ridden_out_inside_the_budget(client, auth, aliyun):
    aliyun.fake.inject(aliyun.action, code="Throttling.User", count=2)
    response = timed_post(client, aliyun.create_path, json=aliyun.body, headers=auth("alice"))
    assert response.status_code == 200, response.get_json()
    # Throttling is an explicit refusal: nothing was created, so retrying a create is safe.
    assert aliyun.calls() == 3 and aliyun.resources() == 1


def test_a_throttling_burst_longer_than_the_budget_is_a_429_with_retry_after(client, auth, aliyun):
    aliyun.fake.inject(aliyun.action, code="Throttling.User", count=1000)
    response = timed_post(client, aliyun.create_path, json=aliyun.body, headers=auth("alice"))
    assert_error(response, 429, "Throttling", retry_after=True)
    assert aliyun.resources() == 0


def test_a_throttled_refresh_is_retried_and_then_answered_429(client, auth, aliyun):
    resource_id = created(client, auth, aliyun)
    aliyun.fake.inject(refresh_action(aliyun), code="Throttling.User", count=2)
    response = timed_post(client, aliyun.refresh_path.format(resource_id), headers=auth("alice"))
    assert response.status_code == 200 and aliyun.calls(refresh_action(aliyun)) == 3
    aliyun.fake.inject(refresh_action(aliyun), code="Throttling.User", count=1000)
    response = timed_post(client, aliyun.refresh_path.format(resource_id), headers=auth("alice"))
    assert_error(response, 429, "Throttling", retry_after=True)


def test_a_throttling_burst_on_concurrent_creates_ends_every_request_in_time(app, auth, aliyun):
    aliyun.fake.inject(aliyun.action, code="Throttling.User", count=12)

    def one(i):
        started = time.monotonic()
        response = app.test_client().post(aliyun.create_path, json=aliyun.body, headers=auth(f"user{i}"))
        return response.status_code, time.monotonic() - started

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(one, range(8)))
    assert all(status in (200, 429) for status, _ in results), results
    assert all(elapsed <= BUDGET + SLACK for _, elapsed in results), results
    assert aliyun.resources() == sum(1 for status, _ in results if status == 200)


# --- 5xx -------------------------------------------------------------------------------------------------


def test_a_500_on_a_create_is_a_502_and_is_not_retried(client, auth, aliyun):
    aliyun.fake.inject(aliyun.action, status=500)
    response = timed_post(client, aliyun.create_path, json=aliyun.body, headers=auth("alice"))
    assert_error(response, 502, "UpstreamError")
    assert aliyun.calls() == 1 and aliyun.resources() == 0


def test_a_503_on_a_create_is_a_503_with_retry_after_and_is_not_retried(client, auth, aliyun):
    aliyun.fake.inject(aliyun.action, status=503)
    response = timed_post(client, aliyun.create_path, json=aliyun.body, headers=auth("alice"))
    assert_error(response, 503, "UpstreamUnavailable", retry_after=True)
    assert aliyun.calls() == 1


def test_5xx_on_a_refresh_is_retried_inside_the_budget(client, auth, aliyun):
    resource_id = created(client, auth, aliyun)
    aliyun.fake.inject(refresh_action(aliyun), status=500, count=2)
    response = timed_post(client, aliyun.refresh_path.format(resource_id), headers=auth("alice"))
    assert response.status_code == 200 and aliyun.calls(refresh_action(aliyun)) == 3


def test_5xx_that_outlasts_the_budget_on_a_refresh_is_a_502(client, auth, aliyun):
    resource_id = created(client, auth, aliyun)
    aliyun.fake.inject(refresh_action(aliyun), status=500, count=1000)
    response = timed_post(client, aliyun.refresh_path.format(resource_id), headers=auth("alice"))
    assert_error(response, 502, "UpstreamError")
    assert aliyun.calls(refresh_action(aliyun)) >= 2


# --- dropped connections -----------------------------------------------------------------------------------


def test_a_dropped_connection_on_a_create_is_a_503_and_never_a_second_create(client, auth, aliyun):
    aliyun.fake.inject(aliyun.action, drop=True)
    response = timed_post(client, aliyun.create_path, json=aliyun.body, headers=auth("alice"))
    assert_error(response, 503, "UpstreamUnavailable", retry_after=True)
    assert aliyun.calls() == 1 and aliyun.resources() in (0, 1)
    # The next create works on a fresh connection.
    assert timed_post(client, aliyun.create_path, json=aliyun.body, headers=auth("alice")).status_code == 200


def test_a_dropped_connection_on_a_refresh_is_retried(client, auth, aliyun):
    resource_id = created(client, auth, aliyun)
    aliyun.fake.inject(refresh_action(aliyun), drop=True)
    response = timed_post(client, aliyun.refresh_path.format(resource_id), headers=auth("alice"))
    assert response.status_code == 200 and aliyun.calls(refresh_action(aliyun)) == 2


# --- latency beyond the read timeout -----------------------------------------------------------------------


def test_a_create_slower_than_the_read_timeout_is_a_503_and_never_a_second_create(client, auth, aliyun):
    aliyun.fake.inject(aliyun.action, delay=SLOW)
    response = timed_post(client, aliyun.create_path, json=aliyun.body, headers=auth("alice"))
    assert_error(response, 503, "UpstreamUnavailable", retry_after=True)
    time.sleep(SLOW - READ_TIMEOUT + 0.2)  # let the slow answer finish upstream
    assert aliyun.calls() == 1
    assert aliyun.resources() == 1  # the upstream did create it...
    orphan = next(iter(aliyun.fake.videos if aliyun.name == "video" else aliyun.fake.media))
    # ...but the broker issued no credential for it, and no one can get one by refreshing it.
    response = client.post(aliyun.refresh_path.format(orphan), headers=auth("alice"))
    assert response.status_code == 404
    assert aliyun.calls(refresh_action(aliyun)) == 0


def test_a_slow_refresh_is_retried_once_inside_the_budget(client, auth, aliyun):
    resource_id = created(client, auth, aliyun)
    aliyun.fake.inject(refresh_action(aliyun), delay=SLOW)
    response = timed_post(client, aliyun.refresh_path.format(resource_id), headers=auth("alice"))
    assert response.status_code == 200 and aliyun.calls(refresh_action(aliyun)) == 2


def test_a_refresh_that_stays_slow_is_a_503_within_the_budget(client, auth, aliyun):
    resource_id = created(client, auth, aliyun)
    aliyun.fake.inject(refresh_action(aliyun), delay=SLOW, count=10)
    response = timed_post(client, aliyun.refresh_path.format(resource_id), headers=auth("alice"))
    assert_error(response, 503, "UpstreamUnavailable", retry_after=True)
    assert aliyun.calls(refresh_action(aliyun)) >= 2


# --- Wangsu ------------------------------------------------------------------------------------------------


def test_wangsu_throttling_is_a_429_with_its_retry_after(client, auth, fake_wangsu):
    fake_wangsu.inject(status=429, retry_after=7, count=3)
    response = timed_post(client, "/v1/wangsu/upload-tokens", json=WANGSU, headers=auth("alice"))
    assert_error(response, 429, "Throttling", retry_after=True)
    assert response.headers["Retry-After"] == "7"
    assert fake_wangsu.call_count() == 1


@pytest.mark.parametrize("status", [500, 502, 503])
def test_wangsu_5xx_is_a_502_and_is_not_retried(client, auth, fake_wangsu, status):
    fake_wangsu.inject(status=status)
    response = timed_post(client, "/v1/wangsu/upload-tokens", json=WANGSU, headers=auth("alice"))
    assert_error(response, 502, "UpstreamError")
    assert fake_wangsu.call_count() == 1


def test_a_dropped_wangsu_answer_is_a_503_and_never_a_second_token(client, auth, fake_wangsu):
    fake_wangsu.inject(drop=True)
    response = timed_post(client, "/v1/wangsu/upload-tokens", json=WANGSU, headers=auth("alice"))
    assert_error(response, 503, "UpstreamUnavailable", retry_after=True)
    assert fake_wangsu.call_count() == 1 and len(fake_wangsu.videos) == 1


def test_a_wangsu_answer_slower_than_the_read_timeout_is_a_503_and_never_a_second_token(client, auth, fake_wangsu):
    fake_wangsu.inject(delay=SLOW)
    response = timed_post(client, "/v1/wangsu/upload-tokens", json=WANGSU, headers=auth("alice"))
    assert_error(response, 503, "UpstreamUnavailable", retry_after=True)
    time.sleep(SLOW - READ_TIMEOUT + 0.2)
    assert fake_wangsu.call_count() == 1 and len(fake_wangsu.videos) <= 1


def test_an_upstream_that_is_down_is_a_503_within_the_budget(client, auth, fake_vod, fake_ice, fake_wangsu):
    fake_vod.stop(), fake_ice.stop(), fake_wangsu.stop()
    for path, body in (("/v1/videos", VIDEO), ("/v1/media", MEDIA), ("/v1/wangsu/upload-tokens", WANGSU)):
        response = timed_post(client, path, json=body, headers=auth("alice"))
        assert_error(response, 503, "UpstreamUnavailable", retry_after=True)
