"""The validators for images, attached media, ICE media and Wangsu tokens, without HTTP."""

from __future__ import annotations

import json

import pytest

from upload_broker.errors import ForbiddenParameter, InvalidParameter, MissingParameter
from upload_broker.validation import (
    TEXT_LIMITS,
    WANGSU_OPERATOR_FIELDS,
    cate_ids,
    check_attached_media_extension,
    check_ice_business_type,
    check_image_extension,
    file_name_with_extension,
    ice_file_info,
    ice_media_meta_data,
    media_ext,
    wangsu_category_names,
    wangsu_file_id,
    wangsu_origin_file_name,
    wangsu_overwrite,
)

ORIGINAL_FILE_NAME = TEXT_LIMITS[("CreateUploadImage", "OriginalFileName")]


def refusal(check, *args):
    with pytest.raises((InvalidParameter, MissingParameter, ForbiddenParameter)) as info:
        check(*args)
    return info.value


# --- images ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"ImageType": "cover"}, {"ImageType": "cover"}),
        ({"ImageType": "cover", "OriginalFileName": "a.JPG"}, {"ImageType": "cover", "OriginalFileName": "a.JPG",
                                                              "ImageExt": "jpg"}),
        ({"ImageExt": "gif", "OriginalFileName": "a.bmp"}, {"ImageExt": "gif", "OriginalFileName": "a.bmp"}),
    ],
)
def test_image_extension_rules(params, expected):
    assert check_image_extension(params) == expected


def test_an_image_file_name_vod_would_mislabel_is_refused():
    error = refusal(check_image_extension, {"OriginalFileName": "scan.tiff"})
    assert error.field == "OriginalFileName" and ".tiff" in error.message


@pytest.mark.parametrize("name", ["D:\\pictures\\a.png", "a.b.c", "x.HEIC"])
def test_any_file_name_with_an_extension_is_a_valid_original_file_name(name):
    assert file_name_with_extension(ORIGINAL_FILE_NAME)(name, "OriginalFileName") == name


@pytest.mark.parametrize("name", ["a", ".png", "a.", "dir.d/file"])
def test_a_file_name_without_an_extension_is_refused(name):
    assert refusal(file_name_with_extension(ORIGINAL_FILE_NAME), name, "OriginalFileName").field == "OriginalFileName"


# --- attached media ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", "1"), ("1, 2 ,3", "1,2,3"), ([1, 2, 3, 4, 5], "1,2,3,4,5"), (["7", 8], "7,8"), (9, "9")],
)
def test_cate_ids_accepts_strings_and_lists(value, expected):
    assert cate_ids(value, "CateIds") == expected


@pytest.mark.parametrize("value", ["1,2,3,4,5,6", "", "a", "1,,2", [1.5], [True], [-1], {"a": 1}, True, "1;2"])
def test_cate_ids_refuses_everything_else(value):
    assert refusal(cate_ids, value, "CateIds").field == "CateIds"


def test_media_ext_wins_and_a_missing_one_comes_from_the_file_name():
    assert check_attached_media_extension({"BusinessType": "watermark", "MediaExt": "PNG", "FileName": "a.exe"}) == {
        "BusinessType": "watermark", "MediaExt": "png", "FileName": "a.exe"}
    assert check_attached_media_extension({"BusinessType": "subtitle", "FileName": "a.SRT"})["MediaExt"] == "srt"
    assert refusal(check_attached_media_extension, {"BusinessType": "subtitle"}).field == "MediaExt"
    material_rar = {"BusinessType": "material", "FileName": "a.rar"}
    assert refusal(check_attached_media_extension, material_rar).field == "FileName"


@pytest.mark.parametrize(("value", "expected"), [("png", "png"), (".MOV", "mov"), ("mp4", "mp4")])
def test_media_ext_is_a_bare_lowercase_extension(value, expected):
    assert media_ext(value, "MediaExt") == expected


@pytest.mark.parametrize("value", ["", "p n g", "../x", "a" * 17, 5, "png\x00"])
def test_media_ext_refuses_non_extensions(value):
    assert refusal(media_ext, value, "MediaExt").field == "MediaExt"


# --- ICE ---------------------------------------------------------------------------------------------


