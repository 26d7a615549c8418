"""POST /v1/media/{MediaId}/refresh end to end: only the creating user, and 404 for everyone else without an
upstream call."""

from __future__ import annotations

import base64
import json

import pytest

MEDIA = {"FileInfo": {"Type": "video", "Name": "holiday", "Ext": "mp4"}}


def create_media(client, auth, user="alice"):
    response = client.post("/v1/media", json=MEDIA, headers=auth(user))
    assert response.status_code == 200, response.json
    return response.json["MediaId"]


def without_request_id(body: dict) -> dict:
    return {k: v for k, v in body.items() if k != "RequestId"}


def test_owner_gets_a_new_credential_for_the_same_address(client, auth, fake_ice, broker):
    media_id = create_media(client, auth)
    first = fake_ice.credential_for(media_id)["AccessKeyId"]

    response = client.post(f"/v1/media/{media_id}/refresh", headers=auth("alice"))

    assert response.status_code == 200, response.json
    body = response.json
    assert set(body) == {"RequestId", "MediaId", "UploadAddress", "UploadAuth", "Expiration"}
    assert body["MediaId"] == media_id
    upload_auth = json.loads(base64.b64decode(body["UploadAuth"]))
    assert upload_auth["AccessKeyId"] != first
    assert body["Expiration"] == upload_auth["ExpireUTCTime"]
    assert fake_ice.last_call("RefreshUploadMedia")["MediaId"] == media_id
    assert broker.ledger.find("ice", media_id).refresh_count == 1


def test_an_empty_object_is_an_empty_body_and_anything_else_is_refused(client, auth, fake_ice):
    media_id = create_media(client, auth)
    assert client.post(f"/v1/media/{media_id}/refresh", json={}, headers=auth()).status_code == 200

    response = client.post(f"/v1/media/{media_id}/refresh", json={"MediaId": "other"}, headers=auth())

    assert response.status_code == 400 and response.json["Field"] == "MediaId"
    assert fake_ice.call_count("RefreshUploadMedia") == 1


def test_another_users_media_is_not_found_and_ice_is_never_called(client, auth, fake_ice):
    media_id = create_media(client, auth, "alice")

    response = client.post(f"/v1/media/{media_id}/refresh", headers=auth("mallory"))

    assert response.status_code == 404
    assert response.json["Code"] == "ResourceNotFound"
    assert fake_ice.call_count("RefreshUploadMedia") == 0


def test_media_the_broker_never_issued_looks_exactly_like_missing_media(client, auth, fake_ice):
    seeded = fake_ice.create_media()["MediaId"]  # exists in ICE, created outside the broker

    seeded_answer = client.post(f"/v1/media/{seeded}/refresh", headers=auth())
    unknown_answer = client.post("/v1/media/0123456789abcdef0123456789abcdef/refresh", headers=auth())

    assert seeded_answer.status_code == unknown_answer.status_code == 404
    assert without_request_id(seeded_answer.json) == without_request_id(unknown_answer.json)
    assert fake_ice.call_count("RefreshUploadMedia") == 0


def test_media_gone_upstream_answers_like_the_ledger_miss(client, auth, fake_ice):
    media_id = create_media(client, auth)
    fake_ice.reset()  # ICE forgot the asset: it answers 404 ResourceNotFound

    gone = client.post(f"/v1/media/{media_id}/refresh", headers=auth())
    never = client.post("/v1/media/0123456789abcdef0123456789abcdef/refresh", headers=auth())

    assert gone.status_code == 404
    # The status lookup before the refresh is what finds it gone; no refresh is attempted.
    assert fake_ice.results[-1] == ("GetMediaInfo", 404, "ResourceNotFound")
    assert fake_ice.call_count("RefreshUploadMedia") == 0
    assert without_request_id(gone.json) == without_request_id(never.json)


@pytest.mark.parametrize("media_id", ["a" * 65, "..", "%2e%2e", "x y"])
def test_malformed_ids_are_not_found_without_an_upstream_call(client, auth, fake_ice, media_id):
    response = client.post(f"/v1/media/{media_id}/refresh", headers=auth())
    assert response.status_code == 404
    assert fake_ice.call_count() == 0


def test_refresh_retries_throttling_and_5xx_then_succeeds(client, auth, fake_ice):
    media_id = create_media(client, auth)
    fake_ice.inject("RefreshUploadMedia", status=400, code="Throttling.User")
    fake_ice.inject("RefreshUploadMedia", status=500, code="InternalError")

    response = client.post(f"/v1/media/{media_id}/refresh", headers=auth())

    assert response.status_code == 200, response.json
    assert fake_ice.call_count("RefreshUploadMedia") == 3


def test_server_credentials_refused_is_502(client, auth, fake_ice):
    media_id = create_media(client, auth)
    fake_ice.inject("RefreshUploadMedia", status=400, code="InvalidAccessKeyId.Inactive")

    response = client.post(f"/v1/media/{media_id}/refresh", headers=auth())

    assert response.status_code == 502 and response.json["Code"] == "UpstreamError"


def test_no_token_is_401(client, fake_ice):
    response = client.post("/v1/media/0123456789abcdef0123456789abcdef/refresh")
    assert response.status_code == 401
