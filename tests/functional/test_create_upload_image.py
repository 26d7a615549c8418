"""POST /v1/images end to end: HTTP → broker → real aliyun SDK → fake VOD CreateUploadImage."""

from __future__ import annotations

import base64
import json

import pytest

import functions.create_upload_image.operation as image_module

IMAGE = {"ImageType": "cover"}


def decode(b64: str) -> dict:
    return json.loads(base64.b64decode(b64))


# --- happy path --------------------------------------------------------------------------------------


def test_create_returns_image_credentials_and_their_expiration(client, auth, fake_vod, broker):
    response = client.post(
        "/v1/images",
        json={"ImageType": "default", "ImageExt": "JPEG", "OriginalFileName": "D:\\pics\\poster.png",
              "Title": "Poster", "Description": "d", "Tags": ["a", "b"], "CateId": 42},
        headers=auth("alice"),
    )

    assert response.status_code == 200, response.json
    body = response.json
    assert set(body) == {"RequestId", "ImageId", "ImageURL", "FileURL", "UploadAddress", "UploadAuth", "Expiration"}
    assert body["Expiration"] == decode(body["UploadAuth"])["ExpireUTCTime"]
    sent = fake_vod.last_call("CreateUploadImage")
    # ImageExt wins over the file name's extension.
    assert sent["ImageType"] == "default" and sent["ImageExt"] == "jpeg"
    assert sent["OriginalFileName"] == "D:\\pics\\poster.png"
    assert sent["Tags"] == "a,b" and sent["CateId"] == "42" and sent["Title"] == "Poster"
    record = broker.ledger.find("vod", body["ImageId"])
    assert record is not None and record.owner == "alice" and record.kind == "image"


@pytest.mark.parametrize(("file_name", "sent_ext"), [("photo.JPG", "jpg"), ("anim.gif", "gif"), ("a.b.jpeg", "jpeg")])
def test_without_image_ext_the_file_names_extension_is_sent(client, auth, fake_vod, file_name, sent_ext):
    response = client.post("/v1/images", json={**IMAGE, "OriginalFileName": file_name}, headers=auth())

    assert response.status_code == 200, response.json
    assert fake_vod.last_call("CreateUploadImage")["ImageExt"] == sent_ext
    assert response.json["ImageURL"].endswith("." + sent_ext)


def test_without_any_extension_vod_defaults_to_png(client, auth, fake_vod):
    response = client.post("/v1/images", json=IMAGE, headers=auth())

    assert response.status_code == 200, response.json
    assert "ImageExt" not in fake_vod.last_call("CreateUploadImage")
    assert response.json["ImageURL"].endswith(".png")


@pytest.mark.parametrize(
    "config_overrides",
    [dict(vod_storage_location="outin-abc.oss-cn-shanghai.aliyuncs.com", vod_app_id="app-42",
          vod_callback_url="https://hooks.example.com/vod", vod_workflow_id="wf-1", vod_template_group_id="tg-1")],
)
def test_operator_policy_reaches_vod_but_no_transcoding_settings(client, auth, fake_vod):
    response = client.post("/v1/images", json=IMAGE, headers=auth())

    assert response.status_code == 200, response.json
    sent = fake_vod.last_call("CreateUploadImage")
    assert sent["StorageLocation"] == "outin-abc.oss-cn-shanghai.aliyuncs.com"
    assert sent["AppId"] == "app-42"
    assert json.loads(sent["UserData"]) == {"MessageCallback": {"CallbackURL": "https://hooks.example.com/vod"}}
    # CreateUploadImage takes neither WorkflowId nor TemplateGroupId.
    assert "WorkflowId" not in sent and "TemplateGroupId" not in sent


def test_there_is_no_image_refresh_route_because_vod_has_none(client, auth, fake_vod):
    # CreateUploadImage: "You cannot refresh the upload URL or credential when you upload images."
    image_id = client.post("/v1/images", json=IMAGE, headers=auth()).json["ImageId"]

    response = client.post(f"/v1/images/{image_id}/refresh", headers=auth())

    assert response.status_code == 404 and response.json["Code"] == "NotFound"
    assert "cannot be refreshed" in image_module.__doc__


