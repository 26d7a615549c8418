"""POST /v1/attached-media → VOD CreateUploadAttachedMedia: upload a watermark, subtitle or material file.

Request fields (VOD's own names): BusinessType required (watermark | subtitle | material); MediaExt (fitting
the type: watermark png gif apng mov; subtitle srt ass stl ttml vtt; material jpg gif png mp4 mat zip apk),
FileName, FileSize, Title (at most 128 bytes of UTF-8), Description (at most 1024 bytes of UTF-8), Tags (at
most 16, each at most 32 characters), CateIds (at most 5) optional. Unlike videos and images, this operation's
reference counts Title and Description in bytes; limits: ``upload_broker.validation.TEXT_LIMITS``. MediaExt
wins over FileName's extension; without MediaExt, FileName's extension must fit the type and is sent as
MediaExt. StorageLocation, AppId and UserData are the operator's.
Response: RequestId, MediaId, MediaURL, FileURL, UploadAddress, UploadAuth, Expiration.

Like images, attached media cannot be refreshed: when the credential expires (3,000 s), call again.
"""

from upload_broker.providers.vod import VodCreate
from upload_broker.validation import (
    FILE_SIZE,
    TEXT_LIMITS,
    VOD_ATTACHED_MEDIA_EXTENSIONS,
    VOD_OPERATOR_FIELDS,
    Field,
    cate_ids,
    check_attached_media_extension,
    choice,
    limited_tags,
    limited_text,
    media_ext,
    text,
)

ACTION = "CreateUploadAttachedMedia"

operation = VodCreate(
    function="create_upload_attached_media",
    action=ACTION,
    path="/v1/attached-media",
    provider="vod",
    kind="attached-media",
    id_field="MediaId",
    transcoding=False,
    fields=(
        Field("BusinessType", choice(*VOD_ATTACHED_MEDIA_EXTENSIONS), required=True,
              description="watermark, subtitle or material"),
        Field("MediaExt", media_ext, description="an extension that fits BusinessType"),
        Field("FileName", text(TEXT_LIMITS[(ACTION, "FileName")]), description="the source file's name"),
        FILE_SIZE,
        limited_text(ACTION, "Title"),
        limited_text(ACTION, "Description"),
        limited_tags(ACTION),
        Field("CateIds", cate_ids, description="at most 5 category IDs, comma-separated or a list"),
    ),
    operator_fields=VOD_OPERATOR_FIELDS,
    size_field="FileSize",
    check=check_attached_media_extension,
)
