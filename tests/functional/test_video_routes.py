"""The video routes end to end: HTTP → broker → real aliyun SDK → fake VOD (which checks the signature)."""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import ALLOWED_ORIGIN
from tests.jwt_helpers import HS256_SECRET, hs256, unsigned

VIDEO = {"Title": "Holiday", "FileName": "holiday.mp4"}


def create_video(client, auth, user="alice", body=None):
    response = client.post("/v1/videos", json=body or VIDEO, headers=auth(user))
    assert response.status_code == 200, response.json
    return response.json


def decode(b64: str) -> dict:
    return json.loads(base64.b64decode(b64))


# --- happy paths -------------------------------------------------------------------------------------


def test_create_returns_vod_credentials_and_their_expiration(client, auth, fake_vod):
    body = create_video(client, auth, body={**VIDEO, "FileSize": 1024, "Description": "d", "CateId": 7,
                                            "Tags": "a,b", "CoverURL": "https://img.example.com/c.png"})

    assert set(body) == {"RequestId", "VideoId", "UploadAddress", "UploadAuth", "Expiration"}
    address, upload_auth = decode(body["UploadAddress"]), decode(body["UploadAuth"])
    assert {"Endpoint", "Bucket", "FileName"} <= set(address)
    assert body["Expiration"] == upload_auth["ExpireUTCTime"]
    sent = fake_vod.last_call("CreateUploadVideo")
    assert sent["Title"] == "Holiday" and sent["FileName"] == "holiday.mp4"
    assert sent["FileSize"] == "1024" and sent["CateId"] == "7" and sent["Tags"] == "a,b"
    assert body["VideoId"] in fake_vod.videos


def test_refresh_of_own_video_returns_new_credentials(client, auth, fake_vod):
    video_id = create_video(client, auth)["VideoId"]

    response = client.post(f"/v1/videos/{video_id}/refresh", headers=auth("alice"))

    assert response.status_code == 200, response.json
    assert response.json["VideoId"] == video_id
    assert {"RequestId", "UploadAddress", "UploadAuth", "Expiration"} <= set(response.json)
    assert fake_vod.call_count("RefreshUploadVideo") == 1


def test_refresh_accepts_an_empty_json_object(client, auth, fake_vod):
    video_id = create_video(client, auth)["VideoId"]
    response = client.post(f"/v1/videos/{video_id}/refresh", json={}, headers=auth("alice"))
    assert response.status_code == 200


def test_expiration_falls_back_to_seconds_when_no_utc_time(fake_vod):
    from upload_broker.flows import upload_auth_expiration

    auth = base64.b64encode(json.dumps({"Expiration": "3000"}).encode()).decode()
    now = datetime(2026, 1, 1, tzinfo=timezone.utc)
    assert upload_auth_expiration(auth, now.timestamp()) == "2026-01-01T00:50:00Z"


# --- ownership: the danger the broker removes --------------------------------------------------------


def test_another_users_video_is_not_found_and_vod_is_never_called(client, auth, fake_vod):
    video_id = create_video(client, auth, "alice")["VideoId"]

    response = client.post(f"/v1/videos/{video_id}/refresh", headers=auth("mallory"))

    assert response.status_code == 404
    assert response.json["Code"] == "InvalidVideo.NotFound"
    assert fake_vod.call_count("RefreshUploadVideo") == 0


def test_a_video_the_broker_never_issued_is_not_found_like_any_other(client, auth, fake_vod):
    seeded = fake_vod.create_video()["VideoId"]  # exists upstream, created outside the broker

    response = client.post(f"/v1/videos/{seeded}/refresh", headers=auth("alice"))
    unknown = client.post("/v1/videos/0123456789abcdef0123456789abcdef/refresh", headers=auth("alice"))

    assert response.status_code == unknown.status_code == 404
    assert {k: v for k, v in response.json.items() if k != "RequestId"} == {
        k: v for k, v in unknown.json.items() if k != "RequestId"
    }
    assert fake_vod.call_count("RefreshUploadVideo") == 0


# --- the error matrix --------------------------------------------------------------------------------

