"""The validators: VOD's documented limits, exactly at and just past each edge (CreateUploadVideo's fields)."""

from __future__ import annotations

import pytest

from functions.create_upload_video.operation import operation as create_upload_video
from upload_broker.errors import ForbiddenParameter, InvalidParameter, MissingParameter
from upload_broker.validation import (
    TEXT_LIMITS,
    VOD_MEDIA_EXTENSIONS,
    extension_of,
    file_name,
    http_url,
    integer,
    validate,
)

FIELDS = create_upload_video.fields
FILE_NAME_LIMIT = TEXT_LIMITS[("CreateUploadVideo", "FileName")]


def test_valid_body_becomes_upstream_strings():
    params = validate({"Title": "t", "FileName": "a.mp4", "FileSize": 10, "Tags": ["a", " b "], "CateId": "7"},
                      FIELDS)
    assert params == {"Title": "t", "FileName": "a.mp4", "FileSize": "10", "Tags": "a,b", "CateId": "7"}


def test_null_optional_fields_are_absent():
    assert validate({"Title": "t", "FileName": "a.mp4", "FileSize": None}, FIELDS) == {"Title": "t",
                                                                                       "FileName": "a.mp4"}


# CreateUploadVideo Title: 128 bytes of UTF-8 (the contract's rule, and older revisions of
# help.aliyun.com/document_detail/55407.html: "长度不超过 128 个字节") -- so 42 CJK characters (126 bytes) fit and
# the 43rd (129 bytes) does not, however few characters that is.
@pytest.mark.parametrize(("title", "ok"), [("a" * 128, True), ("a" * 129, False), ("é" * 64, True),
                                           ("é" * 64 + "a", False), ("题" * 42 + "ab", True), ("题" * 43, False),
                                           ("😀" * 32, True), ("😀" * 32 + "a", False)])
def test_title_is_counted_in_bytes(title, ok):
    if ok:
        assert validate({"Title": title, "FileName": "a.mp4"}, FIELDS)["Title"] == title
    else:
        with pytest.raises(InvalidParameter) as error:
            validate({"Title": title, "FileName": "a.mp4"}, FIELDS)
        assert error.value.field == "Title"


def test_control_characters_are_refused():
    with pytest.raises(InvalidParameter):
        validate({"Title": "a\x00b", "FileName": "a.mp4"}, FIELDS)


@pytest.mark.parametrize(("name", "ext"), [("a.MP4", "mp4"), ("dir/b.tar.gz", "gz"), ("C:\\x\\c.Mov", "mov"),
                                           ("noext", None), (".hidden", None), ("trailing.", None)])
def test_extension_of(name, ext):
    assert extension_of(name) == ext


@pytest.mark.parametrize("ext", sorted(VOD_MEDIA_EXTENSIONS))
def test_every_listed_extension_is_accepted_in_any_case(ext):
    check = file_name(VOD_MEDIA_EXTENSIONS, FILE_NAME_LIMIT)
    assert check(f"x.{ext.upper()}", "FileName") == f"x.{ext.upper()}"


def test_the_extension_lists_are_vods():
    assert len(VOD_MEDIA_EXTENSIONS) == 29 + 12
    assert {"mp4", "m3u8", "webm", "mj2", "mp3", "acm", "caf"} <= VOD_MEDIA_EXTENSIONS
    assert "exe" not in VOD_MEDIA_EXTENSIONS and "jpg" not in VOD_MEDIA_EXTENSIONS


@pytest.mark.parametrize(("tags", "ok"), [("a," * 15 + "a", True), ("a," * 16 + "a", False), ("x" * 32, True),
                                          ("x" * 33, False), (["a", "b"], True), (["a,b"], False), ("", None),
                                          ([], None), (["a", 1], False)])
def test_tags(tags, ok):
    if ok is None:
        assert "Tags" not in validate({"Title": "t", "FileName": "a.mp4", "Tags": tags}, FIELDS)
        return
    if ok:
        validate({"Title": "t", "FileName": "a.mp4", "Tags": tags}, FIELDS)
    else:
        with pytest.raises(InvalidParameter):
            validate({"Title": "t", "FileName": "a.mp4", "Tags": tags}, FIELDS)


@pytest.mark.parametrize(("value", "ok"), [(0, True), ("12", True), (2**63 - 1, True), (2**63, False),
                                           (-1, False), (1.0, True), (1.5, False), (True, False), ("1e3", False),
                                           (float("inf"), False), ([1], False)])
def test_file_size_bounds(value, ok):
    check = integer(0)
    if ok:
        assert check(value, "FileSize").isdigit()
    else:
        with pytest.raises(InvalidParameter):
            check(value, "FileSize")


@pytest.mark.parametrize(("url", "ok"), [("https://a.example.com/x.png", True), ("http://a/b", True),
                                         ("HTTPS://A.EXAMPLE.COM", True), ("ftp://a/b", False), ("//a/b", False),
                                         ("https://", False), ("https://a b/c", False), ("https://a:99999/", False),
                                         (7, False)])
def test_http_url(url, ok):
    if ok:
        assert http_url(url, "CoverURL") == url
    else:
        with pytest.raises(InvalidParameter):
            http_url(url, "CoverURL")


def test_missing_and_forbidden():
    with pytest.raises(MissingParameter) as missing:
        validate({"FileName": "a.mp4"}, FIELDS)
    assert missing.value.field == "Title"
    with pytest.raises(ForbiddenParameter) as forbidden:
        validate({"Title": "t", "FileName": "a.mp4", "AppId": "x"}, FIELDS, ("AppId",))
    assert forbidden.value.field == "AppId" and forbidden.value.code == "ForbiddenParameter"


def test_unknown_field_names_are_made_printable():
    with pytest.raises(InvalidParameter) as error:
        validate({"Title": "t", "FileName": "a.mp4", "bad\x00" + "x" * 100: 1}, FIELDS)
    assert "\x00" not in error.value.field and len(error.value.field) <= 64
