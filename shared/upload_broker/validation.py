"""Request validation against the upstreams' documented limits, before any upstream call.

A request is described by a tuple of :class:`Field` specs. :func:`validate` checks a parsed JSON body
against them and returns the upstream parameters (strings, or the JSON value the upstream takes), or raises
the first 400 with its ``Field``. Unknown fields are refused (a typo must not silently drop a setting), and
fields that steer cost, storage or callbacks are refused with ``ForbiddenParameter`` because the operator
owns them.

Every text length limit is in one table, :data:`TEXT_LIMITS`, which says per operation and field whether the
upstream counts bytes of UTF-8 or characters, and cites the page that says so. Value lists (image extensions,
types) are constants here too; openapi.yaml and the functions' docstrings must agree with them
(tests/unit/test_openapi.py checks).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from upload_broker.errors import ForbiddenParameter, InvalidParameter, MissingParameter

# CreateUploadVideo, FileName: "The file name must contain an extension ... Supported video file
# extensions: ... Supported audio file extensions: ..." (VOD API reference, CreateUploadVideo;
# "Overview of media upload > Supported formats").
VOD_VIDEO_EXTENSIONS = frozenset(
    "mp4 ts 3gp mpg mpeg mpe dat vob asf avi wmv flv f4v rm rmvb mov mkv m3u8 dv gif m2t m4v mj2 mjpeg mts ogg "
    "qt swf webm".split()
)
VOD_AUDIO_EXTENSIONS = frozenset("mp3 wma wav aac ra m4a flac ape ac3 amr caf acm".split())
VOD_MEDIA_EXTENSIONS = VOD_VIDEO_EXTENSIONS | VOD_AUDIO_EXTENSIONS

# The operations' own reference pages (the Chinese help.aliyun.com pages are the most complete and the most
# current; the generated SDK models of 2025 carry the same wording in English).
VOD_CREATE_UPLOAD_VIDEO_DOC = "https://help.aliyun.com/document_detail/55407.html"
VOD_CREATE_UPLOAD_IMAGE_DOC = "https://help.aliyun.com/document_detail/55619.html"
VOD_CREATE_UPLOAD_ATTACHED_MEDIA_DOC = "https://help.aliyun.com/document_detail/98467.html"
ICE_CREATE_UPLOAD_MEDIA_DOC = "https://help.aliyun.com/document_detail/440767.html"
WANGSU_GET_UPLOAD_TOKEN_DOC = "https://documents.cdnetworks.com/document/15923/20363"  # noqa: S105 - a URL
# A bound the upstream does not document: the broker's own, so that a field stays a sane size. Never tighter
# than anything the upstream documents.
BROKER_BOUND = "the broker's own bound (the upstream documents none)"

# URLs are passed to VOD, which fetches them; a sane bound keeps them URLs.
URL_MAX_CHARS = 2048
INT64_MAX = 2**63 - 1

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


# --- the text limits: one table ------------------------------------------------------------------------

BYTES = "bytes"
CHARACTERS = "characters"


@dataclass(frozen=True)
class Limit:
    """A length limit: at most ``maximum`` bytes of UTF-8 or ``maximum`` characters, and where it is written."""

    maximum: int
    unit: str  # BYTES or CHARACTERS
    source: str

    def __post_init__(self) -> None:
        if self.unit not in (BYTES, CHARACTERS) or self.maximum < 1:
            raise ValueError(f"a limit is a positive number of {BYTES} or {CHARACTERS}, not {self!r}")

    def length(self, value: str) -> int:
        """``value``'s length in this limit's unit."""
        return len(value.encode("utf-8")) if self.unit == BYTES else len(value)

    def describe(self) -> str:
        """The limit in words, as messages and openapi.yaml say it."""
        return f"at most {self.maximum} bytes of UTF-8" if self.unit == BYTES else f"at most {self.maximum} characters"


# Every text field's length limit, keyed (upstream operation, request field), and the one place that says whether
# the upstream counts bytes or characters. The current references disagree between operations, so each field
# follows its own operation's page:
# - CreateUploadVideo: Title 128 and Description 1,024, in bytes of UTF-8: the broker's contract (CONTRACT.md,
#   "Limits") fixes bytes, as older revisions of the page did ("长度不超过 128 个字节"); the current page says
#   字符 (characters). Bytes is the stricter reading, so VOD never gets a title it could refuse under either.
#   Tags "单个标签不超过 32 个字符 ... 最多不超过 16 个标签". FileName has no documented length.
# - CreateUploadImage: Title "长度不超过 128 个字符", Description 1,024 characters, Tags "单个标签不超过 32 个字符,
#   最多不超过 16 个标签".
# - CreateUploadAttachedMedia: Title "长度不超过 128 个字节" (bytes), Description "up to 1,024 bytes", Tags "up to
#   32 characters", at most 16.
# - ICE CreateUploadMedia, MediaMetaData: Title "长度不超过 128 个字符", Description "长度不超过 1024 个字符". Tags
#   has no documented limit; the broker applies VOD's (16 tags of 32 characters), as it did before this table.
# - Wangsu getUploadToken: originFileName at most 40 characters (error 1500, "The file name has exceeded 40
#   characters"), fileId "up to 32 characters".
# A "Tags" entry limits each tag; the number of tags is TAGS_MAX_COUNT.
TEXT_LIMITS: dict[tuple[str, str], Limit] = {
    ("CreateUploadVideo", "Title"): Limit(128, BYTES, VOD_CREATE_UPLOAD_VIDEO_DOC),
    ("CreateUploadVideo", "Description"): Limit(1024, BYTES, VOD_CREATE_UPLOAD_VIDEO_DOC),
    ("CreateUploadVideo", "Tags"): Limit(32, CHARACTERS, VOD_CREATE_UPLOAD_VIDEO_DOC),
    ("CreateUploadVideo", "FileName"): Limit(1024, BYTES, BROKER_BOUND),
    ("CreateUploadImage", "Title"): Limit(128, CHARACTERS, VOD_CREATE_UPLOAD_IMAGE_DOC),
    ("CreateUploadImage", "Description"): Limit(1024, CHARACTERS, VOD_CREATE_UPLOAD_IMAGE_DOC),
    ("CreateUploadImage", "Tags"): Limit(32, CHARACTERS, VOD_CREATE_UPLOAD_IMAGE_DOC),
    ("CreateUploadImage", "OriginalFileName"): Limit(1024, BYTES, BROKER_BOUND),
    ("CreateUploadAttachedMedia", "Title"): Limit(128, BYTES, VOD_CREATE_UPLOAD_ATTACHED_MEDIA_DOC),
    ("CreateUploadAttachedMedia", "Description"): Limit(1024, BYTES, VOD_CREATE_UPLOAD_ATTACHED_MEDIA_DOC),
    ("CreateUploadAttachedMedia", "Tags"): Limit(32, CHARACTERS, VOD_CREATE_UPLOAD_ATTACHED_MEDIA_DOC),
    ("CreateUploadAttachedMedia", "FileName"): Limit(1024, BYTES, BROKER_BOUND),
    ("CreateUploadMedia", "FileInfo.Name"): Limit(1024, BYTES, BROKER_BOUND),
    ("CreateUploadMedia", "MediaMetaData.Title"): Limit(128, CHARACTERS, ICE_CREATE_UPLOAD_MEDIA_DOC),
    ("CreateUploadMedia", "MediaMetaData.Description"): Limit(1024, CHARACTERS, ICE_CREATE_UPLOAD_MEDIA_DOC),
    ("CreateUploadMedia", "MediaMetaData.Tags"): Limit(32, CHARACTERS, BROKER_BOUND),
    ("CreateUploadMedia", "MediaMetaData.DynamicMetaData"): Limit(16 * 1024, BYTES, BROKER_BOUND),
    ("getUploadToken", "originFileName"): Limit(40, CHARACTERS, WANGSU_GET_UPLOAD_TOKEN_DOC),
    ("getUploadToken", "fileId"): Limit(32, CHARACTERS, WANGSU_GET_UPLOAD_TOKEN_DOC),
}
# "最多不超过 16 个标签" / "You can specify a maximum of 16 tags" (CreateUploadVideo, CreateUploadImage,
# CreateUploadAttachedMedia alike).
TAGS_MAX_COUNT = 16


@dataclass(frozen=True)
class Field:
    """One request field: its upstream name, whether it is required, and how to check it.

    ``check(value, name)`` returns the value to send upstream (a string, or a JSON-ready object
    for nested fields) or raises an :class:`InvalidParameter` naming the field.
    """

    name: str
    check: Callable[[Any, str], Any]
    required: bool = False
    description: str = ""


def validate(
    body: Mapping[str, Any],
    fields: Iterable[Field],
    operator_fields: Iterable[str] = (),
) -> dict[str, Any]:
    """Check ``body`` against ``fields``; return the upstream parameters for the fields present."""
    fields = tuple(fields)
    known = {f.name: f for f in fields}
    for name in operator_fields:
        if name in body:
            raise ForbiddenParameter(name)
    for name in body:
        if name not in known:
            raise InvalidParameter(
                f"{name} is not a field of this operation; send only {', '.join(known) or 'an empty object'}.",
                field=_printable(name),
            )
    params: dict[str, Any] = {}
    for spec in fields:
        value = body.get(spec.name)
        if value is None or value == [] or (isinstance(value, str) and value.strip() == ""):
            if spec.required:
                raise MissingParameter(spec.name)
            continue
        params[spec.name] = spec.check(value, spec.name)
    return params


def _printable(name: str) -> str:
    return _CONTROL.sub("?", name)[:64]


# --- checks ----------------------------------------------------------------------------------------


def text(limit: Limit | None = None) -> Callable[[Any, str], str]:
    """A string without control characters, within ``limit`` (bytes of UTF-8 or characters, as the limit says)."""

    def check(value: Any, name: str) -> str:
        if not isinstance(value, str):
            raise InvalidParameter(f"{name} must be a string.", field=name)
        if _CONTROL.search(value):
            raise InvalidParameter(f"{name} must not contain control characters.", field=name)
        if limit is not None and limit.length(value) > limit.maximum:
            raise InvalidParameter(
                f"{name} must be {limit.describe()} (it is {limit.length(value)} {limit.unit}).", field=name
            )
        return value

    return check


def choice(*allowed: str, case_insensitive: bool = False) -> Callable[[Any, str], str]:
    """One of ``allowed`` (optionally compared case-insensitively, returned as listed)."""

    def check(value: Any, name: str) -> str:
        if not isinstance(value, str):
            raise InvalidParameter(f"{name} must be a string, one of: {', '.join(allowed)}.", field=name)
        candidate = value.lower() if case_insensitive else value
        for option in allowed:
            if candidate == (option.lower() if case_insensitive else option):
                return option
        raise InvalidParameter(f"{name} must be one of: {', '.join(allowed)}.", field=name)

    return check


def integer(minimum: int | None = None, maximum: int | None = INT64_MAX) -> Callable[[Any, str], str]:
    """A JSON integer (or a string of digits, as VOD's own query parameters are) within bounds."""

    def check(value: Any, name: str) -> str:
        number: int | None = None
        if isinstance(value, bool):
            number = None
        elif isinstance(value, int):
            number = value
        elif isinstance(value, float) and math.isfinite(value) and value.is_integer():
            number = int(value)
        elif isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,19}", value.strip()):
            number = int(value.strip())
        if number is None:
            raise InvalidParameter(f"{name} must be an integer.", field=name)
        if minimum is not None and number < minimum:
            raise InvalidParameter(f"{name} must be at least {minimum}.", field=name)
        if maximum is not None and number > maximum:
            raise InvalidParameter(f"{name} must be at most {maximum}.", field=name)
        return str(number)

    return check