LONG_TITLE = "题" * 43  # 129 bytes of UTF-8 in 43 characters


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"FileName": "a.mp4"}, 400, "MissingParameter", "Title"),
        ({"Title": "  ", "FileName": "a.mp4"}, 400, "MissingParameter", "Title"),
        ({"Title": "t"}, 400, "MissingParameter", "FileName"),
        ({"Title": LONG_TITLE, "FileName": "a.mp4"}, 400, "InvalidParameter", "Title"),
        ({"Title": 5, "FileName": "a.mp4"}, 400, "InvalidParameter", "Title"),
        ({"Title": "t", "FileName": "a.exe"}, 400, "InvalidParameter", "FileName"),
        ({"Title": "t", "FileName": "noextension"}, 400, "InvalidParameter", "FileName"),
        ({"Title": "t", "FileName": ".mp4"}, 400, "InvalidParameter", "FileName"),
        ({"Title": "t", "FileName": "a.mp4", "FileSize": -1}, 400, "InvalidParameter", "FileSize"),
        ({"Title": "t", "FileName": "a.mp4", "FileSize": 1.5}, 400, "InvalidParameter", "FileSize"),
        ({"Title": "t", "FileName": "a.mp4", "FileSize": "big"}, 400, "InvalidParameter", "FileSize"),
        ({"Title": "t", "FileName": "a.mp4", "FileSize": True}, 400, "InvalidParameter", "FileSize"),
        ({"Title": "t", "FileName": "a.mp4", "Description": "d" * 1025}, 400, "InvalidParameter", "Description"),
        ({"Title": "t", "FileName": "a.mp4", "Tags": ",".join(["t"] * 17)}, 400, "InvalidParameter", "Tags"),
        ({"Title": "t", "FileName": "a.mp4", "Tags": "x" * 33}, 400, "InvalidParameter", "Tags"),
        ({"Title": "t", "FileName": "a.mp4", "Tags": "a,,b"}, 400, "InvalidParameter", "Tags"),
        ({"Title": "t", "FileName": "a.mp4", "Tags": {"a": 1}}, 400, "InvalidParameter", "Tags"),
        ({"Title": "t", "FileName": "a.mp4", "CateId": "seven"}, 400, "InvalidParameter", "CateId"),
        ({"Title": "t", "FileName": "a.mp4", "CoverURL": "ftp://x/y.png"}, 400, "InvalidParameter", "CoverURL"),
        ({"Title": "t", "FileName": "a.mp4", "CoverURL": "javascript:alert(1)"}, 400, "InvalidParameter",
         "CoverURL"),
        ({"Title": "t", "FileName": "a.mp4", "Titel": "typo"}, 400, "InvalidParameter", "Titel"),
        ({"Title": "t", "FileName": "a.mp4", "TemplateGroupId": "x"}, 400, "ForbiddenParameter", "TemplateGroupId"),
        ({"Title": "t", "FileName": "a.mp4", "WorkflowId": "x"}, 400, "ForbiddenParameter", "WorkflowId"),
        ({"Title": "t", "FileName": "a.mp4", "StorageLocation": "x"}, 400, "ForbiddenParameter", "StorageLocation"),
        ({"Title": "t", "FileName": "a.mp4", "AppId": "app-1"}, 400, "ForbiddenParameter", "AppId"),
        ({"Title": "t", "FileName": "a.mp4", "UserData": "{}"}, 400, "ForbiddenParameter", "UserData"),
    ],
)
def test_create_refuses_bad_input_before_calling_vod(client, auth, fake_vod, body, status, code, field):
    response = client.post("/v1/videos", json=body, headers=auth())

    assert (response.status_code, response.json["Code"], response.json.get("Field")) == (status, code, field)
    assert response.json["Message"] and response.json["RequestId"]
    assert fake_vod.call_count() == 0


@pytest.mark.parametrize("name", ["clip.MP4", "clip.Mov", "song.FLAC", "a.b.webm", "C:\\videos\\x.mkv", "题.mp3"])
def test_extensions_are_matched_case_insensitively(client, auth, fake_vod, name):
    response = client.post("/v1/videos", json={"Title": "t", "FileName": name}, headers=auth())
    assert response.status_code == 200, response.json


def test_title_of_exactly_128_bytes_is_accepted(client, auth):
    response = client.post("/v1/videos", json={"Title": "题" * 42 + "ab", "FileName": "a.mp4"}, headers=auth())
    assert response.status_code == 200, response.json


