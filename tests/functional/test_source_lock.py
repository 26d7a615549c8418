"""A finished upload can no longer be overwritten: before a refresh the broker asks the upstream's status
(VOD GetVideoInfo, ICE GetMediaInfo) unless the ledger already knows the upload completed, and refuses with
409 UploadAlreadyCompleted once the source is in - without calling the refresh."""

from __future__ import annotations

import logging

import pytest

from upload_broker.flows import source_in
from upload_broker.ledger import COMPLETED, PENDING
from upload_broker.providers.ice import MEDIA_SOURCE
from upload_broker.providers.vod import VIDEO_SOURCE

VIDEO = {"Title": "Holiday", "FileName": "holiday.mp4"}
MEDIA = {"FileInfo": {"Type": "video", "Name": "holiday", "Ext": "mp4"}}
FINISHED_MESSAGE = "This upload finished; start a new upload to send another file."

# Every status each upstream documents, and what the broker makes of it (providers/vod.py, providers/ice.py).
VOD_STATUSES = {
    "Uploading": False, "UploadFail": False,
    "UploadSucc": True, "Transcoding": True, "TranscodeFail": True, "Checking": True, "Blocked": True,
    "Normal": True, "ProduceFail": True,
}
ICE_STATUSES = {"Init": False, "Preparing": False, "PrepareFail": False, "Normal": True}


def create_video(client, auth, user="alice") -> str:
    response = client.post("/v1/videos", json=VIDEO, headers=auth(user))
    assert response.status_code == 200, response.json
    return response.json["VideoId"]


def create_media(client, auth, user="alice") -> str:
    response = client.post("/v1/media", json=MEDIA, headers=auth(user))
    assert response.status_code == 200, response.json
    return response.json["MediaId"]


def test_the_declared_statuses_are_every_documented_one():
    assert VIDEO_SOURCE.unfinished | VIDEO_SOURCE.finished == set(VOD_STATUSES)
    assert {s for s, done in VOD_STATUSES.items() if done} == VIDEO_SOURCE.finished
    assert MEDIA_SOURCE.unfinished | MEDIA_SOURCE.finished == set(ICE_STATUSES)
    assert {s for s, done in ICE_STATUSES.items() if done} == MEDIA_SOURCE.finished


@pytest.mark.parametrize(("status", "finished"), sorted(VOD_STATUSES.items()))
def test_a_video_is_refreshed_only_while_vod_says_its_source_is_not_in(client, auth, fake_vod, broker, status,
                                                                        finished):
    video_id = create_video(client, auth)
    fake_vod.set_status(video_id, status)

    response = client.post(f"/v1/videos/{video_id}/refresh", headers=auth())

    assert fake_vod.last_call("GetVideoInfo")["VideoId"] == video_id
    record = broker.ledger.find("vod", video_id)
    if finished:
        assert response.status_code == 409, response.json
        assert response.json["Code"] == "UploadAlreadyCompleted"
        assert response.json["Message"] == FINISHED_MESSAGE
        assert fake_vod.call_count("RefreshUploadVideo") == 0
        assert record.status == COMPLETED and record.refresh_count == 0
    else:
        assert response.status_code == 200, response.json
        assert fake_vod.call_count("RefreshUploadVideo") == 1
        assert record.status == PENDING and record.refresh_count == 1


@pytest.mark.parametrize(("status", "finished"), sorted(ICE_STATUSES.items()))
def test_a_media_asset_is_refreshed_only_while_ice_says_its_source_is_not_in(client, auth, fake_ice, broker, status,
                                                                              finished):
    media_id = create_media(client, auth)
    fake_ice.set_status(media_id, status)

    response = client.post(f"/v1/media/{media_id}/refresh", headers=auth())

    assert fake_ice.last_call("GetMediaInfo")["MediaId"] == media_id
    if finished:
        assert response.status_code == 409 and response.json["Code"] == "UploadAlreadyCompleted"
        assert fake_ice.call_count("RefreshUploadMedia") == 0
        assert broker.ledger.find("ice", media_id).status == COMPLETED
    else:
        assert response.status_code == 200, response.json
        assert fake_ice.call_count("RefreshUploadMedia") == 1