def http_url(value: Any, name: str) -> str:
    """An absolute http(s) URL."""
    if not isinstance(value, str):
        raise InvalidParameter(f"{name} must be a string URL.", field=name)
    if len(value) > URL_MAX_CHARS or _CONTROL.search(value) or any(c.isspace() for c in value):
        raise InvalidParameter(f"{name} must be an http(s) URL of at most {URL_MAX_CHARS} characters.", field=name)
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise InvalidParameter(f"{name} must be an http(s) URL.", field=name) from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidParameter(f"{name} must be an http(s) URL.", field=name)
    return value


def tag_list(limit: Limit) -> Callable[[Any, str], str]:
    """Tags: a comma-separated string or a list; at most TAGS_MAX_COUNT, each non-empty, within ``limit``, no commas."""

    def check(value: Any, name: str) -> str:
        if isinstance(value, str):
            items = value.split(",")
        elif isinstance(value, list) and all(isinstance(t, str) for t in value):
            items = list(value)
            if any("," in t for t in items):
                raise InvalidParameter(f"A tag in {name} must not contain a comma.", field=name)
        else:
            raise InvalidParameter(f"{name} must be a comma-separated string or a list of strings.", field=name)
        items = [t.strip() for t in items]
        if any(t == "" for t in items):
            raise InvalidParameter(f"{name} must not contain an empty tag.", field=name)
        if len(items) > TAGS_MAX_COUNT:
            raise InvalidParameter(f"{name} may hold at most {TAGS_MAX_COUNT} tags (it has {len(items)}).", field=name)
        for tag in items:
            if _CONTROL.search(tag):
                raise InvalidParameter(f"A tag in {name} must not contain control characters.", field=name)
            if limit.length(tag) > limit.maximum:
                raise InvalidParameter(f"Each tag in {name} must be {limit.describe()}.", field=name)
        return ",".join(items)

    return check