def test_file_info_is_normalised_in_the_documented_key_order():
    info = ice_file_info({"Ext": ".MP4", "Size": "10", "Name": "clip", "Type": "video"}, "FileInfo")
    assert json.dumps(info) == '{"Type": "video", "Name": "clip", "Size": 10, "Ext": "mp4"}'


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"Type": "video", "Name": "a", "Ext": "srt"}, "FileInfo.Ext"),
        ({"Type": "image", "Name": "a", "Ext": "tif"}, "FileInfo.Ext"),
        ({"Type": "video", "Name": "a.mkv", "Ext": "mkv"}, "FileInfo.Name"),
        ({"Type": "video", "Name": "a\\b", "Ext": "mkv"}, "FileInfo.Name"),
        ({"Type": "video", "Name": "a", "Ext": "mkv", "AppId": "x"}, "FileInfo.AppId"),
        ({"Type": "video", "Name": "a", "Ext": "mkv", "Size": 1.5}, "FileInfo.Size"),
        ([], "FileInfo"),
    ],
)
def test_file_info_refusals_name_the_member(value, field):
    assert refusal(ice_file_info, value, "FileInfo").field == field


def test_media_meta_data_counts_characters_not_bytes():
    assert ice_media_meta_data({"Title": "题" * 128}, "MediaMetaData")["Title"] == "题" * 128
    assert refusal(ice_media_meta_data, {"Title": "题" * 129}, "MediaMetaData").field == "MediaMetaData.Title"


def test_media_meta_data_sends_numbers_and_strings_as_ice_documents_them():
    meta = ice_media_meta_data({"Title": "t", "CateId": "12", "Tags": ["a"], "DynamicMetaData": {"k": 1}},
                               "MediaMetaData")
    assert meta == {"Title": "t", "CateId": 12, "Tags": "a", "DynamicMetaData": '{"k":1}'}


@pytest.mark.parametrize(
    ("file_type", "ext", "business_type", "ok"),
    [
        ("video", "mp4", "opening", True),
        ("video", "mp4", "ending", True),
        ("video", "mp4", "general", True),
        ("video", "mp4", "cover", False),
        ("image", "png", "default", True),
        ("image", "png", "cover", True),
        ("image", "png", "watermark", True),
        ("image", "png", "opening", False),
        ("text", "vtt", "subtitles", True),
        ("text", "fon", "font", True),
        ("text", "srt", "font", False),
        ("text", "ttc", "subtitles", False),
        ("audio", "wav", "general", True),
        ("audio", "wav", "opening", False),
        ("other", "bin", "general", True),
        ("other", "bin", "default", False),
    ],
)
def test_business_type_must_fit_the_file_type(file_type, ext, business_type, ok):
    info, meta = {"Type": file_type, "Ext": ext}, {"BusinessType": business_type}
    if ok:
        check_ice_business_type(info, meta)
    else:
        assert refusal(check_ice_business_type, info, meta).field in ("MediaMetaData.BusinessType", "FileInfo.Ext")


# --- Wangsu ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "ok"), [("a.mp4", True), ("a" * 36 + ".mp4", True), ("a" * 37 + ".mp4", False),
                                           ("movie", False), ("x/y.mp4", False)])
def test_origin_file_name(value, ok):
    if ok:
        assert wangsu_origin_file_name(value, "originFileName") == value
    else:
        assert refusal(wangsu_origin_file_name, value, "originFileName").field == "originFileName"


def test_file_id_is_at_most_32_characters():
    assert wangsu_file_id("f" * 32, "fileId") == "f" * 32
    assert refusal(wangsu_file_id, "f" * 33, "fileId").field == "fileId"


# The API Center types overwrite "Integer ... 0(no) 1(Yes)" (documents.cdnetworks.com/document/api-doc/26505): the
# client may send the number or its string, and the broker sends the number.
@pytest.mark.parametrize(("value", "expected"), [("0", 0), ("1", 1), (0, 0), (1, 1)])
def test_overwrite_accepts_zero_and_one_and_returns_the_integer(value, expected):
    result = wangsu_overwrite(value, "overwrite")
    assert result == expected and type(result) is int


@pytest.mark.parametrize("value", [True, False, 2, "2", "true", 1.0, " 1", "01", -1])
def test_overwrite_refuses_the_rest(value):
    assert refusal(wangsu_overwrite, value, "overwrite").field == "overwrite"


def test_category_names_are_sent_as_the_doc_shows():
    value = [{"parentName": "p1", "childName": "c1"}, {"childName": "c2", "parentName": "p2"}]
    assert wangsu_category_names(value, "categoryNames") == (
        '[{"childName":"c1","parentName":"p1"},{"childName":"c2","parentName":"p2"}]'
    )


@pytest.mark.parametrize("name", ["subtitleId", "subtitle", "cmd", "domain", "workflowId", "waterMarkName",
                                  "transCodeCombineName"])
def test_every_documented_processing_field_of_get_upload_token_is_the_operators(name):
    # API Center GetUploadToken documents both subtitleId and subtitle (up to 13 subtitles, Base64 JSON).
    assert name in WANGSU_OPERATOR_FIELDS
