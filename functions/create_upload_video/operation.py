"""POST /v1/videos → VOD CreateUploadVideo: start an audio/video upload and get its first credential.

Request fields (VOD's own names): Title (at most 128 bytes of UTF-8) and FileName (with a video or audio extension
VOD accepts) required; FileSize, Description (at most 1024 bytes), CoverURL, CateId, Tags (at most 16, each
at most 32 characters) optional. Limits: ``upload_broker.validation.TEXT_LIMITS``. TemplateGroupId, WorkflowId,
StorageLocation, AppId and UserData are the operator's.
Response: RequestId, VideoId, UploadAddress, UploadAuth, Expiration.
"""

from upload_broker.providers.vod import VodCreate
from upload_broker.validation import (
    CATE_ID,
    COVER_URL,
    FILE_SIZE,
    TEXT_LIMITS,
    VOD_MEDIA_EXTENSIONS,
    VOD_OPERATOR_FIELDS,
    Field,
    file_name,
    limited_tags,
    limited_text,
)

ACTION = "CreateUploadVideo"

operation = VodCreate(
    function="create_upload_video",
    action=ACTION,
    path="/v1/videos",
    provider="vod",
    kind="video",
    id_field="VideoId",
    transcoding=True,
    fields=(
        limited_text(ACTION, "Title", required=True),
        Field("FileName", file_name(VOD_MEDIA_EXTENSIONS, TEXT_LIMITS[(ACTION, "FileName")]), required=True,
              description="a file name with a video or audio extension VOD accepts"),
        FILE_SIZE,
        limited_text(ACTION, "Description"),
        COVER_URL,
        CATE_ID,
        limited_tags(ACTION),
    ),
    operator_fields=VOD_OPERATOR_FIELDS,
    size_field="FileSize",
    check=None,
)