def extension_of(file_name: str) -> str | None:
    """The lower-cased extension after the last dot of the base name, or None."""
    base = re.split(r"[\\/]", file_name)[-1]
    if "." not in base:
        return None
    stem, ext = base.rsplit(".", 1)
    if not stem or not ext:
        return None
    return ext.lower()


def file_name(extensions: frozenset[str], limit: Limit) -> Callable[[Any, str], str]:
    """A file name within ``limit`` whose extension (case-insensitive) is one of ``extensions``."""
    base_check = text(limit)
    listed = ", ".join(sorted(e.upper() for e in extensions))

    def check(value: Any, name: str) -> str:
        value = base_check(value, name)
        ext = extension_of(value)
        if ext is None:
            raise InvalidParameter(f"{name} must end in a file extension, such as movie.mp4.", field=name)
        if ext not in extensions:
            raise InvalidParameter(f"{name} has the extension .{ext}, which is not accepted; use one of {listed}.",
                                   field=name)
        return value

    return check


def json_object(value: Any, name: str) -> dict[str, Any]:
    """A JSON object (returned as is, for a caller that checks it further)."""
    if not isinstance(value, dict):
        raise InvalidParameter(f"{name} must be a JSON object.", field=name)
    return value


def compact_json(value: Any) -> str:
    """The JSON text the Alibaba Cloud APIs take for object-valued parameters."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# --- the common VOD fields -------------------------------------------------------------------------

def limited_text(operation: str, name: str, *, required: bool = False) -> Field:
    """The text field ``name`` of ``operation``, checked against its entry in TEXT_LIMITS."""
    limit = TEXT_LIMITS[(operation, name)]
    return Field(name, text(limit), required, limit.describe())


def limited_tags(operation: str, name: str = "Tags") -> Field:
    """The tags field ``name`` of ``operation``: at most TAGS_MAX_COUNT tags, each within its TEXT_LIMITS entry."""
    limit = TEXT_LIMITS[(operation, name)]
    return Field(name, tag_list(limit),
                 description=f"at most {TAGS_MAX_COUNT} tags, each {limit.describe()}, comma-separated or a list")


CATE_ID = Field("CateId", integer(), description="an integer category ID")
COVER_URL = Field("CoverURL", http_url, description="an http(s) URL")
FILE_SIZE = Field("FileSize", integer(0), description="a non-negative integer, in bytes")

# Fields of VOD's creates that steer cost, storage or callbacks: the operator's alone (CONTRACT.md).
VOD_OPERATOR_FIELDS = ("TemplateGroupId", "WorkflowId", "StorageLocation", "AppId", "UserData")


def required(spec: Field) -> Field:
    """The same field, required."""
    return Field(spec.name, spec.check, True, spec.description)


# --- VOD CreateUploadImage -------------------------------------------------------------------------

# CreateUploadImage, ImageType: "Valid values: default, cover" (https://www.alibabacloud.com/help/doc-detail/55619.htm).
VOD_IMAGE_TYPES = ("default", "cover")
# CreateUploadImage, ImageExt "取值: png(默认)、jpg、jpeg、gif、heic、webp" (VOD_CREATE_UPLOAD_IMAGE_DOC, the current
# reference; older generated SDK models still list only png, jpg, jpeg and gif). The one list: the validator, its
# messages, the function's docstring and openapi.yaml's enum come from it or are checked against it
# (tests/unit/test_openapi.py).
VOD_IMAGE_EXTENSIONS = ("png", "jpg", "jpeg", "gif", "heic", "webp")
VOD_IMAGE_DEFAULT_EXTENSION = "png"


def file_name_with_extension(limit: Limit) -> Callable[[Any, str], str]:
    """A file name within ``limit`` that carries some extension (CreateUploadImage OriginalFileName: "The name
    must contain a file name extension. The file name extension is not case-sensitive.")."""
    base_check = text(limit)

    def check(value: Any, name: str) -> str:
        value = base_check(value, name)
        if extension_of(value) is None:
            raise InvalidParameter(f"{name} must end in a file extension, such as picture.png.", field=name)
        return value

    return check


IMAGE_EXT = Field("ImageExt", choice(*VOD_IMAGE_EXTENSIONS, case_insensitive=True),
                  description=f"one of {', '.join(VOD_IMAGE_EXTENSIONS)} (case-insensitive); "
                              f"{VOD_IMAGE_DEFAULT_EXTENSION} by default")


def check_image_extension(params: dict[str, Any]) -> dict[str, Any]:
    """ImageExt wins over OriginalFileName's extension; without ImageExt the file name's extension is sent.

    VOD stores the image under ImageExt and falls back to png when it is absent ("png (default)"), so a
    ``photo.jpg`` sent without ImageExt would be stored as a .png. The broker therefore sends the file
    name's extension as ImageExt when it is one VOD accepts, and refuses one it would not accept.
    """
    if "ImageExt" in params or "OriginalFileName" not in params:
        return params
    ext = extension_of(params["OriginalFileName"])
    if ext not in VOD_IMAGE_EXTENSIONS:
        raise InvalidParameter(
            f"OriginalFileName has the extension .{ext}, which CreateUploadImage does not accept; use a "
            f"{', '.join(VOD_IMAGE_EXTENSIONS)} file, or send ImageExt.",
            field="OriginalFileName",
        )
    return {**params, "ImageExt": ext}


# --- VOD CreateUploadAttachedMedia -----------------------------------------------------------------

# CreateUploadAttachedMedia, MediaExt: "watermark: png, gif, apng, mov; subtitle: srt, ass, stl, ttml, vtt;
# material: jpg, gif, png, mp4, mat, zip, apk" (https://help.aliyun.com/document_detail/98467.html).
VOD_ATTACHED_MEDIA_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "watermark": ("png", "gif", "apng", "mov"),
    "subtitle": ("srt", "ass", "stl", "ttml", "vtt"),
    "material": ("jpg", "gif", "png", "mp4", "mat", "zip", "apk"),
}
# CateIds: "Separate multiple category IDs with commas (,). You can enter a maximum of five category IDs."
CATE_IDS_MAX_COUNT = 5


