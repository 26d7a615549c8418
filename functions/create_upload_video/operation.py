"""POST /v1/videos → VOD CreateUploadVideo: start an audio/video upload and get its first credential.

Request fields (VOD's own names): Title and FileName required; FileSize, Description, CoverURL, CateId,
Tags optional. TemplateGroupId, WorkflowId, StorageLocation, AppId and UserData are the operator's.
Response: RequestId, VideoId, UploadAddress, UploadAuth, Expiration.
"""

from upload_broker.operations import VodCreate
from upload_broker.validation import (
    CATE_ID,
    COVER_URL,
    DESCRIPTION,
    FILE_SIZE,
    TAGS,
    TITLE,
    VOD_MEDIA_EXTENSIONS,
    Field,
    file_name,
    required,
)

operation = VodCreate(
    function="create_upload_video",
    action="CreateUploadVideo",
    path="/v1/videos",
    kind="video",
    id_field="VideoId",
    fields=(
        required(TITLE),
        Field("FileName", file_name(VOD_MEDIA_EXTENSIONS), required=True,
              description="a file name with a video or audio extension VOD accepts"),
        FILE_SIZE,
        DESCRIPTION,
        COVER_URL,
        CATE_ID,
        TAGS,
    ),
)
