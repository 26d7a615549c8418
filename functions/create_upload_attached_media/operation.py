"""POST /v1/attached-media → VOD CreateUploadAttachedMedia: upload a watermark, subtitle or material file.

Request fields (VOD's own names): BusinessType required (watermark | subtitle | material); MediaExt (fitting
the type: watermark png gif apng mov; subtitle srt ass stl ttml vtt; material jpg gif png mp4 mat zip apk),
FileName, FileSize, Title, Description, Tags, CateIds (at most 5) optional. MediaExt wins over FileName's
extension; without MediaExt, FileName's extension must fit the type and is sent as MediaExt.
StorageLocation, AppId and UserData are the operator's.
Response: RequestId, MediaId, MediaURL, FileURL, UploadAddress, UploadAuth, Expiration.

Like images, attached media cannot be refreshed: when the credential expires (3,000 s), call again.
"""

from upload_broker.operations import VodCreate
from upload_broker.validation import (
    DESCRIPTION,
    FILE_SIZE,
    TAGS,
    TITLE,
    VOD_ATTACHED_MEDIA_EXTENSIONS,
    Field,
    cate_ids,
    check_attached_media_extension,
    choice,
    media_ext,
    text,
)

operation = VodCreate(
    function="create_upload_attached_media",
    action="CreateUploadAttachedMedia",
    path="/v1/attached-media",
    kind="attached-media",
    id_field="MediaId",
    transcoding=False,
    fields=(
        Field("BusinessType", choice(*VOD_ATTACHED_MEDIA_EXTENSIONS), required=True,
              description="watermark, subtitle or material"),
        Field("MediaExt", media_ext, description="an extension that fits BusinessType"),
        Field("FileName", text(1024), description="the source file's name"),
        FILE_SIZE,
        TITLE,
        DESCRIPTION,
        TAGS,
        Field("CateIds", cate_ids, description="at most 5 category IDs, comma-separated or a list"),
    ),
    check=check_attached_media_extension,
)