def cate_ids(value: Any, name: str) -> str:
    """At most five integer category IDs: a comma-separated string or a JSON list of integers."""
    if isinstance(value, str):
        items: list[Any] = [item.strip() for item in value.split(",")]
    elif isinstance(value, list):
        items = list(value)
    elif isinstance(value, int) and not isinstance(value, bool):
        items = [value]
    else:
        raise InvalidParameter(f"{name} must be comma-separated integers or a list of integers.", field=name)
    if not items or len(items) > CATE_IDS_MAX_COUNT:
        raise InvalidParameter(f"{name} may hold 1 to {CATE_IDS_MAX_COUNT} category IDs.", field=name)
    as_integer = integer(0)
    numbers = []
    for item in items:
        if isinstance(item, float):
            raise InvalidParameter(f"Each of {name} must be an integer category ID.", field=name)
        try:
            numbers.append(as_integer(item, name))
        except InvalidParameter:
            raise InvalidParameter(f"Each of {name} must be an integer category ID.", field=name) from None
    return ",".join(numbers)


def check_attached_media_extension(params: dict[str, Any]) -> dict[str, Any]:
    """MediaExt must fit BusinessType; without MediaExt, FileName's extension must, and is sent as MediaExt.

    FileName "可不带扩展名;若此处带了扩展名,且此处的扩展名与 MediaExt 中设置的扩展名不一致,以 MediaExt 为准" (it may
    omit the extension; if it has one that differs from MediaExt, MediaExt wins) -- CreateUploadAttachedMedia,
    https://help.aliyun.com/document_detail/98467.html. So a FileName extension is checked only when it is
    the one VOD will use.
    """
    business_type = params["BusinessType"]
    allowed = VOD_ATTACHED_MEDIA_EXTENSIONS[business_type]
    listed = ", ".join(allowed)
    if "MediaExt" in params:
        ext = params["MediaExt"].lower()
        if ext not in allowed:
            raise InvalidParameter(f"MediaExt for a {business_type} must be one of: {listed}.", field="MediaExt")
        return {**params, "MediaExt": ext}
    ext = extension_of(params["FileName"]) if "FileName" in params else None
    if ext is None:
        raise MissingParameter(
            "MediaExt", f"MediaExt is required unless FileName ends in the extension (for a {business_type}: {listed})."
        )
    if ext not in allowed:
        raise InvalidParameter(
            f"FileName has the extension .{ext}, which does not fit a {business_type}; use one of: {listed}.",
            field="FileName",
        )
    return {**params, "MediaExt": ext}