@pytest.mark.parametrize(
    ("data", "content_type", "status", "code"),
    [
        ("{not json", "application/json", 400, "InvalidJSON"),
        ("[1, 2]", "application/json", 400, "InvalidJSON"),
        ('{"Title": "a", "Title": "b", "FileName": "a.mp4"}', "application/json", 400, "InvalidJSON"),
        ('{"Title": NaN, "FileName": "a.mp4"}', "application/json", 400, "InvalidJSON"),
        ("[" * 30000 + "]" * 30000, "application/json", 400, "InvalidJSON"),
        (b'{"Title": "\xff", "FileName": "a.mp4"}', "application/json", 400, "InvalidJSON"),
        ("Title=a&FileName=a.mp4", "application/x-www-form-urlencoded", 415, "UnsupportedMediaType"),
        ('{"Title": "a", "FileName": "a.mp4"}', "text/plain", 415, "UnsupportedMediaType"),
        ('{"Title": "a", "FileName": "a.mp4"}', "application/json; charset=latin-1", 415, "UnsupportedMediaType"),
        ("x" * (64 * 1024 + 1), "application/json", 413, "PayloadTooLarge"),
    ],
)
def test_protocol_errors(client, auth, fake_vod, data, content_type, status, code):
    response = client.post("/v1/videos", data=data, content_type=content_type, headers=auth())

    assert (response.status_code, response.json["Code"]) == (status, code)
    assert fake_vod.call_count() == 0


def test_body_of_exactly_64_kib_is_parsed(client, auth):
    body = json.dumps({"Title": "t", "FileName": "a.mp4", "Description": ""})
    padded = body[:-1] + " " * (64 * 1024 - len(body)) + "}"
    response = client.post("/v1/videos", data=padded, content_type="application/json", headers=auth())
    assert response.status_code == 200, response.json


def test_unknown_route_and_wrong_method_are_json(client, auth):
    missing = client.post("/v1/nothing", json={}, headers=auth())
    wrong = client.get("/v1/videos", headers=auth())

    assert (missing.status_code, missing.json["Code"]) == (404, "NotFound")
    assert (wrong.status_code, wrong.json["Code"]) == (405, "MethodNotAllowed")
    assert "POST" in wrong.headers["Allow"]
    assert missing.headers["Content-Type"].startswith("application/json")


# --- tokens ------------------------------------------------------------------------------------------


def _hs(payload):
    return "Bearer " + hs256(HS256_SECRET, payload)


def _now():
    return int(datetime.now(timezone.utc).timestamp())


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Basic YWxpY2U6cGFzc3dvcmQ=",
        "Bearer not.a.jwt",
        "Bearer a b",
        pytest.param(lambda: _hs({"sub": "alice", "exp": _now() - 3600}), id="expired"),
        pytest.param(lambda: _hs({"sub": "alice"}), id="no-exp"),
        pytest.param(lambda: _hs({"exp": _now() + 300}), id="no-sub"),
        pytest.param(lambda: _hs({"sub": "alice", "exp": _now() + 300, "nbf": _now() + 3600}), id="not-yet"),
        pytest.param(lambda: "Bearer " + hs256("another-secret-that-is-32-bytes-long!!", {"sub": "a",
                                                                                      "exp": _now() + 300}),
                     id="wrong-secret"),
        pytest.param(lambda: "Bearer " + unsigned({"sub": "alice", "exp": _now() + 300}), id="alg-none"),
    ],
)
def test_bad_tokens_are_401_with_www_authenticate(client, fake_vod, authorization):
    if callable(authorization):
        authorization = authorization()
    headers = {} if authorization is None else {"Authorization": authorization}

    response = client.post("/v1/videos", json=VIDEO, headers=headers)

    assert response.status_code == 401
    assert response.json["Code"] == "Unauthorized"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert fake_vod.call_count() == 0


@pytest.mark.parametrize(("authorization", "challenge"), [
    (None, "Bearer"),  # RFC 6750 section 3.1: no token at all, no error code
    ("Basic YWxpY2U6cHc=", "Bearer"),  # another scheme: no bearer token was attempted
    ("Bearer", 'Bearer error="invalid_request"'),
    ("Bearer a b", 'Bearer error="invalid_request"'),
    ("Bearer not.a.jwt", 'Bearer error="invalid_token"'),
])
def test_the_challenge_says_what_was_wrong_only_when_a_token_was_sent(client, authorization, challenge):
    headers = {} if authorization is None else {"Authorization": authorization}
    response = client.post("/v1/videos", json=VIDEO, headers=headers)
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == challenge


# --- operator policy ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "config_overrides",
    [dict(vod_template_group_id="tg-1", vod_storage_location="outin-x.oss-cn-shanghai.aliyuncs.com",
          vod_app_id="app-2000", vod_callback_url="https://hooks.example.com/vod")],
)
def test_operator_policy_reaches_vod(client, auth, fake_vod):
    create_video(client, auth)

    sent = fake_vod.last_call("CreateUploadVideo")
    assert sent["TemplateGroupId"] == "tg-1"
    assert sent["StorageLocation"] == "outin-x.oss-cn-shanghai.aliyuncs.com"
    assert sent["AppId"] == "app-2000"
    assert json.loads(sent["UserData"]) == {"MessageCallback": {"CallbackURL": "https://hooks.example.com/vod"}}


