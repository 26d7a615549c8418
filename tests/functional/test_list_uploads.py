"""GET /v1/uploads: the caller's own uploads, newest first, paged with a NextToken only the caller can use."""

from __future__ import annotations

import base64
import json
import time

import pytest

VIDEO = {"Title": "Holiday", "FileName": "holiday.mp4"}


def create_video(client, auth, user="alice") -> str:
    response = client.post("/v1/videos", json=VIDEO, headers=auth(user))
    assert response.status_code == 200, response.json
    return response.json["VideoId"]


def listing(client, auth, user="alice", **query):
    return client.get("/v1/uploads", query_string=query, headers=auth(user))


def all_pages(client, auth, user="alice", **query) -> list[dict]:
    seen, token = [], None
    for _ in range(100):
        params = dict(query, **({"NextToken": token} if token else {}))
        response = listing(client, auth, user, **params)
        assert response.status_code == 200, response.json
        seen += response.json["Uploads"]
        token = response.json["NextToken"]
        if token is None:
            return seen
    raise AssertionError("the listing never ended")


def test_the_callers_uploads_newest_first_with_every_field(client, auth):
    first = create_video(client, auth)
    time.sleep(0.01)  # the order is by creation millisecond
    image = client.post("/v1/images", json={"ImageType": "cover"}, headers=auth()).json["ImageId"]
    time.sleep(0.01)
    media = client.post("/v1/media", json={"FileInfo": {"Type": "video", "Name": "a", "Ext": "mp4"}},
                        headers=auth()).json["MediaId"]
    create_video(client, auth, "mallory")

    response = listing(client, auth)

    assert response.status_code == 200, response.json
    body = response.json
    assert set(body) == {"RequestId", "Uploads", "NextToken"}
    assert body["NextToken"] is None
    uploads = body["Uploads"]
    assert [(u["Provider"], u["Kind"], u["Id"]) for u in uploads] == [
        ("ice", "media", media), ("vod", "image", image), ("vod", "video", first)]
    for upload in uploads:
        assert set(upload) == {"Provider", "Kind", "Id", "CreatedAt", "Status", "CompletedAt", "RefreshCount"}
        assert upload["Status"] == "pending" and upload["CompletedAt"] is None and upload["RefreshCount"] == 0
        assert upload["CreatedAt"].endswith("Z") and len(upload["CreatedAt"]) == 20


def test_refreshes_and_completion_show(client, auth, fake_vod):
    done, going = create_video(client, auth), create_video(client, auth)
    assert client.post(f"/v1/videos/{going}/refresh", headers=auth()).status_code == 200
    fake_vod.set_status(done, "Normal")
    assert client.post(f"/v1/videos/{done}/refresh", headers=auth()).status_code == 409

    uploads = {u["Id"]: u for u in listing(client, auth).json["Uploads"]}

    assert (uploads[going]["Status"], uploads[going]["RefreshCount"]) == ("pending", 1)
    assert (uploads[done]["Status"], uploads[done]["RefreshCount"]) == ("completed", 0)
    assert uploads[done]["CompletedAt"].endswith("Z")


def test_the_status_filter_finds_the_unfinished_uploads_to_resume(client, auth, broker):
    ids = [create_video(client, auth) for _ in range(5)]
    for video_id in ids[:3]:
        broker.ledger.mark_completed(provider="vod", resource_id=video_id, at=broker.clock())

    pending = listing(client, auth, Status="pending").json["Uploads"]
    completed = listing(client, auth, Status="completed").json["Uploads"]

    assert {u["Id"] for u in pending} == set(ids[3:])
    assert {u["Id"] for u in completed} == set(ids[:3])


def test_no_token_no_listing(client):
    response = client.get("/v1/uploads")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_user_with_no_uploads_gets_an_empty_list(client, auth):
    create_video(client, auth, "alice")
    body = listing(client, auth, "nobody").json
    assert (body["Uploads"], body["NextToken"]) == ([], None)


def test_only_get(client, auth):
    response = client.post("/v1/uploads", json={}, headers=auth())
    assert response.status_code == 405


# --- paging ----------------------------------------------------------------------------------------------------


def test_pages_cover_every_upload_once(client, auth):
    ids = [create_video(client, auth) for _ in range(7)]

    first = listing(client, auth, MaxResults="3").json
    assert len(first["Uploads"]) == 3 and first["NextToken"]
    seen = all_pages(client, auth, MaxResults="3")

    assert sorted(u["Id"] for u in seen) == sorted(ids)
    assert len(seen) == 7


def test_the_default_page_is_ten(client, auth):
    for _ in range(11):
        create_video(client, auth)
    body = listing(client, auth).json
    assert len(body["Uploads"]) == 10 and body["NextToken"]