def media_ext(value: Any, name: str) -> str:
    """A bare file extension such as ``png`` (a leading dot is tolerated and dropped)."""
    value = text()(value, name).strip().lstrip(".")
    if not re.fullmatch(r"[A-Za-z0-9]{1,16}", value):
        raise InvalidParameter(f"{name} must be a file extension such as png, without the dot.", field=name)
    return value.lower()


# --- ICE CreateUploadMedia -------------------------------------------------------------------------

# FileInfo.Type: "Valid values: video, image, audio, text, and other" (ICE 2020-11-09 CreateUploadMedia,
# https://www.alibabacloud.com/help/en/ims/developer-reference/api-ice-2020-11-09-createuploadmedia).
ICE_FILE_TYPES = ("video", "image", "audio", "text", "other")
# FileInfo.Ext per Type: IMS "Overview of media upload > Supported file formats"
# (https://alibabacloud.com/help/en/ims/user-guide/overview-of-media-upload): video MP4, TS, 3GP, MPG, MPEG,
# MPE, DAT, VOB, ASF, AVI, WMV, FLV, F4V, RM, RMVB, MOV, MKV, M3U8, DV, GIF, M2T, M4V, MJ2, MJPEG, MTS, OGG,
# QT, SWF, WebM; audio MP3, WMA, WAV, AAC, RA, M4A, FLAC, APE, AC3, AMR, CAF, ACM; image GIF, WebP, PNG, JPG,
# JPEG, HEIC; auxiliary media: subtitles SRT, VTT, ASS and fonts TTF, TTC, FON. "other" has no documented list.
ICE_SUBTITLE_EXTENSIONS = ("srt", "vtt", "ass")
ICE_FONT_EXTENSIONS = ("ttf", "ttc", "fon")
ICE_EXTENSIONS: dict[str, frozenset[str]] = {
    "video": VOD_VIDEO_EXTENSIONS,
    "audio": VOD_AUDIO_EXTENSIONS,
    "image": frozenset({"gif", "webp", "png", "jpg", "jpeg", "heic"}),
    "text": frozenset(ICE_SUBTITLE_EXTENSIONS + ICE_FONT_EXTENSIONS),
}
# MediaMetaData.BusinessType per FileInfo.Type. The API reference (same page) lists "opening or ending if Type
# is set to video; default or cover if Type is set to image; subtitles or font if Type is set to text;
# watermark if Type is set to material; general", and its current revision files watermark under image (there
# is no "material" FileInfo.Type) and general under other. ROS's ALIYUN::ICE::UploadMedia page calls general
# "通用" (general-purpose), so it is accepted for every Type.
ICE_BUSINESS_TYPES: dict[str, tuple[str, ...]] = {
    "video": ("opening", "ending", "general"),
    "image": ("default", "cover", "watermark", "general"),
    "text": ("subtitles", "font", "general"),
    "audio": ("general",),
    "other": ("general",),
}
# The text extensions each text BusinessType takes (subtitle vs font formats, as in the table above).
ICE_TEXT_EXTENSIONS_BY_BUSINESS_TYPE = {"subtitles": ICE_SUBTITLE_EXTENSIONS, "font": ICE_FONT_EXTENSIONS}
# CreateUploadMedia parameters that steer cost, storage or callbacks, and VOD's, refused at the top level and
# inside FileInfo / MediaMetaData alike (CONTRACT.md: "never silently dropped").
ICE_OPERATOR_FIELDS = (
    "AppId", "EntityId", "PostProcessConfig", "UploadTargetConfig", "UserData",
    "StorageLocation", "WorkflowId", "TemplateGroupId",
)  # fmt: skip