@pytest.mark.parametrize("config_overrides", [dict(vod_template_group_id="tg-1", vod_workflow_id="wf-1")])
def test_workflow_wins_over_template_group(client, auth, fake_vod):
    create_video(client, auth)
    sent = fake_vod.last_call("CreateUploadVideo")
    assert sent["WorkflowId"] == "wf-1" and "TemplateGroupId" not in sent


# --- upstream errors ---------------------------------------------------------------------------------


def test_damaged_video_passes_through_as_400(client, auth, fake_vod):
    video_id = create_video(client, auth)["VideoId"]
    fake_vod.mark_damaged(video_id)

    response = client.post(f"/v1/videos/{video_id}/refresh", headers=auth())

    assert (response.status_code, response.json["Code"]) == (400, "InvalidVideo.Damaged")


def test_video_deleted_upstream_passes_through_as_404(client, auth, fake_vod):
    video_id = create_video(client, auth)["VideoId"]
    fake_vod.inject("RefreshUploadVideo", status=404, code="InvalidVideo.NotFound")

    response = client.post(f"/v1/videos/{video_id}/refresh", headers=auth())

    assert (response.status_code, response.json["Code"]) == (404, "InvalidVideo.NotFound")


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        (dict(status=400, code="Throttling.User", count=100), 429, "Throttling"),
        (dict(status=500, code="InternalError", count=10), 502, "UpstreamError"),
        (dict(status=503, code="ServiceUnavailable", count=10), 503, "UpstreamUnavailable"),
        (dict(status=403, code="Forbidden", count=10), 502, "UpstreamError"),
        (dict(drop=True, count=10), 503, "UpstreamUnavailable"),
    ],
)
def test_upstream_failures_on_create_map_to_the_contract(client, auth, fake_vod, fault, status, code):
    fake_vod.inject("CreateUploadVideo", **fault)

    response = client.post("/v1/videos", json=VIDEO, headers=auth())

    assert (response.status_code, response.json["Code"]) == (status, code)
    if status in (429, 503):
        assert int(response.headers["Retry-After"]) >= 1
    assert "UploadAuth" not in response.json


def test_server_credentials_refused_is_502(client, auth, fake_vod):
    fake_vod.add_access_key = None  # the fake keeps its keys; the broker is given a wrong secret below
    from upload_broker.config import Credentials

    client.application.config["broker"].config.__dict__["credentials"] = Credentials(
        "LTAI-test-key-id-not-real", "wrong-secret"
    )
    response = client.post("/v1/videos", json=VIDEO, headers=auth())

    assert (response.status_code, response.json["Code"]) == (502, "UpstreamError")
    assert "wrong-secret" not in response.get_data(as_text=True)


@pytest.mark.parametrize("second", [dict(status=500, code="InternalError"), dict(drop=True)])
def test_refresh_retries_throttling_and_5xx_then_succeeds(client, auth, fake_vod, second):
    video_id = create_video(client, auth)["VideoId"]
    fake_vod.inject("RefreshUploadVideo", status=400, code="Throttling.User")
    fake_vod.inject("RefreshUploadVideo", **second)

    response = client.post(f"/v1/videos/{video_id}/refresh", headers=auth())

    assert response.status_code == 200, response.json
    assert fake_vod.call_count("RefreshUploadVideo") == 3


def test_a_refresh_makes_three_attempts_at_most(client, auth, fake_vod):
    video_id = create_video(client, auth)["VideoId"]
    fake_vod.inject("RefreshUploadVideo", status=400, code="Throttling.User")
    fake_vod.inject("RefreshUploadVideo", status=500, code="InternalError")
    fake_vod.inject("RefreshUploadVideo", drop=True)

    response = client.post(f"/v1/videos/{video_id}/refresh", headers=auth())

    assert (response.status_code, response.json["Code"]) == (503, "UpstreamUnavailable")
    assert fake_vod.call_count("RefreshUploadVideo") == 3


def test_create_is_not_retried_after_a_read_timeout(client, auth, fake_vod):
    fake_vod.inject("CreateUploadVideo", delay=3.0)  # longer than the 2 s read timeout

    response = client.post("/v1/videos", json=VIDEO, headers=auth())

    assert (response.status_code, response.json["Code"]) == (503, "UpstreamUnavailable")
    assert fake_vod.call_count("CreateUploadVideo") == 1