def test_once_the_ledger_knows_no_status_lookup_is_made(client, auth, fake_vod, broker):
    video_id = create_video(client, auth)
    fake_vod.set_status(video_id, "Normal")
    assert client.post(f"/v1/videos/{video_id}/refresh", headers=auth()).status_code == 409
    lookups = fake_vod.call_count("GetVideoInfo")

    for _ in range(3):
        assert client.post(f"/v1/videos/{video_id}/refresh", headers=auth()).status_code == 409

    assert fake_vod.call_count("GetVideoInfo") == lookups == 1
    assert fake_vod.call_count("RefreshUploadVideo") == 0


def test_a_completion_recorded_by_a_callback_refuses_without_asking_vod(client, auth, fake_vod, broker):
    video_id = create_video(client, auth)
    broker.ledger.mark_completed(provider="vod", resource_id=video_id, at=broker.clock())

    response = client.post(f"/v1/videos/{video_id}/refresh", headers=auth())

    assert response.status_code == 409 and response.json["Code"] == "UploadAlreadyCompleted"
    assert fake_vod.call_count("GetVideoInfo") == 0 and fake_vod.call_count("RefreshUploadVideo") == 0


def test_the_refusal_is_in_the_audit_trail(client, auth, fake_vod, broker):
    video_id = create_video(client, auth)
    fake_vod.set_status(video_id, "UploadSucc")
    client.post(f"/v1/videos/{video_id}/refresh", headers=auth())

    latest = broker.ledger.audit_history("alice", limit=1)[0]
    assert (latest.outcome, latest.code, latest.status, latest.resource_id, latest.operation) == (
        "refused", "UploadAlreadyCompleted", 409, video_id, "RefreshUploadVideo")


def test_an_upload_still_in_progress_is_refreshed_after_its_status_is_checked(client, auth, fake_vod):
    video_id = create_video(client, auth)
    response = client.post(f"/v1/videos/{video_id}/refresh", headers=auth())
    assert response.status_code == 200
    actions = [action for action, _ in fake_vod.calls]
    assert actions[-2:] == ["GetVideoInfo", "RefreshUploadVideo"]


# --- who may replace a finished source -----------------------------------------------------------------------


@pytest.mark.parametrize("config_overrides", [{"allow_source_replace": True}])
def test_the_operator_may_let_owners_replace_a_finished_source(client, auth, fake_vod, broker):
    video_id = create_video(client, auth)
    fake_vod.set_status(video_id, "Normal")

    response = client.post(f"/v1/videos/{video_id}/refresh", headers=auth())

    assert response.status_code == 200, response.json
    assert fake_vod.call_count("RefreshUploadVideo") == 1
    assert broker.ledger.audit_history("alice", limit=1)[0].outcome == "source-replaced"
    # Still only the owner: another user gets the same 404 as ever.
    assert client.post(f"/v1/videos/{video_id}/refresh", headers=auth("mallory")).status_code == 404


@pytest.mark.parametrize("config_overrides", [{"admin_scope": "broker:admin"}])
def test_an_admin_token_may_replace_a_finished_source_and_is_audited(client, auth, fake_vod, broker):
    video_id = create_video(client, auth)
    fake_vod.set_status(video_id, "Normal")
    assert client.post(f"/v1/videos/{video_id}/refresh", headers=auth()).status_code == 409

    response = client.post(f"/v1/videos/{video_id}/refresh", headers=auth("support", scope="broker:admin"))

    assert response.status_code == 200, response.json
    assert broker.ledger.audit_history("support", limit=1)[0].outcome == "admin-override"


@pytest.mark.parametrize("config_overrides", [{"max_refreshes": 1}])
def test_a_spent_refresh_allowance_is_refused_without_a_status_lookup(client, auth, fake_vod):
    video_id = create_video(client, auth)
    assert client.post(f"/v1/videos/{video_id}/refresh", headers=auth()).status_code == 200
    lookups = fake_vod.call_count("GetVideoInfo")

    response = client.post(f"/v1/videos/{video_id}/refresh", headers=auth())

    assert response.status_code == 403
    assert fake_vod.call_count("GetVideoInfo") == lookups