def _nested(value: Any, name: str, fields: Iterable[Field], forbidden: Iterable[str]) -> dict[str, Any]:
    """Validate a JSON object field's members, naming faults ``<name>.<member>``."""
    obj = json_object(value, name)
    specs = tuple(Field(f"{name}.{f.name}", f.check, f.required, f.description) for f in fields)
    for key in forbidden:
        if key in obj:
            raise ForbiddenParameter(f"{name}.{key}")
    prefixed = {f"{name}.{key}": member for key, member in obj.items()}
    params = validate(prefixed, specs)
    return {key[len(name) + 1:]: member for key, member in params.items()}


def ice_file_name(value: Any, name: str) -> str:
    """FileInfo.Name: "The file name without the extension" (the extension goes in FileInfo.Ext)."""
    value = text(TEXT_LIMITS[("CreateUploadMedia", "FileInfo.Name")])(value, name)
    if re.search(r"[\\/]", value):
        raise InvalidParameter(f"{name} must be a file name, not a path.", field=name)
    return value


def ice_file_info(value: Any, name: str) -> dict[str, Any]:
    """FileInfo: Type, Name and Ext required, Size optional; Ext must be a format IMS takes for the Type."""
    info = _nested(
        value,
        name,
        (
            Field("Type", choice(*ICE_FILE_TYPES), required=True),
            Field("Name", ice_file_name, required=True),
            Field("Ext", media_ext, required=True),
            Field("Size", integer(0)),
        ),
        ICE_OPERATOR_FIELDS,
    )
    file_type, ext = info["Type"], info["Ext"]
    allowed = ICE_EXTENSIONS.get(file_type)
    if allowed is not None and ext not in allowed:
        raise InvalidParameter(
            f"{name}.Ext .{ext} is not a {file_type} format IMS accepts; use one of: "
            f"{', '.join(sorted(allowed))}.",
            field=f"{name}.Ext",
        )
    if info["Name"].lower().endswith("." + ext):
        raise InvalidParameter(
            f"{name}.Name is the file name without its extension (send \"{info['Name'][: -len(ext) - 1]}\"; the "
            f"extension goes in {name}.Ext).",
            field=f"{name}.Name",
        )
    if "Size" in info:
        info["Size"] = int(info["Size"])
    # The key order of the API reference's example: {"Type","Name","Size","Ext"}.
    return {k: info[k] for k in ("Type", "Name", "Size", "Ext") if k in info}