def test_create_is_retried_when_throttled(client, auth, fake_vod):
    fake_vod.inject("CreateUploadVideo", status=400, code="Throttling.User")

    response = client.post("/v1/videos", json=VIDEO, headers=auth())

    assert response.status_code == 200
    assert fake_vod.call_count("CreateUploadVideo") == 2
    assert len(fake_vod.videos) == 1


# --- every response ----------------------------------------------------------------------------------


def test_request_id_is_echoed_when_sane_and_replaced_when_not(client, auth):
    sane = client.post("/v1/videos", json=VIDEO, headers={**auth(), "X-Request-Id": "req-123.abc"})
    insane = client.post("/v1/videos", json=VIDEO, headers={**auth(), "X-Request-Id": "bad id <script>"})
    error = client.post("/v1/videos", json={}, headers={**auth(), "X-Request-Id": "req-456"})

    assert sane.headers["X-Request-Id"] == "req-123.abc"
    # Not sane: the platform's request id (the local shim makes one as FC does, "1-<time>-<random>").
    assert re.fullmatch(r"1-[0-9a-f]{8}-[0-9a-f]{24}", insane.headers["X-Request-Id"])
    assert error.headers["X-Request-Id"] == error.json["RequestId"] == "req-456"


def test_every_response_is_no_store_json(client, auth):
    for response in (client.post("/v1/videos", json=VIDEO, headers=auth()), client.post("/v1/videos"),
                     client.get("/healthz"), client.get("/nope")):
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Content-Type"].startswith("application/json")


def test_healthz_needs_no_token(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json["Status"] == "ok"


# --- CORS --------------------------------------------------------------------------------------------


def test_preflight_from_allowed_origin_needs_no_token(client):
    response = client.options("/v1/videos", headers={"Origin": ALLOWED_ORIGIN,
                                                      "Access-Control-Request-Method": "POST",
                                                      "Access-Control-Request-Headers": "authorization,content-type"})

    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
    assert response.headers["Vary"] == "Origin"


def test_preflight_from_other_origin_is_refused(client):
    response = client.options("/v1/videos", headers={"Origin": "https://evil.example.net",
                                                      "Access-Control-Request-Method": "POST"})
    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response.headers


def test_actual_response_carries_cors_for_allowed_origin_only(client, auth):
    allowed = client.post("/v1/videos", json=VIDEO, headers={**auth(), "Origin": ALLOWED_ORIGIN})
    other = client.post("/v1/videos", json=VIDEO, headers={**auth(), "Origin": "https://evil.example.net"})

    assert allowed.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert "X-Request-Id" in allowed.headers["Access-Control-Expose-Headers"]
    assert "Access-Control-Allow-Origin" not in other.headers


@pytest.mark.parametrize("config_overrides", [dict(allowed_origins=("*",))])
def test_wildcard_origin_never_allows_credentials(client, auth):
    response = client.post("/v1/videos", json=VIDEO, headers={**auth(), "Origin": "https://any.example.org"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers


# --- the refresh route's edges -----------------------------------------------------------------------


def test_refresh_with_fields_in_the_body_is_refused(client, auth, fake_vod):
    video_id = create_video(client, auth)["VideoId"]
    response = client.post(f"/v1/videos/{video_id}/refresh", json={"VideoId": "other"}, headers=auth())
    assert (response.status_code, response.json["Code"]) == (400, "InvalidParameter")
    assert fake_vod.call_count("RefreshUploadVideo") == 0


@pytest.mark.parametrize("video_id", ["..%2F..%2Fetc", "a" * 65, "x;DROP TABLE resources"])
def test_refresh_of_malformed_ids_is_404(client, auth, fake_vod, video_id):
    response = client.post(f"/v1/videos/{video_id}/refresh", headers=auth())
    assert response.status_code == 404
    assert fake_vod.call_count() == 0


def test_refresh_needs_a_token_too(client, auth, fake_vod):
    video_id = create_video(client, auth)["VideoId"]
    response = client.post(f"/v1/videos/{video_id}/refresh")
    assert response.status_code == 401
    assert fake_vod.call_count("RefreshUploadVideo") == 0


def test_expiration_is_in_the_future(client, auth):
    body = create_video(client, auth)
    expires = datetime.strptime(body["Expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert timedelta(seconds=60) < expires - datetime.now(timezone.utc) <= timedelta(seconds=3001)
