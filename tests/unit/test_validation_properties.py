"""Properties of the request validators (upload_broker.validation), for any input Hypothesis can think of.

The example tables elsewhere pin single cases; these pin the rules: each text limit counts the unit its
TEXT_LIMITS entry names (bytes of UTF-8 or characters), never the other; extensions compare case-insensitively;
tags parse the same from a string or a list; integers keep their bounds; and a validator either returns what
goes upstream or raises InvalidParameter naming the field, nothing else.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from upload_broker import validation as v
from upload_broker.errors import BrokerError, InvalidParameter, MissingParameter

# Printable text without the control characters the validators refuse; multi-byte characters included.
_CONTROL = set(range(0x00, 0x09)) | {0x0B, 0x0C} | set(range(0x0E, 0x20)) | {0x7F}
clean_text = st.text(st.characters(codec="utf-8", exclude_characters="".join(map(chr, _CONTROL))), max_size=200)
multi_byte = st.text(st.sampled_from("é中文😀ß€ñ한国語a"), min_size=1, max_size=200)
SETTINGS = settings(max_examples=100, deadline=None)


def utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


VIDEO_TAG = v.TEXT_LIMITS[("CreateUploadVideo", "Tags")]
VIDEO_FILE_NAME = v.TEXT_LIMITS[("CreateUploadVideo", "FileName")]
tags_check = v.tag_list(VIDEO_TAG)


# --- each limit counts its own unit ----------------------------------------------------------------------


@SETTINGS
@given(st.sampled_from(sorted(v.TEXT_LIMITS)), st.one_of(clean_text, multi_byte))
@example(("CreateUploadAttachedMedia", "Title"), "中" * 42 + "ab")  # 128 bytes exactly
@example(("CreateUploadAttachedMedia", "Title"), "中" * 43)  # 43 characters, 129 bytes
@example(("CreateUploadVideo", "Title"), "中" * 128)  # 128 characters, 384 bytes
@example(("CreateUploadVideo", "Title"), "中" * 129)
@example(("CreateUploadImage", "Title"), "😀" * 128)  # 128 characters, 512 bytes
def test_a_text_limit_accepts_exactly_what_its_unit_allows(key, value):
    limit = v.TEXT_LIMITS[key]
    check = v.text(limit)
    if limit.length(value) <= limit.maximum:
        assert check(value, "Field") == value
    else:
        with pytest.raises(InvalidParameter) as refused:
            check(value, "Field")
        assert refused.value.field == "Field"
        assert f"{limit.length(value)} {limit.unit}" in refused.value.message  # the size it sent, in the unit


@SETTINGS
@given(multi_byte, st.integers(1, 2048))
def test_text_limits_count_bytes_and_character_limits_count_characters(value, limit):
    by_bytes, by_chars = v.text(v.Limit(limit, v.BYTES, "test")), v.text(v.Limit(limit, v.CHARACTERS, "test"))
    assert _accepts(by_bytes, value) == (utf8_len(value) <= limit)
    assert _accepts(by_chars, value) == (len(value) <= limit)
    # A byte limit is never more lenient than the same number of characters.
    if _accepts(by_bytes, value):
        assert _accepts(by_chars, value)


@SETTINGS
@given(st.text(min_size=1, max_size=40))
def test_control_characters_are_refused_in_any_text(value):
    assume(any(ord(c) in _CONTROL for c in value))
    with pytest.raises(InvalidParameter):
        v.text(v.Limit(10_000, v.BYTES, "test"))(value, "Description")


def _accepts(check, value) -> bool:
    try:
        check(value, "Field")
    except InvalidParameter as error:
        assert error.field == "Field"
        return False
    return True


# --- extensions ------------------------------------------------------------------------------------------

stems = st.text(st.characters(codec="utf-8", exclude_characters="./\\" + "".join(map(chr, _CONTROL))),
                min_size=1, max_size=30)


def any_case(word: str):
    return st.tuples(*[st.sampled_from(sorted({c.lower(), c.upper()})) for c in word]).map("".join)


@SETTINGS
@given(stems, st.sampled_from(sorted(v.VOD_MEDIA_EXTENSIONS)).flatmap(any_case))
def test_a_media_extension_is_accepted_in_any_case(stem, ext):
    name = f"{stem}.{ext}"
    assume(utf8_len(name) <= VIDEO_FILE_NAME.maximum)
    assert v.file_name(v.VOD_MEDIA_EXTENSIONS, VIDEO_FILE_NAME)(name, "FileName") == name
    assert v.extension_of(name) == ext.lower()


@SETTINGS
@given(stems, st.text(st.characters(categories=["Ll", "Lu", "Nd"]), min_size=1, max_size=8))
def test_an_extension_vod_does_not_list_is_refused_naming_the_field(stem, ext):
    assume(ext.lower() not in v.VOD_MEDIA_EXTENSIONS)
    with pytest.raises(InvalidParameter) as refused:
        v.file_name(v.VOD_MEDIA_EXTENSIONS, VIDEO_FILE_NAME)(f"{stem}.{ext}", "FileName")
    assert refused.value.field == "FileName"


@SETTINGS
@given(st.text(max_size=60))
def test_extension_of_is_the_lower_cased_text_after_the_base_names_last_dot(name):
    ext = v.extension_of(name)
    base = name.replace("\\", "/").split("/")[-1]
    if ext is None:
        assert "." not in base or base.startswith(".") and base.count(".") == 1 or base.endswith(".")
    else:
        assert base.lower().endswith("." + ext) and "." not in ext and "/" not in ext and ext == ext.lower()


@SETTINGS
@given(st.sampled_from(v.VOD_IMAGE_EXTENSIONS).flatmap(any_case))
def test_image_ext_is_case_insensitive_and_sent_as_vod_lists_it(ext):
    check = v.choice(*v.VOD_IMAGE_EXTENSIONS, case_insensitive=True)
    assert check(ext, "ImageExt") == ext.lower()


@SETTINGS
@given(st.sampled_from(sorted(v.VOD_ATTACHED_MEDIA_EXTENSIONS)), st.data())
def test_media_ext_fits_the_business_type_in_any_case_with_or_without_a_dot(business_type, data):
    allowed = v.VOD_ATTACHED_MEDIA_EXTENSIONS[business_type]
    ext = data.draw(st.sampled_from(allowed).flatmap(any_case))
    dot = data.draw(st.sampled_from(["", "."]))
    params = {"BusinessType": business_type, "MediaExt": v.media_ext(dot + ext, "MediaExt")}
    assert v.check_attached_media_extension(params)["MediaExt"] == ext.lower()
    other = data.draw(st.sampled_from(sorted({e for exts in v.VOD_ATTACHED_MEDIA_EXTENSIONS.values() for e in exts})))
    assume(other not in allowed)
    with pytest.raises(InvalidParameter):
        v.check_attached_media_extension({"BusinessType": business_type, "MediaExt": other})


# --- tags ------------------------------------------------------------------------------------------------

tag = st.text(st.characters(codec="utf-8", exclude_characters="," + "".join(map(chr, _CONTROL))),
              min_size=1, max_size=VIDEO_TAG.maximum).map(str.strip).filter(bool)


@SETTINGS
@given(st.lists(tag, min_size=1, max_size=v.TAGS_MAX_COUNT))
def test_tags_parse_the_same_from_a_list_or_a_comma_separated_string(tags):
    from_list = tags_check(tags, "Tags")
    from_text = tags_check(",".join(tags), "Tags")
    assert from_list == from_text == ",".join(tags)
    assert tags_check(from_text, "Tags") == from_text  # idempotent: what goes upstream validates again


@SETTINGS
@given(st.lists(tag, min_size=v.TAGS_MAX_COUNT + 1, max_size=40))
def test_more_than_16_tags_are_refused(tags):
    for value in (tags, ",".join(tags)):
        with pytest.raises(InvalidParameter) as refused:
            tags_check(value, "Tags")
        assert refused.value.field == "Tags"


@SETTINGS
@given(st.lists(tag, max_size=5), st.text(st.sampled_from("a中😀"), min_size=VIDEO_TAG.maximum + 1, max_size=60))
def test_a_tag_longer_than_32_characters_is_refused_even_if_short_in_bytes_elsewhere(tags, long_tag):
    with pytest.raises(InvalidParameter):
        tags_check([*tags, long_tag], "Tags")


@SETTINGS
@given(st.lists(tag, min_size=1, max_size=5), st.integers(0, 5))
def test_an_empty_tag_or_a_comma_inside_a_listed_tag_is_refused(tags, at):
    at = at % (len(tags) + 1)
    with pytest.raises(InvalidParameter):
        tags_check(",".join([*tags[:at], " ", *tags[at:]]), "Tags")
    with pytest.raises(InvalidParameter):
        tags_check([*tags[:at], "a,b", *tags[at:]], "Tags")


@SETTINGS
@given(st.one_of(st.integers(), st.floats(), st.booleans(), st.dictionaries(st.text(), st.text(), max_size=2)))
def test_tags_of_another_type_are_refused(value):
    with pytest.raises(InvalidParameter):
        tags_check(value, "Tags")


# --- integers --------------------------------------------------------------------------------------------


@SETTINGS
@given(st.integers(-(2**70), 2**70), st.sampled_from(["int", "str", "padded", "float"]))
@example(v.INT64_MAX, "int")
@example(v.INT64_MAX + 1, "int")
@example(-1, "str")
@example(0, "padded")
def test_file_size_is_a_non_negative_int64_however_it_is_spelled(number, spelling):
    value = {"int": number, "str": str(number), "padded": f" {number} ", "float": float(number)}[spelling]
    if spelling == "float":
        assume(abs(number) < 2**53)  # a float above that is not the integer the caller meant
    check = v.FILE_SIZE.check
    digits_ok = spelling not in ("str", "padded") or len(str(abs(number))) <= 19
    if 0 <= number <= v.INT64_MAX and digits_ok:
        assert check(value, "FileSize") == str(number)
    else:
        with pytest.raises(InvalidParameter) as refused:
            check(value, "FileSize")
        assert refused.value.field == "FileSize"


@SETTINGS
@given(st.integers(-1000, 1000), st.integers(-1000, 1000), st.integers(-2000, 2000))
def test_integer_bounds_are_inclusive(low, high, number):
    assume(low <= high)
    check = v.integer(low, high)
    if low <= number <= high:
        assert check(number, "N") == str(number)
    else:
        with pytest.raises(InvalidParameter):
            check(number, "N")


@SETTINGS
@given(st.one_of(st.booleans(), st.floats(allow_nan=True).filter(lambda f: not (f == f and f.is_integer())),
                 st.text().filter(lambda t: not t.strip().lstrip("-").isdigit()), st.lists(st.integers(), max_size=2)))
def test_non_integers_are_refused_and_a_boolean_is_not_a_number(value):
    with pytest.raises(InvalidParameter):
        v.integer()(value, "CateId")


@SETTINGS
@given(st.lists(st.integers(0, v.INT64_MAX), min_size=1, max_size=8), st.booleans())
def test_cate_ids_take_one_to_five_ids_as_a_list_or_a_string(ids, as_text):
    value = ",".join(map(str, ids)) if as_text else ids
    if len(ids) <= v.CATE_IDS_MAX_COUNT:
        assert v.cate_ids(value, "CateIds") == ",".join(map(str, ids))
    else:
        with pytest.raises(InvalidParameter):
            v.cate_ids(value, "CateIds")


# --- the whole body ------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["Title", "FileName", "FileSize", "Description", "CoverURL", "CateId", "Tags",
                                        "TemplateGroupId", "Unknown"]), json_values, max_size=6))
def test_validate_returns_strings_for_upstream_or_raises_a_400_naming_a_field(body):
    from functions.create_upload_video.operation import operation

    try:
        params = v.validate(body, operation.fields, operation.operator_fields)
    except BrokerError as refused:
        assert refused.status == 400
        assert refused.field  # the caller is told which field to fix
        assert isinstance(refused, (InvalidParameter, MissingParameter)) or refused.code == "ForbiddenParameter"
        return
    assert set(params) <= {f.name for f in operation.fields}
    assert {"Title", "FileName"} <= set(params)
    assert all(isinstance(value, str) for value in params.values())
    assert len(params["Title"]) <= v.TEXT_LIMITS[("CreateUploadVideo", "Title")].maximum
    json.dumps(params)  # and it serialises for the SDK


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_ice_file_info_never_fails_with_anything_but_a_400(value):
    try:
        info = v.ice_file_info(value, "FileInfo")
    except BrokerError as refused:
        assert refused.status == 400 and refused.field and refused.field.startswith("FileInfo")
        return
    assert list(info)[0] == "Type" and info["Ext"] == info["Ext"].lower()
