"""POST /v1/callbacks/vod: VOD's signed HTTP callbacks lock finished uploads; every refused variant changes
nothing. Signature per "HTTP callback authentication" (https://www.alibabacloud.com/help/doc-detail/67214.htm):
md5("<callback URL>|<X-VOD-TIMESTAMP>|<key>"), lowercase hex."""

from __future__ import annotations

import hashlib
import json
import time

import pytest

from upload_broker.callbacks import CLOCK_WINDOW_SECONDS

CALLBACK_URL = "https://broker.example.com/v1/callbacks/vod"
KEY = "Test1234Key"  # obviously fake
OLD_KEY = "Old9876Key"
VIDEO = {"Title": "Holiday", "FileName": "holiday.mp4"}


@pytest.fixture
def config_overrides() -> dict:
    return {"vod_callback_url": CALLBACK_URL, "vod_callback_auth_keys": (KEY,)}


def sign(timestamp: int | str, key: str = KEY, url: str = CALLBACK_URL) -> str:
    return hashlib.md5(f"{url}|{timestamp}|{key}".encode()).hexdigest()


def signed(timestamp: int | None = None, key: str = KEY, url: str = CALLBACK_URL) -> dict[str, str]:
    timestamp = int(time.time()) if timestamp is None else timestamp
    return {"X-VOD-TIMESTAMP": str(timestamp), "X-VOD-SIGNATURE": sign(timestamp, key, url)}


def file_upload_complete(video_id: str, status: str = "success") -> dict:
    # https://www.alibabacloud.com/help/en/vod/user-guide/fileuploadcomplete (sample body)
    return {"Status": status, "EventTime": "2017-03-20T07:49:17Z", "EventType": "FileUploadComplete",
            "VideoId": video_id, "Size": 1439213, "FileUrl": "http://example-bucket.oss-cn-shanghai.aliyuncs.com/x.mp4"}


def post(client, event, headers):
    return client.post("/v1/callbacks/vod", data=json.dumps(event), headers={"Content-Type": "application/json",
                                                                             **headers})


def create_video(client, auth, user="alice") -> str:
    response = client.post("/v1/videos", json=VIDEO, headers=auth(user))
    assert response.status_code == 200, response.json
    return response.json["VideoId"]


def test_the_docs_own_example_signature():
    # "md5sum(https://www.example.com/your/callback|1519375990|test123)" in the doc.
    assert sign(1519375990, "test123", "https://www.example.com/your/callback") == "c72b60894140fa98920f1279219b7ed4"


def test_a_signed_file_upload_complete_locks_the_video(client, auth, broker, fake_vod):
    video_id = create_video(client, auth)

    response = post(client, file_upload_complete(video_id), signed())

    assert response.status_code == 200, response.json
    assert set(response.json) == {"RequestId"}
    assert broker.ledger.find("vod", video_id).status == "completed"
    refresh = client.post(f"/v1/videos/{video_id}/refresh", headers=auth())
    assert refresh.status_code == 409 and refresh.json["Code"] == "UploadAlreadyCompleted"
    assert fake_vod.call_count("GetVideoInfo") == 0 and fake_vod.call_count("RefreshUploadVideo") == 0


def test_the_completion_is_audited_under_the_owner(client, auth, broker):
    video_id = create_video(client, auth)
    post(client, file_upload_complete(video_id), signed())
    latest = broker.ledger.audit_history("alice", limit=1)[0]
    assert (latest.outcome, latest.operation, latest.resource_id) == ("completed", "FileUploadComplete", video_id)


def test_image_and_attached_media_events_lock_theirs(client, auth, broker):
    image = client.post("/v1/images", json={"ImageType": "cover"}, headers=auth()).json["ImageId"]
    attached = client.post("/v1/attached-media", json={"BusinessType": "watermark", "MediaExt": "png"},
                           headers=auth()).json["MediaId"]
    # https://alibabacloud.com/help/en/vod/user-guide/imageuploadcomplete and .../attachedmediauploadcomplete
    image_event = {"Status": "success", "EventType": "ImageUploadComplete", "EventTime": "2024-04-10T01:37:14:627Z",
                   "ImageId": image, "Size": 105520, "FileURL": "https://x/y.jpg"}
    attached_event = {"Status": "success", "EventType": "AttachedMediaUploadComplete",
                      "EventTime": "2019-01-20T07:49:17Z", "AttachedMediaId": attached, "Size": 14333,
                      "FileURL": "https://x/y.png"}

    assert post(client, image_event, signed()).status_code == 200
    assert post(client, attached_event, signed()).status_code == 200

    assert broker.ledger.find("vod", image).status == "completed"
    assert broker.ledger.find("vod", attached).status == "completed"


