"""End to end: an upload finishes in the fake OSS, the fake VOD posts its signed FileUploadComplete to the broker
(real HTTP both ways), the broker locks the upload, and from then on a refresh - which would overwrite the
finished video - is refused without asking VOD anything.

The stack is the one of tests/functional/test_client_oss2.py: the broker over real HTTP, the aliyun SDK to the
fake VOD, oss2 to the fake OSS; the VOD console's callback settings are the fake VOD's ``callback_url`` and
``callback_auth_key``, the broker's are ``VOD_CALLBACK_URL`` and ``VOD_CALLBACK_AUTH_KEY``.
"""

from __future__ import annotations

import os
from dataclasses import replace

import pytest
import requests

from tests.functional.client_stack import (  # noqa: F401 - the *_fixture names register shared fixtures
    BrokerServer,
    broker_fixture,
    broker_post,
    broker_server_fixture,
    clock_fixture,
    credential_lifetime_fixture,
    decode,
    fake_oss_fixture,
    fake_vod_fixture,
)
from tests.functional.test_client_oss2 import sts_bucket

KEY = "Console1Key"  # obviously fake: the VOD console's callback authentication key in this story
DATA = os.urandom(200 * 1024)


@pytest.fixture
def callbacks_on(broker, broker_server, fake_vod):
    """The operator's console settings: VOD calls back the broker's route, signing with KEY; the broker is
    told the same URL and key. (The URL names the test server's port, known only once it listens.)"""
    url = f"{broker_server.url}/v1/callbacks/vod"
    broker.config = replace(broker.config, vod_callback_url=url, vod_callback_auth_keys=(KEY,))
    fake_vod.callback_url, fake_vod.callback_auth_key = url, KEY
    return url


def upload(created: dict) -> None:
    address, upload_auth = decode(created["UploadAddress"]), decode(created["UploadAuth"])
    sts_bucket(address, upload_auth).put_object(address["FileName"], DATA)


def refresh(server: BrokerServer, bearer: str, video_id: str) -> requests.Response:
    return requests.post(f"{server.url}/v1/videos/{video_id}/refresh", json={}, headers={"Authorization": bearer},
                         timeout=10)


def test_a_finished_upload_is_locked_by_vods_callback(broker_server, callbacks_on, token, fake_vod, broker):
    bearer = token("alice")
    created = broker_post(broker_server, "/v1/videos", bearer, {"Title": "Trip", "FileName": "trip.mp4"})
    video_id = created["VideoId"]
    assert refresh(broker_server, bearer, video_id).status_code == 200  # unfinished: a refresh is a resume

    upload(created)
    [attempt] = fake_vod.wait_for_callbacks(1)

    assert attempt.delivered and attempt.url == callbacks_on
    assert attempt.event["EventType"] == "FileUploadComplete" and attempt.event["VideoId"] == video_id
    assert broker_server.called("POST", "/v1/callbacks/vod") == 1
    assert broker.ledger.find("vod", video_id).status == "completed"
    lookups, refreshes = fake_vod.call_count("GetVideoInfo"), fake_vod.call_count("RefreshUploadVideo")

    refused = refresh(broker_server, bearer, video_id)

    assert refused.status_code == 409
    assert refused.json()["Code"] == "UploadAlreadyCompleted"
    assert refused.json()["Message"] == "This upload finished; start a new upload to send another file."
    assert (fake_vod.call_count("GetVideoInfo"), fake_vod.call_count("RefreshUploadVideo")) == (lookups, refreshes)
    listed = requests.get(f"{broker_server.url}/v1/uploads", headers={"Authorization": bearer}, timeout=10).json()
    assert [(u["Id"], u["Status"]) for u in listed["Uploads"]] == [(video_id, "completed")]


def test_a_callback_signed_with_another_key_locks_nothing_but_vods_status_still_does(broker_server, callbacks_on,
                                                                                      token, fake_vod, broker):
    fake_vod.callback_auth_key = "Another1Key"  # the console and the broker disagree
    fake_vod.callback_retry_interval = 0.05
    bearer = token("alice")
    created = broker_post(broker_server, "/v1/videos", bearer, {"Title": "Trip", "FileName": "trip.mp4"})

    upload(created)
    attempts = fake_vod.wait_for_callbacks(3)

    assert [a.status for a in attempts] == [403, 403, 403]  # VOD tries three times, then drops the event
    assert broker.ledger.find("vod", created["VideoId"]).status == "pending"
    # The refresh asks VOD itself, which says UploadSucc: refused all the same.
    refused = refresh(broker_server, bearer, created["VideoId"])
    assert refused.status_code == 409
    assert fake_vod.call_count("GetVideoInfo") == 1 and fake_vod.call_count("RefreshUploadVideo") == 0


def test_a_replayed_callback_changes_nothing_more(broker_server, callbacks_on, token, fake_vod, broker):
    bearer = token("alice")
    created = broker_post(broker_server, "/v1/videos", bearer, {"Title": "Trip", "FileName": "trip.mp4"})
    upload(created)
    fake_vod.wait_for_callbacks(1)
    first = broker.ledger.find("vod", created["VideoId"]).completed_at

    fake_vod.send_callback(created["VideoId"])
    attempts = fake_vod.wait_for_callbacks(2)

    assert attempts[-1].delivered
    assert broker.ledger.find("vod", created["VideoId"]).completed_at == first


def test_image_uploads_are_locked_too(broker_server, callbacks_on, token, fake_vod, broker):
    bearer = token("alice")
    created = broker_post(broker_server, "/v1/images", bearer, {"ImageType": "cover", "ImageExt": "png"})
    upload(created)
    [attempt] = fake_vod.wait_for_callbacks(1)
    assert attempt.event["EventType"] == "ImageUploadComplete" and attempt.delivered
    assert broker.ledger.find("vod", created["ImageId"]).status == "completed"

