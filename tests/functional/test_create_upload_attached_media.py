"""POST /v1/attached-media end to end: HTTP → broker → real aliyun SDK → fake VOD CreateUploadAttachedMedia."""

from __future__ import annotations

import base64
import json

import pytest

WATERMARK = {"BusinessType": "watermark", "MediaExt": "png"}


def decode(b64: str) -> dict:
    return json.loads(base64.b64decode(b64))


def test_create_returns_credentials_and_records_the_owner(client, auth, fake_vod, broker):
    response = client.post(
        "/v1/attached-media",
        json={"BusinessType": "subtitle", "MediaExt": "VTT", "FileName": "movie.en.vtt", "FileSize": 2048,
              "Title": "English", "Description": "subs", "Tags": "en,cc", "CateIds": "11, 12"},
        headers=auth("alice"),
    )

    assert response.status_code == 200, response.json
    body = response.json
    assert set(body) == {"RequestId", "MediaId", "MediaURL", "FileURL", "UploadAddress", "UploadAuth", "Expiration"}
    assert body["Expiration"] == decode(body["UploadAuth"])["ExpireUTCTime"]
    sent = fake_vod.last_call("CreateUploadAttachedMedia")
    assert sent["BusinessType"] == "subtitle" and sent["MediaExt"] == "vtt" and sent["FileName"] == "movie.en.vtt"
    assert sent["FileSize"] == "2048" and sent["CateIds"] == "11,12" and sent["Tags"] == "en,cc"
    record = broker.ledger.find("vod", body["MediaId"])
    assert record is not None and record.owner == "alice" and record.kind == "attached-media"


def test_cate_ids_may_be_a_json_list(client, auth, fake_vod):
    response = client.post("/v1/attached-media", json={**WATERMARK, "CateIds": [1, 2, 3, 4, 5]}, headers=auth())
    assert response.status_code == 200, response.json
    assert fake_vod.last_call("CreateUploadAttachedMedia")["CateIds"] == "1,2,3,4,5"


def test_without_media_ext_the_file_names_extension_is_sent(client, auth, fake_vod):
    response = client.post("/v1/attached-media", json={"BusinessType": "material", "FileName": "Kit.ZIP"},
                           headers=auth())
    assert response.status_code == 200, response.json
    assert fake_vod.last_call("CreateUploadAttachedMedia")["MediaExt"] == "zip"


def test_media_ext_wins_over_a_file_name_extension_as_the_doc_says(client, auth, fake_vod):
    response = client.post("/v1/attached-media", json={**WATERMARK, "FileName": "logo.psd"}, headers=auth())
    assert response.status_code == 200, response.json
    sent = fake_vod.last_call("CreateUploadAttachedMedia")
    assert sent["MediaExt"] == "png" and sent["FileName"] == "logo.psd"


@pytest.mark.parametrize(
    "config_overrides",
    [dict(vod_storage_location="outin-abc.oss-cn-shanghai.aliyuncs.com", vod_app_id="app-42",
          vod_callback_url="https://hooks.example.com/vod", vod_workflow_id="wf-1")],
)
def test_operator_policy_reaches_vod(client, auth, fake_vod):
    response = client.post("/v1/attached-media", json=WATERMARK, headers=auth())

    assert response.status_code == 200, response.json
    sent = fake_vod.last_call("CreateUploadAttachedMedia")
    assert sent["StorageLocation"] == "outin-abc.oss-cn-shanghai.aliyuncs.com" and sent["AppId"] == "app-42"
    assert json.loads(sent["UserData"]) == {"MessageCallback": {"CallbackURL": "https://hooks.example.com/vod"}}
    assert "WorkflowId" not in sent and "TemplateGroupId" not in sent