def test_another_users_video_gets_the_404_before_any_lookup(client, auth, fake_vod):
    video_id = create_video(client, auth, "alice")
    response = client.post(f"/v1/videos/{video_id}/refresh", headers=auth("mallory"))
    assert response.status_code == 404
    assert fake_vod.call_count("GetVideoInfo") == 0


# --- a lookup that fails follows the refresh's own error rules ----------------------------------------------


@pytest.mark.parametrize(("fault", "status", "code"), [
    ({"code": "InternalError"}, 502, "UpstreamError"),
    ({"code": "ServiceUnAvailable"}, 503, "UpstreamUnavailable"),
    ({"code": "Throttling.User"}, 429, "Throttling"),
    ({"drop": True}, 503, "UpstreamUnavailable"),
])
def test_a_failing_lookup_is_the_refreshs_failure_and_no_refresh_is_made(client, auth, fake_vod, broker, fault,
                                                                         status, code):
    video_id = create_video(client, auth)
    fake_vod.inject("GetVideoInfo", count=10, **fault)

    response = client.post(f"/v1/videos/{video_id}/refresh", headers=auth())

    assert (response.status_code, response.json["Code"]) == (status, code), response.json
    assert fake_vod.call_count("RefreshUploadVideo") == 0
    assert 1 <= fake_vod.call_count("GetVideoInfo") <= 3  # bounded attempts
    record = broker.ledger.find("vod", video_id)
    assert record.status == PENDING and record.refresh_count == 0


def test_a_lookup_that_finds_no_video_is_the_same_404_as_a_missing_one(client, auth, fake_vod):
    video_id = create_video(client, auth)
    fake_vod.inject("GetVideoInfo", status=404, code="InvalidVideo.NotFound", message="The video does not exist.")

    response = client.post(f"/v1/videos/{video_id}/refresh", headers=auth())

    assert response.status_code == 404 and response.json["Code"] == "InvalidVideo.NotFound"
    assert fake_vod.call_count("RefreshUploadVideo") == 0


def test_ice_answering_an_unknown_media_id_with_invalid_parameter_is_a_404(client, auth, fake_ice):
    media_id = create_media(client, auth)
    fake_ice.inject("GetMediaInfo", status=400, code="InvalidParameter",
                    message='The specified parameter "MediaId" is not valid.')

    response = client.post(f"/v1/media/{media_id}/refresh", headers=auth())

    assert response.status_code == 404 and response.json["Code"] == "ResourceNotFound"
    assert fake_ice.call_count("RefreshUploadMedia") == 0


# --- the status check itself ---------------------------------------------------------------------------------


class _Upstream:
    def __init__(self, answer):
        self.answer = answer

    def call(self, action, params, **_):
        return self.answer


class _Broker:
    def __init__(self, answer, broker):
        self._upstream = _Upstream(answer)
        self.real = broker
        self.config = broker.config

    def upstream(self, _name):
        return self._upstream

    def credentials(self, request):
        return self.real.credentials(request)


def _call(broker, answer):
    from upload_broker.call import Call
    from upload_broker.http import Headers, Request

    class Principal:
        sub = "alice"

    return Call(_Broker(answer, broker), Request("POST", "/", Headers()), Principal(), {}, {}, "req-1")


def test_a_status_no_one_documented_counts_as_finished_and_is_logged(broker, caplog):
    from functions.refresh_upload_video.operation import operation

    call = _call(broker, {"Video": {"Status": "Archived"}})
    with caplog.at_level(logging.WARNING, logger="upload_broker"):
        assert source_in(call, operation, VIDEO_SOURCE, "v" * 32) is True
    assert any(getattr(r, "status", None) == "Archived" for r in caplog.records)


@pytest.mark.parametrize("answer", [{}, {"Video": {}}, {"Video": {"Status": ""}}, {"Video": "Normal"},
                                    {"Video": {"Status": 3}}])
def test_an_answer_without_a_status_is_an_upstream_error(broker, answer):
    from functions.refresh_upload_video.operation import operation
    from upload_broker.errors import UpstreamError

    call = _call(broker, answer)
    with pytest.raises(UpstreamError):
        source_in(call, operation, VIDEO_SOURCE, "v" * 32)