def dynamic_meta_data(value: Any, name: str) -> str:
    """MediaMetaData.DynamicMetaData: "The value is a string" (a JSON object is sent as its JSON text)."""
    if isinstance(value, dict):
        value = compact_json(value)
    return text(TEXT_LIMITS[("CreateUploadMedia", "MediaMetaData.DynamicMetaData")])(value, name)


def ice_media_meta_data(value: Any, name: str) -> dict[str, Any]:
    """MediaMetaData: Title required; Description, CateId, Tags, CoverURL, BusinessType, DynamicMetaData."""
    all_business_types = tuple(dict.fromkeys(t for types in ICE_BUSINESS_TYPES.values() for t in types))
    meta = _nested(
        value,
        name,
        (
            Field("Title", text(TEXT_LIMITS[("CreateUploadMedia", "MediaMetaData.Title")]), required=True),
            Field("Description", text(TEXT_LIMITS[("CreateUploadMedia", "MediaMetaData.Description")])),
            Field("CateId", integer()),
            Field("Tags", tag_list(TEXT_LIMITS[("CreateUploadMedia", "MediaMetaData.Tags")])),
            Field("CoverURL", http_url),
            Field("BusinessType", choice(*all_business_types)),
            Field("DynamicMetaData", dynamic_meta_data),
        ),
        ICE_OPERATOR_FIELDS,
    )
    if "CateId" in meta:
        meta["CateId"] = int(meta["CateId"])
    return meta