# --- the error matrix --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        ({}, 400, "MissingParameter", "ImageType"),
        ({"ImageType": " "}, 400, "MissingParameter", "ImageType"),
        ({"ImageType": "watermark"}, 400, "InvalidParameter", "ImageType"),
        ({"ImageType": "Cover"}, 400, "InvalidParameter", "ImageType"),
        ({"ImageType": "cover", "ImageExt": "bmp"}, 400, "InvalidParameter", "ImageExt"),
        ({"ImageType": "cover", "ImageExt": "bmp"}, 400, "InvalidParameter", "ImageExt"),
        ({"ImageType": "cover", "ImageExt": 5}, 400, "InvalidParameter", "ImageExt"),
        ({"ImageType": "cover", "OriginalFileName": "noextension"}, 400, "InvalidParameter", "OriginalFileName"),
        ({"ImageType": "cover", "OriginalFileName": ".png"}, 400, "InvalidParameter", "OriginalFileName"),
        ({"ImageType": "cover", "OriginalFileName": "scan.bmp"}, 400, "InvalidParameter", "OriginalFileName"),
        # CreateUploadImage counts characters ("长度不超过 128 个字符"): the 129th character is refused.
        ({"ImageType": "cover", "Title": "题" * 129}, 400, "InvalidParameter", "Title"),
        ({"ImageType": "cover", "Description": "题" * 1025}, 400, "InvalidParameter", "Description"),
        ({"ImageType": "cover", "Tags": "题" * 33}, 400, "InvalidParameter", "Tags"),
        ({"ImageType": "cover", "ImageExt": "jpe"}, 400, "InvalidParameter", "ImageExt"),
        ({"ImageType": "cover", "ImageExt": "tiff"}, 400, "InvalidParameter", "ImageExt"),
        ({"ImageType": "cover", "Description": "d" * 1025}, 400, "InvalidParameter", "Description"),
        ({"ImageType": "cover", "Tags": ",".join(["t"] * 17)}, 400, "InvalidParameter", "Tags"),
        ({"ImageType": "cover", "Tags": "x" * 33}, 400, "InvalidParameter", "Tags"),
        ({"ImageType": "cover", "CateId": "seven"}, 400, "InvalidParameter", "CateId"),
        ({"ImageType": "cover", "CateId": 1.5}, 400, "InvalidParameter", "CateId"),
        ({"ImageType": "cover", "FileName": "a.png"}, 400, "InvalidParameter", "FileName"),
        ({"ImageType": "cover", "StorageLocation": "outin-x.oss"}, 400, "ForbiddenParameter", "StorageLocation"),
        ({"ImageType": "cover", "AppId": "app-1"}, 400, "ForbiddenParameter", "AppId"),
        ({"ImageType": "cover", "UserData": "{}"}, 400, "ForbiddenParameter", "UserData"),
        ({"ImageType": "cover", "WorkflowId": "wf"}, 400, "ForbiddenParameter", "WorkflowId"),
    ],
)
def test_create_refuses_bad_input_before_calling_vod(client, auth, fake_vod, body, status, code, field):
    response = client.post("/v1/images", json=body, headers=auth())

    assert response.status_code == status
    assert response.json["Code"] == code
    assert response.json["Field"] == field
    assert fake_vod.call_count() == 0


def test_a_short_title_and_image_ext_in_capitals_are_accepted(client, auth, fake_vod):
    response = client.post("/v1/images", json={**IMAGE, "Title": "题" * 42 + "ab", "ImageExt": "GIF"},
                           headers=auth())
    assert response.status_code == 200, response.json
    assert fake_vod.last_call("CreateUploadImage")["ImageExt"] == "gif"


@pytest.mark.parametrize(("field", "value"), [("Title", "题" * 128), ("Description", "题" * 1024),
                                              ("Tags", ",".join(["题" * 32] * 16))])
def test_cjk_text_up_to_the_character_limit_is_not_refused_by_the_broker(client, auth, fake_vod, field, value):
    # CreateUploadImage: Title "长度不超过 128 个字符", Description 1,024 characters, Tags "单个标签不超过 32 个字符"
    # (help.aliyun.com/document_detail/55619.html) -- 384 bytes of CJK are a 128-character title, and the broker
    # sends it on. (What VOD then says is VOD's: the fake VOD may still count bytes.)
    client.post("/v1/images", json={**IMAGE, field: value}, headers=auth())

    assert fake_vod.call_count("CreateUploadImage") == 1
    assert fake_vod.last_call("CreateUploadImage")[field] == value


def test_the_image_ext_refusal_lists_every_extension_vod_takes(client, auth, fake_vod):
    from upload_broker.validation import VOD_IMAGE_EXTENSIONS

    response = client.post("/v1/images", json={**IMAGE, "ImageExt": "bmp"}, headers=auth())

    assert response.status_code == 400 and response.json["Field"] == "ImageExt"
    assert ", ".join(VOD_IMAGE_EXTENSIONS) in response.json["Message"]
    assert fake_vod.call_count() == 0


def test_no_token_is_401_and_vod_is_never_called(client, fake_vod):
    response = client.post("/v1/images", json=IMAGE)
    assert response.status_code == 401
    assert fake_vod.call_count() == 0


# --- upstream errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        (dict(status=400, code="InvalidParameter"), 400, "InvalidParameter"),
        (dict(status=500, code="InternalError"), 502, "UpstreamError"),
        (dict(status=503, code="ServiceUnAvailable"), 503, "UpstreamUnavailable"),
        (dict(status=403, code="Forbidden.RAM"), 502, "UpstreamError"),
    ],
)
def test_upstream_failures_map_to_the_contract(client, auth, fake_vod, broker, fault, status, code):
    fake_vod.inject("CreateUploadImage", **fault)

    response = client.post("/v1/images", json=IMAGE, headers=auth())

    assert response.status_code == status
    assert response.json["Code"] == code
    assert "UploadAuth" not in response.json


@pytest.mark.parametrize("ext", ["png", "jpg", "jpeg", "gif", "heic", "webp", "HEIC", "WebP"])
def test_every_documented_image_extension_is_accepted(client, auth, fake_vod, ext):
    response = client.post("/v1/images", json={"ImageType": "default", "ImageExt": ext}, headers=auth())

    assert response.status_code == 200, response.json
    assert fake_vod.last_call("CreateUploadImage")["ImageExt"] == ext.lower()