@pytest.mark.parametrize(
    ("business_type", "ext"),
    [(t, e) for t, exts in {"watermark": "png gif apng mov", "subtitle": "srt ass stl ttml vtt",
                            "material": "jpg gif png mp4 mat zip apk"}.items() for e in exts.split()],
)
def test_every_documented_extension_is_accepted(client, auth, fake_vod, business_type, ext):
    response = client.post("/v1/attached-media", json={"BusinessType": business_type, "MediaExt": ext},
                           headers=auth())
    assert response.status_code == 200, response.json


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({"MediaExt": "png"}, 400, "MissingParameter", "BusinessType"),
        ({"BusinessType": "poster", "MediaExt": "png"}, 400, "InvalidParameter", "BusinessType"),
        ({"BusinessType": "watermark"}, 400, "MissingParameter", "MediaExt"),
        ({"BusinessType": "watermark", "FileName": "logo"}, 400, "MissingParameter", "MediaExt"),
        ({"BusinessType": "watermark", "MediaExt": "jpg"}, 400, "InvalidParameter", "MediaExt"),
        ({"BusinessType": "subtitle", "MediaExt": "png"}, 400, "InvalidParameter", "MediaExt"),
        ({"BusinessType": "material", "MediaExt": "exe"}, 400, "InvalidParameter", "MediaExt"),
        ({"BusinessType": "material", "MediaExt": "../zip"}, 400, "InvalidParameter", "MediaExt"),
        ({"BusinessType": "subtitle", "FileName": "subs.txt"}, 400, "InvalidParameter", "FileName"),
        ({**WATERMARK, "FileName": 7}, 400, "InvalidParameter", "FileName"),
        ({**WATERMARK, "FileSize": -1}, 400, "InvalidParameter", "FileSize"),
        ({**WATERMARK, "FileSize": "big"}, 400, "InvalidParameter", "FileSize"),
        ({**WATERMARK, "Title": "题" * 43}, 400, "InvalidParameter", "Title"),
        ({**WATERMARK, "Description": "d" * 1025}, 400, "InvalidParameter", "Description"),
        ({**WATERMARK, "Tags": ",".join(["t"] * 17)}, 400, "InvalidParameter", "Tags"),
        ({**WATERMARK, "CateIds": "1,2,3,4,5,6"}, 400, "InvalidParameter", "CateIds"),
        ({**WATERMARK, "CateIds": [1, 2, 3, 4, 5, 6]}, 400, "InvalidParameter", "CateIds"),
        ({**WATERMARK, "CateIds": "1,x"}, 400, "InvalidParameter", "CateIds"),
        ({**WATERMARK, "CateIds": "1,,2"}, 400, "InvalidParameter", "CateIds"),
        ({**WATERMARK, "CateIds": [1.5]}, 400, "InvalidParameter", "CateIds"),
        ({**WATERMARK, "CateIds": {"a": 1}}, 400, "InvalidParameter", "CateIds"),
        ({**WATERMARK, "CateId": 1}, 400, "InvalidParameter", "CateId"),
        ({**WATERMARK, "StorageLocation": "outin-x"}, 400, "ForbiddenParameter", "StorageLocation"),
        ({**WATERMARK, "AppId": "app-1"}, 400, "ForbiddenParameter", "AppId"),
        ({**WATERMARK, "UserData": "{}"}, 400, "ForbiddenParameter", "UserData"),
        ({**WATERMARK, "TemplateGroupId": "tg"}, 400, "ForbiddenParameter", "TemplateGroupId"),
    ],
)
def test_create_refuses_bad_input_before_calling_vod(client, auth, fake_vod, body, status, code, field):
    response = client.post("/v1/attached-media", json=body, headers=auth())

    assert response.status_code == status
    assert response.json["Code"] == code
    assert response.json["Field"] == field
    assert fake_vod.call_count() == 0


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        (dict(status=400, code="InvalidParameter"), 400, "InvalidParameter"),
        (dict(status=500, code="InternalError"), 502, "UpstreamError"),
        (dict(status=503, code="ServiceUnAvailable"), 503, "UpstreamUnavailable"),
        (dict(status=404, code="InvalidAccessKeyId.NotFound"), 502, "UpstreamError"),
    ],
)
def test_upstream_failures_map_to_the_contract(client, auth, fake_vod, fault, status, code):
    fake_vod.inject("CreateUploadAttachedMedia", **fault)

    response = client.post("/v1/attached-media", json=WATERMARK, headers=auth())

    assert response.status_code == status
    assert response.json["Code"] == code
