"""Bytes or characters, end to end: each route counts a CJK title the way its own upstream reference does.

A CJK character is 3 bytes of UTF-8, so the same string is inside one operation's limit and outside another's:
"题" * 43 is 43 characters (within CreateUploadImage's and ICE's 128) and 129 bytes (past CreateUploadVideo's
and CreateUploadAttachedMedia's 128). upload_broker.validation.TEXT_LIMITS is the table; these go through HTTP.
"""

from __future__ import annotations

import pytest

from upload_broker.validation import TEXT_LIMITS

ATTACHED = {"BusinessType": "watermark", "MediaExt": "png"}
FILE_INFO = {"Type": "video", "Name": "holiday", "Ext": "mp4"}


# --- CreateUploadAttachedMedia counts bytes ("长度不超过 128 个字节") ------------------------------------------


def test_attached_media_title_of_exactly_128_bytes_of_cjk_is_issued(client, auth, fake_vod):
    title = "题" * 42 + "ab"  # 128 bytes, 44 characters
    response = client.post("/v1/attached-media", json={**ATTACHED, "Title": title}, headers=auth())

    assert response.status_code == 200, response.json
    assert fake_vod.last_call("CreateUploadAttachedMedia")["Title"] == title


@pytest.mark.parametrize(("field", "value"), [("Title", "题" * 43), ("Description", "题" * 341 + "ab")])
def test_attached_media_text_one_byte_past_is_refused_before_vod(client, auth, fake_vod, field, value):
    limit = TEXT_LIMITS[("CreateUploadAttachedMedia", field)]
    assert limit.length(value) == limit.maximum + 1 and len(value) < limit.maximum  # few characters, too many bytes

    response = client.post("/v1/attached-media", json={**ATTACHED, field: value}, headers=auth())

    assert (response.status_code, response.json["Code"], response.json["Field"]) == (400, "InvalidParameter", field)
    assert f"{limit.maximum} bytes" in response.json["Message"]
    assert fake_vod.call_count() == 0


# --- CreateUploadVideo counts bytes (the contract's rule; older revisions of its page said 字节) -----------


def test_video_title_of_exactly_128_bytes_of_cjk_is_issued(client, auth, fake_vod):
    title = "题" * 42 + "ab"  # 128 bytes, 44 characters
    response = client.post("/v1/videos", json={"Title": title, "FileName": "a.mp4"}, headers=auth())

    assert response.status_code == 200, response.json
    assert fake_vod.last_call("CreateUploadVideo")["Title"] == title


@pytest.mark.parametrize(("field", "value"), [("Title", "题" * 43), ("Description", "题" * 341 + "ab")])
def test_video_text_one_byte_past_is_refused_before_vod(client, auth, fake_vod, field, value):
    limit = TEXT_LIMITS[("CreateUploadVideo", field)]
    assert limit.length(value) == limit.maximum + 1 and len(value) < limit.maximum

    response = client.post("/v1/videos", json={"Title": "t", "FileName": "a.mp4", field: value}, headers=auth())

    assert (response.status_code, response.json["Code"], response.json["Field"]) == (400, "InvalidParameter", field)
    assert f"{limit.maximum} bytes" in response.json["Message"]
    assert fake_vod.call_count() == 0


# --- CreateUploadImage counts characters ("长度不超过 128 个字符") -------------------------------------------


def test_image_title_of_128_cjk_characters_is_issued_and_the_129th_refused(client, auth, fake_vod):
    ok = client.post("/v1/images", json={"ImageType": "default", "Title": "题" * 128}, headers=auth())
    assert ok.status_code == 200, ok.json
    assert fake_vod.last_call("CreateUploadImage")["Title"] == "题" * 128

    refused = client.post("/v1/images", json={"ImageType": "default", "Title": "题" * 129}, headers=auth())
    assert (refused.status_code, refused.json["Field"]) == (400, "Title")
    assert "characters" in refused.json["Message"] and fake_vod.call_count() == 1


# --- ICE CreateUploadMedia and Wangsu getUploadToken count characters -------------------------------------


def test_ice_title_of_128_cjk_characters_is_issued_and_the_129th_refused(client, auth, fake_ice):
    ok = client.post("/v1/media", json={"FileInfo": FILE_INFO, "MediaMetaData": {"Title": "题" * 128}},
                     headers=auth())
    assert ok.status_code == 200, ok.json

    refused = client.post("/v1/media", json={"FileInfo": FILE_INFO, "MediaMetaData": {"Title": "题" * 129}},
                          headers=auth())
    assert (refused.status_code, refused.json["Field"]) == (400, "MediaMetaData.Title")
    assert fake_ice.call_count() == 1


def test_wangsu_file_name_of_40_cjk_characters_is_issued_and_the_41st_refused(client, auth, fake_wangsu):
    ok = client.post("/v1/wangsu/upload-tokens", json={"originFileName": "题" * 36 + ".mp4"}, headers=auth())
    assert ok.status_code == 200, ok.json

    refused = client.post("/v1/wangsu/upload-tokens", json={"originFileName": "题" * 37 + ".mp4"}, headers=auth())
    assert (refused.status_code, refused.json["Field"]) == (400, "originFileName")
    assert fake_wangsu.call_count() == 1
