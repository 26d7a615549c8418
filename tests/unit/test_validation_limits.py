"""TEXT_LIMITS is the one statement of every text limit, and each operation's fields obey it exactly.

For every (operation, field) in the table, a value of exactly the limit is accepted and one unit more is refused,
through the fields the operation really declares. The values are mostly CJK (3 bytes per character), so a
character limit that counted bytes, or a byte limit that counted characters, fails here: 128 characters of CJK
are 384 bytes, and 128 bytes of CJK are 42 characters and a bit.
"""

from __future__ import annotations

import pytest

from upload_broker import validation as v
from upload_broker.errors import InvalidParameter
from upload_broker.local import discover_operations

OPERATIONS = {op.action: op for op in discover_operations()}
CJK = "题"  # 1 character, 3 bytes of UTF-8

# The smallest body each create accepts, to which one field at a time is added.
MINIMAL = {
    "CreateUploadVideo": {"Title": "t", "FileName": "a.mp4"},
    "CreateUploadImage": {"ImageType": "default"},
    "CreateUploadAttachedMedia": {"BusinessType": "watermark", "MediaExt": "png"},
    "CreateUploadMedia": {"FileInfo": {"Type": "video", "Name": "n", "Ext": "mp4"}, "MediaMetaData": {"Title": "t"}},
    "getUploadToken": {"originFileName": "a.mp4"},
}
# Fields whose value must also end in an extension.
SUFFIX = {
    ("CreateUploadVideo", "FileName"): ".mp4",
    ("CreateUploadImage", "OriginalFileName"): ".png",
    ("getUploadToken", "originFileName"): ".mp4",
}


def run(operation, body: dict) -> dict:
    """The operation's own request checks, as its run() applies them before any upstream call."""
    params = v.validate(body, operation.fields, operation.operator_fields)
    return operation.check(params) if operation.check else params


def at_limit(limit: v.Limit, suffix: str = "") -> str:
    """A string of exactly ``limit.maximum`` in the limit's unit, mostly CJK, ending in ``suffix``."""
    room = limit.maximum - len(suffix)  # the suffixes are ASCII: as many bytes as characters
    if limit.unit == v.CHARACTERS:
        value = CJK * room + suffix
    else:
        value = CJK * (room // 3) + "a" * (room % 3) + suffix
    assert limit.length(value) == limit.maximum
    return value


def one_past(value: str, suffix: str = "") -> str:
    stem = value[: len(value) - len(suffix)] if suffix else value
    return stem + "a" + suffix


def with_field(operation: str, name: str, value: str) -> dict:
    body = {key: dict(member) if isinstance(member, dict) else member for key, member in MINIMAL[operation].items()}
    if "." in name:
        outer, inner = name.split(".")
        body.setdefault(outer, {})[inner] = value
    else:
        body[name] = value
    return body


CASES = sorted(v.TEXT_LIMITS.items())


@pytest.mark.parametrize(("key", "limit"), CASES, ids=[f"{op}.{field}" for (op, field), _ in CASES])
def test_a_value_of_exactly_the_limit_is_accepted_and_one_more_is_refused(key, limit):
    operation, name = key
    suffix = SUFFIX.get(key, "")
    value = at_limit(limit, suffix)

    params = run(OPERATIONS[operation], with_field(operation, name, value))
    sent = params[name.split(".")[0]]
    assert (sent[name.split(".")[1]] if "." in name else sent) == value

    with pytest.raises(InvalidParameter) as refused:
        run(OPERATIONS[operation], with_field(operation, name, one_past(value, suffix)))
    assert refused.value.field == name
    unit_words = "bytes" if limit.unit == v.BYTES else "characters"
    assert f"{limit.maximum} {unit_words}" in refused.value.message  # the message names the unit that counts


@pytest.mark.parametrize(("key", "limit"), [c for c in CASES if c[1].unit == v.CHARACTERS],
                         ids=[f"{op}.{field}" for (op, field), lim in CASES if lim.unit == v.CHARACTERS])
def test_a_character_limit_does_not_count_bytes(key, limit):
    value = at_limit(limit, SUFFIX.get(key, ""))
    assert len(value.encode("utf-8")) > limit.maximum  # far more bytes than the limit, and still accepted
    run(OPERATIONS[key[0]], with_field(*key, value))


@pytest.mark.parametrize(("key", "limit"), [c for c in CASES if c[1].unit == v.BYTES],
                         ids=[f"{op}.{field}" for (op, field), lim in CASES if lim.unit == v.BYTES])
def test_a_byte_limit_does_not_count_characters(key, limit):
    suffix = SUFFIX.get(key, "")
    too_long = one_past(at_limit(limit, suffix), suffix)
    assert len(too_long) < limit.maximum  # far fewer characters than the limit, and still refused
    with pytest.raises(InvalidParameter):
        run(OPERATIONS[key[0]], with_field(*key, too_long))


# --- what the table says, pinned to the references ----------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "field", "maximum", "unit"),
    [
        # CONTRACT.md: "VOD Title at most 128 bytes of UTF-8, Description 1024 bytes" (older revisions of
        # help.aliyun.com/document_detail/55407.html said 字节; the current one says 字符: bytes is the stricter).
        ("CreateUploadVideo", "Title", 128, v.BYTES),
        ("CreateUploadVideo", "Description", 1024, v.BYTES),
        ("CreateUploadVideo", "Tags", 32, v.CHARACTERS),
        # help.aliyun.com/document_detail/55619.html: Title "长度不超过 128 个字符", Tags "单个标签不超过 32 个字符".
        ("CreateUploadImage", "Title", 128, v.CHARACTERS),
        ("CreateUploadImage", "Description", 1024, v.CHARACTERS),
        ("CreateUploadImage", "Tags", 32, v.CHARACTERS),
        # help.aliyun.com/document_detail/98467.html: Title "长度不超过 128 个字节"; Description 1,024 bytes.
        ("CreateUploadAttachedMedia", "Title", 128, v.BYTES),
        ("CreateUploadAttachedMedia", "Description", 1024, v.BYTES),
        ("CreateUploadAttachedMedia", "Tags", 32, v.CHARACTERS),
        # help.aliyun.com/document_detail/440767.html: MediaMetaData Title 128 个字符, Description 1024 个字符.
        ("CreateUploadMedia", "MediaMetaData.Title", 128, v.CHARACTERS),
        ("CreateUploadMedia", "MediaMetaData.Description", 1024, v.CHARACTERS),
        # Wangsu getUploadToken: error 1500 "The file name has exceeded 40 characters"; fileId "up to 32 characters".
        ("getUploadToken", "originFileName", 40, v.CHARACTERS),
        ("getUploadToken", "fileId", 32, v.CHARACTERS),
    ],
)
def test_the_table_says_what_each_reference_says(operation, field, maximum, unit):
    limit = v.TEXT_LIMITS[(operation, field)]
    assert (limit.maximum, limit.unit) == (maximum, unit)
    assert limit.source.startswith("https://")


def test_every_entry_is_a_field_its_operation_takes_and_cites_its_source():
    for (operation, name), limit in v.TEXT_LIMITS.items():
        assert operation in OPERATIONS, operation
        assert limit.source.startswith("https://") or limit.source == v.BROKER_BOUND
        top = name.split(".")[0]
        body = MINIMAL[operation]
        fields = {f.name for f in OPERATIONS[operation].fields}
        assert top in fields or top in body, (operation, name)


def test_a_limit_refuses_a_nonsense_unit():
    with pytest.raises(ValueError):
        v.Limit(10, "words", "x")
    with pytest.raises(ValueError):
        v.Limit(0, v.BYTES, "x")
