"""POST /v1/media end to end: HTTP → broker → real aliyun SDK (CommonRequest, 2020-11-09) → fake ICE."""

from __future__ import annotations

import base64
import json

import pytest

VIDEO_FILE = {"Type": "video", "Name": "holiday", "Ext": "mp4"}
MEDIA = {"FileInfo": VIDEO_FILE}


def decode(b64: str) -> dict:
    return json.loads(base64.b64decode(b64))


def test_create_serialises_the_objects_as_ice_takes_them(client, auth, fake_ice, broker):
    response = client.post(
        "/v1/media",
        json={"FileInfo": {**VIDEO_FILE, "Ext": "MP4", "Size": 108078336},
              "MediaMetaData": {"Title": "假期", "Description": "d", "CateId": "7", "Tags": ["a", "b"],
                                "CoverURL": "https://img.example.com/c.png", "BusinessType": "opening",
                                "DynamicMetaData": {"k": "v"}}},
        headers=auth("alice"),
    )

    assert response.status_code == 200, response.json
    body = response.json
    assert set(body) == {"RequestId", "MediaId", "MediaURL", "FileURL", "UploadAddress", "UploadAuth", "Expiration"}
    assert body["Expiration"] == decode(body["UploadAuth"])["ExpireUTCTime"]
    sent = fake_ice.last_call("CreateUploadMedia")
    assert sent["Version"] == "2020-11-09"
    # The JSON text the API reference's example shows: {"Type":"video","Name":"test","Size":108078336,"Ext":"mp4"}.
    assert sent["FileInfo"] == '{"Type":"video","Name":"holiday","Size":108078336,"Ext":"mp4"}'
    assert json.loads(sent["MediaMetaData"]) == {
        "Title": "假期", "Description": "d", "CateId": 7, "Tags": "a,b", "CoverURL": "https://img.example.com/c.png",
        "BusinessType": "opening", "DynamicMetaData": '{"k":"v"}',
    }
    for operator_field in ("AppId", "EntityId", "PostProcessConfig", "UploadTargetConfig", "UserData"):
        assert operator_field not in sent  # none configured
    record = broker.ledger.find("ice", body["MediaId"])
    assert record is not None and record.owner == "alice" and record.kind == "media"


ICE_POLICY = dict(
    ice_app_id="app-1000000",
    ice_entity_id="9e177cac2fb44f8b8c67b199fcc7bffd",
    ice_workflow_id="74ba870f1a4873a3ba238e0bf6fa9000",
    ice_upload_target_config='{"StorageType":"oss","StorageLocation":"outin-abc.oss-cn-shanghai.aliyuncs.com"}',
    ice_callback_url="https://hooks.example.com/ice",
)


@pytest.mark.parametrize("config_overrides", [ICE_POLICY])
def test_operator_policy_reaches_ice(client, auth, fake_ice):
    response = client.post("/v1/media", json=MEDIA, headers=auth())

    assert response.status_code == 200, response.json
    sent = fake_ice.last_call("CreateUploadMedia")
    assert sent["AppId"] == "app-1000000"
    assert sent["EntityId"] == "9e177cac2fb44f8b8c67b199fcc7bffd"
    assert json.loads(sent["PostProcessConfig"]) == {"ProcessType": "Workflow",
                                                     "ProcessID": "74ba870f1a4873a3ba238e0bf6fa9000"}
    assert json.loads(sent["UploadTargetConfig"]) == {"StorageType": "oss",
                                                      "StorageLocation": "outin-abc.oss-cn-shanghai.aliyuncs.com"}
    assert json.loads(sent["UserData"]) == {"MessageCallback": {"CallbackURL": "https://hooks.example.com/ice"}}


@pytest.mark.parametrize("config_overrides", [ICE_POLICY])
def test_the_workflow_applies_only_to_video_and_audio(client, auth, fake_ice):
    # PostProcessConfig: "You can specify this parameter if Type is set to video or audio."
    response = client.post("/v1/media", json={"FileInfo": {"Type": "image", "Name": "p", "Ext": "png"}},
                           headers=auth())

    assert response.status_code == 200, response.json
    sent = fake_ice.last_call("CreateUploadMedia")
    assert "PostProcessConfig" not in sent and sent["AppId"] == "app-1000000"