@pytest.mark.parametrize("value", ["0", "101", "-1", "1.5", "ten", " 5", "1e2", "٣"])
def test_max_results_out_of_range_is_refused(client, auth, value):
    response = listing(client, auth, MaxResults=value)
    assert response.status_code == 400 and response.json["Field"] == "MaxResults"


def test_max_results_of_a_hundred_is_allowed(client, auth):
    assert listing(client, auth, MaxResults="100").status_code == 200


@pytest.mark.parametrize("value", ["done", "Pending", "COMPLETED", "all"])
def test_an_unknown_status_is_refused(client, auth, value):
    response = listing(client, auth, Status=value)
    assert response.status_code == 400 and response.json["Field"] == "Status"


def test_an_unknown_query_parameter_is_refused(client, auth):
    response = listing(client, auth, MaxResult="5")  # a typo must not silently drop the setting
    assert response.status_code == 400 and response.json["Field"] == "MaxResult"


# --- NextToken: opaque, tamper-proof, the caller's own ---------------------------------------------------------


def _token(client, auth, user="alice", **query) -> str:
    for _ in range(3):
        create_video(client, auth, user)
    token = listing(client, auth, user, MaxResults="1", **query).json["NextToken"]
    assert token
    return token


def _flip(text: str, index: int) -> str:
    char = text[index]
    return text[:index] + ("A" if char != "A" else "B") + text[index + 1:]


def test_a_token_works_only_for_the_user_it_was_given_to(client, auth):
    token = _token(client, auth, "alice")
    create_video(client, auth, "mallory")
    response = listing(client, auth, "mallory", NextToken=token)
    assert response.status_code == 400 and response.json["Field"] == "NextToken"


def test_a_token_works_only_with_the_status_it_was_given_for(client, auth):
    token = _token(client, auth, Status="pending")
    assert listing(client, auth, NextToken=token, Status="pending").status_code == 200
    response = listing(client, auth, NextToken=token)
    assert response.status_code == 400 and response.json["Field"] == "NextToken"


@pytest.mark.parametrize("where", ["payload start", "payload middle", "digest"])
def test_an_altered_token_is_refused(client, auth, where):
    token = _token(client, auth)
    payload, digest = token.split(".")
    index = {"payload start": 0, "payload middle": len(payload) // 2, "digest": len(payload) + 3}[where]
    response = listing(client, auth, NextToken=_flip(token, index))
    assert response.status_code == 400 and response.json["Field"] == "NextToken"


def test_a_token_forged_with_a_matching_digest_still_needs_the_ledgers_word(client, auth):
    """The digest is no secret: a token pointing at another user's upload, or at a time that upload was not
    created at, is refused because the ledger says so."""
    from upload_broker.ledger import Position
    from upload_broker.uploads import next_token

    mallorys = create_video(client, auth, "mallory")
    create_video(client, auth, "alice")
    forged = next_token("alice", Position(0, "vod", mallorys), None)
    response = listing(client, auth, NextToken=forged)
    assert response.status_code == 400 and response.json["Field"] == "NextToken"


@pytest.mark.parametrize("bad", ["", "x", "a.b", "a.b.c", "." * 3, "ü.ü", "%00", "A" * 600,
                                   base64.urlsafe_b64encode(json.dumps([1, 2]).encode()).decode() + ".AAAA"])
def test_a_token_that_is_not_one_is_refused(client, auth, bad):
    create_video(client, auth)
    response = listing(client, auth, NextToken=bad)
    if bad == "":
        assert response.status_code == 200  # an empty NextToken is the first page, as with ICE's lists
    else:
        assert response.status_code == 400 and response.json["Field"] == "NextToken"


def test_a_wangsu_file_id_is_not_an_upload_of_its_own(client, auth, broker):
    """The fileId claim is owned like a resource, but the upload is the video the create issued: one entry."""
    answer = client.post("/v1/wangsu/upload-tokens", json={"originFileName": "trip.mp4", "fileId": "file-123"},
                         headers=auth())
    assert answer.status_code == 200, answer.json

    uploads = listing(client, auth).json["Uploads"]

    assert [(u["Provider"], u["Kind"], u["Id"]) for u in uploads] == [("wangsu", "video", answer.json["videoId"])]
    assert broker.ledger.find("wangsu-file", "file-123").owner == "alice"  # still the caller's claim


def test_a_claim_recorded_by_an_older_broker_is_not_listed(client, auth, broker):
    # Before claims were kept out of the index, one was written like an upload.
    broker.ledger.record_creation(provider="wangsu-file", resource_id="old-file", owner="alice", kind="file",
                                  operation="getUploadToken", request_id="r", upstream_request_id=None,
                                  at=time.time())
    video_id = create_video(client, auth)
    assert [u["Id"] for u in listing(client, auth).json["Uploads"]] == [video_id]