def test_a_second_delivery_of_the_same_event_changes_nothing(client, auth, broker):
    video_id = create_video(client, auth)
    post(client, file_upload_complete(video_id), signed())
    first = broker.ledger.find("vod", video_id).completed_at

    assert post(client, file_upload_complete(video_id), signed()).status_code == 200

    assert broker.ledger.find("vod", video_id).completed_at == first
    assert [r.outcome for r in broker.ledger.audit_history("alice")].count("completed") == 1


@pytest.mark.parametrize("event", [
    {"EventType": "FileUploadComplete", "VideoId": "0" * 32, "Status": "success"},  # never issued
    {"EventType": "FileUploadComplete", "VideoId": "${id}", "Status": "fail"},
    {"EventType": "FileUploadComplete", "VideoId": "${id}"},  # no Status
    {"EventType": "TranscodeComplete", "VideoId": "${id}", "Status": "success"},  # not an upload completing
    {"EventType": "ImageUploadComplete", "ImageId": "${id}", "Status": "success"},  # a video's id as an image
    {"EventType": "AttachedMediaUploadComplete", "MediaId": "${id}", "Status": "success"},  # the id is AttachedMediaId
    {"EventType": "FileUploadComplete", "VideoId": "../${id}", "Status": "success"},
    {"EventType": "FileUploadComplete", "VideoId": ["${id}"], "Status": "success"},
    {"VideoId": "${id}", "Status": "success"},
    {},
])
def test_a_verified_event_that_locks_nothing_is_acknowledged_unchanged(client, auth, broker, event):
    video_id = create_video(client, auth)
    event = json.loads(json.dumps(event).replace("${id}", video_id))

    response = post(client, event, signed())

    assert response.status_code == 200, response.json  # VOD retries anything but a 200
    assert broker.ledger.find("vod", video_id).status == "pending"


def test_no_bearer_token_is_needed_and_a_bearer_token_grants_nothing(client, auth, broker):
    video_id = create_video(client, auth)
    response = post(client, file_upload_complete(video_id), auth())  # a valid user token, no VOD signature
    assert response.status_code == 403
    assert broker.ledger.find("vod", video_id).status == "pending"


# --- every refused variant: 403, no change -------------------------------------------------------------------


def _now() -> int:
    return int(time.time())


REFUSED = {
    "no headers": lambda: {},
    "no signature": lambda: {"X-VOD-TIMESTAMP": str(_now())},
    "no timestamp": lambda: {"X-VOD-SIGNATURE": sign(_now())},
    "empty signature": lambda: {"X-VOD-TIMESTAMP": str(_now()), "X-VOD-SIGNATURE": ""},
    "wrong key": lambda: signed(key="Wrong123Key"),
    "another URL": lambda: signed(url="https://evil.example.com/v1/callbacks/vod"),
    "URL with a trailing slash": lambda: signed(url=CALLBACK_URL + "/"),
    "signature of another timestamp": lambda: {"X-VOD-TIMESTAMP": str(_now()), "X-VOD-SIGNATURE": sign(_now() - 1)},
    "stale": lambda: signed(_now() - CLOCK_WINDOW_SECONDS - 5),
    "future": lambda: signed(_now() + CLOCK_WINDOW_SECONDS + 5),
    "an hour old": lambda: signed(_now() - 3600),
    "milliseconds": lambda: {"X-VOD-TIMESTAMP": str(_now() * 1000), "X-VOD-SIGNATURE": sign(_now() * 1000)},
    "nine digits": lambda: signed(999_999_999),
    "not a number": lambda: {"X-VOD-TIMESTAMP": "abc", "X-VOD-SIGNATURE": sign("abc")},
    "signed timestamp with spaces": lambda: {"X-VOD-TIMESTAMP": f"{_now()} 1", "X-VOD-SIGNATURE": sign(f"{_now()} 1")},
    "signature too short": lambda: {"X-VOD-TIMESTAMP": str(_now()), "X-VOD-SIGNATURE": sign(_now())[:31]},
    "signature too long": lambda: {"X-VOD-TIMESTAMP": str(_now()), "X-VOD-SIGNATURE": sign(_now()) + "0"},
    "signature not hex": lambda: {"X-VOD-TIMESTAMP": str(_now()), "X-VOD-SIGNATURE": "z" * 32},
    "sha256 instead of md5": lambda: {
        "X-VOD-TIMESTAMP": str(_now()),
        "X-VOD-SIGNATURE": hashlib.sha256(f"{CALLBACK_URL}|{_now()}|{KEY}".encode()).hexdigest()},
    "key and timestamp swapped": lambda: {
        "X-VOD-TIMESTAMP": str(_now()),
        "X-VOD-SIGNATURE": hashlib.md5(f"{CALLBACK_URL}|{KEY}|{_now()}".encode()).hexdigest()},
}