def check_ice_business_type(file_info: Mapping[str, Any], meta: Mapping[str, Any] | None) -> None:
    """MediaMetaData.BusinessType must be one the API reference lists for FileInfo.Type (and, for text,
    a subtitle BusinessType needs a subtitle extension and a font one a font extension)."""
    if not meta or "BusinessType" not in meta:
        return
    file_type, business_type = file_info["Type"], meta["BusinessType"]
    allowed = ICE_BUSINESS_TYPES[file_type]
    if business_type not in allowed:
        raise InvalidParameter(
            f"MediaMetaData.BusinessType for a {file_type} must be one of: {', '.join(allowed)}.",
            field="MediaMetaData.BusinessType",
        )
    exts = ICE_TEXT_EXTENSIONS_BY_BUSINESS_TYPE.get(business_type)
    if file_type == "text" and exts is not None and file_info["Ext"] not in exts:
        raise InvalidParameter(
            f"FileInfo.Ext for {business_type} must be one of: {', '.join(exts)}.", field="FileInfo.Ext"
        )


# --- Wangsu getUploadToken -------------------------------------------------------------------------

# getUploadToken: the page (WANGSU_GET_UPLOAD_TOKEN_DOC) and
# the API Center's (WANGSU_API_CENTER_DOC, updated 2024-07-29). originFileName "including the extension" and fileId
# are in TEXT_LIMITS; categoryNames like [{"childName":...,"parentName":...}].
WANGSU_API_CENTER_DOC = "https://documents.cdnetworks.com/document/api-doc/26505"
# overwrite: the API Center types it "Integer ... Value range: 0(no) 1(Yes)" (the older page says "string", with
# error 1608 "Parameter overwrite is neither 0 nor 1"). The broker takes 0/1 or "0"/"1" from a client and sends the
# JSON number.
WANGSU_OVERWRITE_VALUES = (0, 1)
# The fields the operator sets in configuration (CONTRACT.md). The API Center documents two subtitle fields:
# subtitleId ("Subtitle ID, corresponding to the material ID of Cloud VOD material management", which
# WANGSU_SUBTITLE_ID sets) and subtitle ("Supports up to 13 subtitles ... [{"lang":...,"subtitleId":...}] Base64");
# both add processing to the operator's bill, as does cmd (which workflowId "overrides").
WANGSU_OPERATOR_FIELDS = (
    "domain", "workflowId", "waterMarkName", "transCodeCombineName", "subtitleId", "subtitle", "cmd",
)  # fmt: skip


def wangsu_origin_file_name(value: Any, name: str) -> str:
    """originFileName: at most 40 characters, with an extension (``uploadtest.mp4``)."""
    value = text(TEXT_LIMITS[("getUploadToken", "originFileName")])(value, name)
    if re.search(r"[\\/]", value):
        raise InvalidParameter(f"{name} must be a file name, not a path.", field=name)
    if extension_of(value) is None:
        raise InvalidParameter(f"{name} must end in a file extension, such as uploadtest.mp4.", field=name)
    return value


def wangsu_file_id(value: Any, name: str) -> str:
    """fileId: the breakpoint-resume ID, 1 to 32 characters without spaces."""
    value = text(TEXT_LIMITS[("getUploadToken", "fileId")])(value, name)
    if any(c.isspace() for c in value):
        raise InvalidParameter(f"{name} must not contain spaces.", field=name)
    return value


def wangsu_overwrite(value: Any, name: str) -> int:
    """overwrite: 0 or 1, as a JSON number or the string "0"/"1"; returned as the integer Wangsu takes."""
    if type(value) is int and value in WANGSU_OVERWRITE_VALUES:  # not a bool, not 1.0
        return value
    if isinstance(value, str) and value in {str(v) for v in WANGSU_OVERWRITE_VALUES}:
        return int(value)
    raise InvalidParameter(f"{name} must be 0 (no) or 1 (yes).", field=name)


def wangsu_category_names(value: Any, name: str) -> str:
    """categoryNames: a list of {parentName, childName}; sent as the JSON text the doc shows."""
    if not isinstance(value, list) or not value:
        raise InvalidParameter(f"{name} must be a non-empty list of {{parentName, childName}} objects.", field=name)
    items = []
    for item in value:
        if not isinstance(item, dict) or set(item) - {"parentName", "childName"}:
            raise InvalidParameter(f"Each of {name} must be an object with parentName and childName.", field=name)
        entry = {}
        for key in ("childName", "parentName"):  # the doc's own key order
            member = item.get(key)
            if not isinstance(member, str) or not member.strip() or _CONTROL.search(member):
                raise InvalidParameter(f"Each of {name} needs a non-empty {key} string.", field=name)
            entry[key] = member
        items.append(entry)
    return compact_json(items)