@pytest.mark.parametrize(
    ("file_info", "business_type"),
    [
        ({"Type": "video", "Name": "v", "Ext": "mov"}, "ending"),
        ({"Type": "audio", "Name": "a", "Ext": "mp3"}, "general"),
        ({"Type": "image", "Name": "i", "Ext": "heic"}, "cover"),
        ({"Type": "image", "Name": "i", "Ext": "webp"}, "watermark"),
        ({"Type": "text", "Name": "s", "Ext": "srt"}, "subtitles"),
        ({"Type": "text", "Name": "f", "Ext": "ttf"}, "font"),
        ({"Type": "other", "Name": "o", "Ext": "bin"}, "general"),
        ({"Type": "other", "Name": "o.tar", "Ext": ".gz"}, None),
    ],
)
def test_each_type_with_a_fitting_extension_and_business_type(client, auth, fake_ice, file_info, business_type):
    meta = {"Title": "t", **({"BusinessType": business_type} if business_type else {})}
    response = client.post("/v1/media", json={"FileInfo": file_info, "MediaMetaData": meta}, headers=auth())
    assert response.status_code == 200, response.json


FI = VIDEO_FILE


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({}, 400, "MissingParameter", "FileInfo"),
        ({"FileInfo": "video.mp4"}, 400, "InvalidParameter", "FileInfo"),
        ({"FileInfo": '{"Type":"video"}'}, 400, "InvalidParameter", "FileInfo"),
        ({"FileInfo": {"Name": "a", "Ext": "mp4"}}, 400, "MissingParameter", "FileInfo.Type"),
        ({"FileInfo": {"Type": "movie", "Name": "a", "Ext": "mp4"}}, 400, "InvalidParameter", "FileInfo.Type"),
        ({"FileInfo": {"Type": "video", "Ext": "mp4"}}, 400, "MissingParameter", "FileInfo.Name"),
        ({"FileInfo": {"Type": "video", "Name": "a/b", "Ext": "mp4"}}, 400, "InvalidParameter", "FileInfo.Name"),
        ({"FileInfo": {"Type": "video", "Name": "a.mp4", "Ext": "mp4"}}, 400, "InvalidParameter", "FileInfo.Name"),
        ({"FileInfo": {"Type": "video", "Name": "a"}}, 400, "MissingParameter", "FileInfo.Ext"),
        ({"FileInfo": {"Type": "video", "Name": "a", "Ext": "png"}}, 400, "InvalidParameter", "FileInfo.Ext"),
        ({"FileInfo": {"Type": "audio", "Name": "a", "Ext": "mp4"}}, 400, "InvalidParameter", "FileInfo.Ext"),
        ({"FileInfo": {"Type": "image", "Name": "a", "Ext": "bmp"}}, 400, "InvalidParameter", "FileInfo.Ext"),
        ({"FileInfo": {"Type": "text", "Name": "a", "Ext": "txt"}}, 400, "InvalidParameter", "FileInfo.Ext"),
        ({"FileInfo": {"Type": "other", "Name": "a", "Ext": "t a r"}}, 400, "InvalidParameter", "FileInfo.Ext"),
        ({"FileInfo": {**FI, "Size": -1}}, 400, "InvalidParameter", "FileInfo.Size"),
        ({"FileInfo": {**FI, "Size": "big"}}, 400, "InvalidParameter", "FileInfo.Size"),
        ({"FileInfo": {**FI, "Colour": "red"}}, 400, "InvalidParameter", "FileInfo.Colour"),
        ({"FileInfo": FI, "MediaMetaData": "t"}, 400, "InvalidParameter", "MediaMetaData"),
        ({"FileInfo": FI, "MediaMetaData": {"Description": "d"}}, 400, "MissingParameter", "MediaMetaData.Title"),
        ({"FileInfo": FI, "MediaMetaData": {"Title": "t" * 129}}, 400, "InvalidParameter", "MediaMetaData.Title"),
        ({"FileInfo": FI, "MediaMetaData": {"Title": "t", "Description": "d" * 1025}}, 400, "InvalidParameter",
         "MediaMetaData.Description"),
        ({"FileInfo": FI, "MediaMetaData": {"Title": "t", "CateId": "x"}}, 400, "InvalidParameter",
         "MediaMetaData.CateId"),
        ({"FileInfo": FI, "MediaMetaData": {"Title": "t", "Tags": "x" * 33}}, 400, "InvalidParameter",
         "MediaMetaData.Tags"),
        ({"FileInfo": FI, "MediaMetaData": {"Title": "t", "CoverURL": "ftp://x/y.png"}}, 400, "InvalidParameter",
         "MediaMetaData.CoverURL"),
        ({"FileInfo": FI, "MediaMetaData": {"Title": "t", "BusinessType": "cover"}}, 400, "InvalidParameter",
         "MediaMetaData.BusinessType"),
        ({"FileInfo": FI, "MediaMetaData": {"Title": "t", "BusinessType": "trailer"}}, 400, "InvalidParameter",
         "MediaMetaData.BusinessType"),
        ({"FileInfo": {"Type": "audio", "Name": "a", "Ext": "mp3"}, "MediaMetaData": {"Title": "t",
          "BusinessType": "opening"}}, 400, "InvalidParameter", "MediaMetaData.BusinessType"),
        ({"FileInfo": {"Type": "text", "Name": "a", "Ext": "ttf"}, "MediaMetaData": {"Title": "t",
          "BusinessType": "subtitles"}}, 400, "InvalidParameter", "FileInfo.Ext"),
        ({"FileInfo": FI, "MediaMetaData": {"Title": "t", "DynamicMetaData": 5}}, 400, "InvalidParameter",
         "MediaMetaData.DynamicMetaData"),
        ({"FileInfo": FI, "MediaMetaData": {"Title": "t", "Size": 5}}, 400, "InvalidParameter", "MediaMetaData.Size"),
        ({"FileInfo": FI, "Title": "t"}, 400, "InvalidParameter", "Title"),
    ],
)
def test_create_refuses_bad_input_before_calling_ice(client, auth, fake_ice, body, status, code, field):
    response = client.post("/v1/media", json=body, headers=auth())

    assert response.status_code == status, response.json
    assert response.json["Code"] == code
    assert response.json["Field"] == field
    assert fake_ice.call_count() == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        *[({"FileInfo": FI, name: "x"}, name)
          for name in ("AppId", "EntityId", "PostProcessConfig", "UploadTargetConfig", "UserData",
                       "StorageLocation", "WorkflowId", "TemplateGroupId")],
        ({"FileInfo": {**FI, "StorageLocation": "outin-x"}}, "FileInfo.StorageLocation"),
        ({"FileInfo": {**FI, "UserData": {}}}, "FileInfo.UserData"),
        ({"FileInfo": FI, "MediaMetaData": {"Title": "t", "AppId": "app-1"}}, "MediaMetaData.AppId"),
        ({"FileInfo": FI, "MediaMetaData": {"Title": "t", "PostProcessConfig": "{}"}},
         "MediaMetaData.PostProcessConfig"),
        ({"FileInfo": FI, "MediaMetaData": {"Title": "t", "UploadTargetConfig": {}}},
         "MediaMetaData.UploadTargetConfig"),
        ({"FileInfo": FI, "MediaMetaData": {"Title": "t", "EntityId": "e"}}, "MediaMetaData.EntityId"),
    ],
)
def test_operator_fields_are_forbidden_anywhere(client, auth, fake_ice, body, field):
    response = client.post("/v1/media", json=body, headers=auth())

    assert response.status_code == 400
    assert response.json["Code"] == "ForbiddenParameter"
    assert response.json["Field"] == field
    assert fake_ice.call_count() == 0


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        (dict(status=400, code="InvalidParameter"), 400, "InvalidParameter"),
        (dict(status=500, code="InternalError"), 502, "UpstreamError"),
        (dict(status=503, code="ServiceUnAvailable"), 503, "UpstreamUnavailable"),
        (dict(status=400, code="Forbidden.RAM"), 502, "UpstreamError"),
    ],
)
def test_upstream_failures_map_to_the_contract(client, auth, fake_ice, broker, fault, status, code):
    fake_ice.inject("CreateUploadMedia", **fault)

    response = client.post("/v1/media", json=MEDIA, headers=auth())

    assert response.status_code == status
    assert response.json["Code"] == code
    assert "UploadAuth" not in response.json


def test_create_is_retried_when_throttled(client, auth, fake_ice):
    fake_ice.inject("CreateUploadMedia", status=400, code="Throttling.User")

    response = client.post("/v1/media", json=MEDIA, headers=auth())

    assert response.status_code == 200, response.json
    assert fake_ice.call_count("CreateUploadMedia") == 2
