"""Request validation against the upstreams' documented limits, before any upstream call.

A request is described by a tuple of :class:`Field` specs. :func:`validate` checks a parsed JSON body
against them and returns the upstream parameters as strings, or raises the first 400 with its
``Field``. Unknown fields are refused (a typo must not silently drop a setting), and fields that steer
cost, storage or callbacks are refused with ``ForbiddenParameter`` because the operator owns them.

Limits cite the VOD API reference (CreateUploadVideo, CreateUploadImage, CreateUploadAttachedMedia) and
the ICE / Wangsu references; see each constant.
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

# VOD's documented text limits: Title "cannot exceed 128 bytes", Description "cannot exceed 1,024
# bytes", Tags "Each tag can be up to 32 characters in length. You can specify a maximum of 16 tags.
# Separate multiple tags with commas (,)" (CreateUploadVideo request parameters, UTF-8 encoded).
TITLE_MAX_BYTES = 128
DESCRIPTION_MAX_BYTES = 1024
TAGS_MAX_COUNT = 16
TAG_MAX_CHARS = 32
FILE_NAME_MAX_BYTES = 1024  # VOD stores the source name with the media; longer names are refused upstream

# The CoverURL and other URLs are passed to VOD, which fetches them; a sane bound keeps them URLs.
URL_MAX_CHARS = 2048
INT64_MAX = 2**63 - 1

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


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


def text(max_bytes: int | None = None, *, max_chars: int | None = None) -> Callable[[Any, str], str]:
    """A string of at most ``max_bytes`` bytes of UTF-8 (VOD counts bytes) or ``max_chars`` characters."""

    def check(value: Any, name: str) -> str:
        if not isinstance(value, str):
            raise InvalidParameter(f"{name} must be a string.", field=name)
        if _CONTROL.search(value):
            raise InvalidParameter(f"{name} must not contain control characters.", field=name)
        if max_bytes is not None and len(value.encode("utf-8")) > max_bytes:
            raise InvalidParameter(
                f"{name} must be at most {max_bytes} bytes of UTF-8 (it is {len(value.encode('utf-8'))}).",
                field=name,
            )
        if max_chars is not None and len(value) > max_chars:
            raise InvalidParameter(f"{name} must be at most {max_chars} characters.", field=name)
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


def tags(value: Any, name: str) -> str:
    """VOD tags: a comma-separated string or a list; at most 16, each 1..32 characters, no commas."""
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
        if len(tag) > TAG_MAX_CHARS or _CONTROL.search(tag):
            raise InvalidParameter(f"Each tag in {name} must be at most {TAG_MAX_CHARS} characters.", field=name)
    return ",".join(items)


def extension_of(file_name: str) -> str | None:
    """The lower-cased extension after the last dot of the base name, or None."""
    base = re.split(r"[\\/]", file_name)[-1]
    if "." not in base:
        return None
    stem, ext = base.rsplit(".", 1)
    if not stem or not ext:
        return None
    return ext.lower()


def file_name(extensions: frozenset[str], *, max_bytes: int = FILE_NAME_MAX_BYTES) -> Callable[[Any, str], str]:
    """A file name whose extension (case-insensitive) is one of ``extensions``."""
    base_check = text(max_bytes)
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

TITLE = Field("Title", text(TITLE_MAX_BYTES), description="at most 128 bytes of UTF-8")
DESCRIPTION = Field("Description", text(DESCRIPTION_MAX_BYTES), description="at most 1024 bytes of UTF-8")
TAGS = Field("Tags", tags, description="at most 16 tags of at most 32 characters, comma-separated")
CATE_ID = Field("CateId", integer(), description="an integer category ID")
COVER_URL = Field("CoverURL", http_url, description="an http(s) URL")
FILE_SIZE = Field("FileSize", integer(0), description="a non-negative integer, in bytes")

# Fields of VOD's creates that steer cost, storage or callbacks: the operator's alone (CONTRACT.md).
VOD_OPERATOR_FIELDS = ("TemplateGroupId", "WorkflowId", "StorageLocation", "AppId", "UserData")


def required(spec: Field) -> Field:
    """The same field, required."""
    return Field(spec.name, spec.check, True, spec.description)