@pytest.mark.parametrize("variant", sorted(REFUSED))
def test_a_callback_that_does_not_verify_is_refused_and_changes_nothing(client, auth, broker, variant):
    video_id = create_video(client, auth)

    response = post(client, file_upload_complete(video_id), REFUSED[variant]())

    assert response.status_code == 403, response.json
    assert response.json["Code"] == "Forbidden"
    assert set(response.json) == {"Code", "Message", "RequestId"}
    assert KEY not in response.get_data(as_text=True)
    assert broker.ledger.find("vod", video_id).status == "pending"


def test_a_refused_callback_is_audited_without_a_user(client, auth, broker):
    video_id = create_video(client, auth)
    post(client, file_upload_complete(video_id), signed(key="Wrong123Key"))
    records = broker.ledger.audit_history("alice")
    assert all(r.operation != "VodCallback" for r in records)  # never under a user's name
    assert broker.ledger.find("vod", video_id).status == "pending"


def test_a_signature_in_upper_case_hex_verifies(client, auth, broker):
    video_id = create_video(client, auth)
    now = _now()
    headers = {"X-VOD-TIMESTAMP": str(now), "X-VOD-SIGNATURE": sign(now).upper()}
    assert post(client, file_upload_complete(video_id), headers).status_code == 200


def test_a_timestamp_just_inside_the_window_verifies(client, auth, broker):
    video_id = create_video(client, auth)
    assert post(client, file_upload_complete(video_id), signed(_now() - CLOCK_WINDOW_SECONDS + 5)).status_code == 200


@pytest.mark.parametrize("config_overrides", [{"vod_callback_url": CALLBACK_URL, "vod_callback_auth_keys": ()},
                                              {"vod_callback_url": None, "vod_callback_auth_keys": ()}])
def test_with_no_key_configured_every_callback_is_refused(client, auth, broker):
    video_id = create_video(client, auth)
    response = post(client, file_upload_complete(video_id), signed())
    assert response.status_code == 403
    assert "VOD_CALLBACK_AUTH_KEY" in response.json["Message"]
    assert broker.ledger.find("vod", video_id).status == "pending"


@pytest.mark.parametrize("config_overrides",
                         [{"vod_callback_url": CALLBACK_URL, "vod_callback_auth_keys": (KEY, OLD_KEY)}])
def test_during_a_key_rotation_both_keys_verify(client, auth, broker):
    first, second = create_video(client, auth), create_video(client, auth)
    assert post(client, file_upload_complete(first), signed(key=KEY)).status_code == 200
    assert post(client, file_upload_complete(second), signed(key=OLD_KEY)).status_code == 200
    assert post(client, file_upload_complete(second), signed(key="Third333Key")).status_code == 403


# --- malformed requests after the signature ------------------------------------------------------------------


def test_a_verified_body_that_is_not_json_is_a_400(client, auth, broker):
    response = client.post("/v1/callbacks/vod", data=b"{not json", headers={"Content-Type": "application/json",
                                                                           **signed()})
    assert response.status_code == 400 and response.json["Code"] == "InvalidJSON"


def test_an_unsigned_body_is_not_even_read(client):
    response = client.post("/v1/callbacks/vod", data=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 403


def test_any_content_type_is_read_as_json(client, auth, broker):
    video_id = create_video(client, auth)
    response = client.post("/v1/callbacks/vod", data=json.dumps(file_upload_complete(video_id)),
                           headers={"Content-Type": "text/plain", **signed()})
    assert response.status_code == 200
    assert broker.ledger.find("vod", video_id).status == "completed"


def test_an_oversized_callback_is_a_413(client):
    response = client.post("/v1/callbacks/vod", data=b"{" + b" " * 70_000 + b"}",
                           headers={"Content-Type": "application/json", **signed()})
    assert response.status_code == 413


def test_only_post(client):
    response = client.get("/v1/callbacks/vod", headers=signed())
    assert response.status_code == 405 and "POST" in response.headers["Allow"]
