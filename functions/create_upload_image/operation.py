"""POST /v1/images → VOD CreateUploadImage: an upload URL and credential for one image.

Request fields (VOD's own names): ImageType required (default | cover); ImageExt (png, jpg, jpeg, gif;
png by default), OriginalFileName (with an extension), Title, Description, Tags, CateId optional. ImageExt
wins over OriginalFileName's extension; without ImageExt, the file name's extension is sent as ImageExt.
StorageLocation, AppId and UserData are the operator's.
Response: RequestId, ImageId, ImageURL, FileURL, UploadAddress, UploadAuth, Expiration.

Image credentials cannot be refreshed: "You cannot refresh the upload URL or credential when you upload
images. If the image upload credential expires, you can call this operation to obtain a new upload URL and
credential" (CreateUploadImage). A client whose credential expired calls this route again.
"""

from upload_broker.operations import VodCreate
from upload_broker.validation import (
    CATE_ID,
    DESCRIPTION,
    TAGS,
    TITLE,
    VOD_IMAGE_EXTENSIONS,
    VOD_IMAGE_TYPES,
    Field,
    check_image_extension,
    choice,
    file_name_with_extension,
)

operation = VodCreate(
    function="create_upload_image",
    action="CreateUploadImage",
    path="/v1/images",
    kind="image",
    id_field="ImageId",
    transcoding=False,
    fields=(
        Field("ImageType", choice(*VOD_IMAGE_TYPES), required=True, description="default or cover"),
        Field("ImageExt", choice(*VOD_IMAGE_EXTENSIONS, case_insensitive=True), description="png, jpg, jpeg or gif"),
        Field("OriginalFileName", file_name_with_extension(), description="the source file's name, with extension"),
        TITLE,
        DESCRIPTION,
        TAGS,
        CATE_ID,
    ),
    check=check_image_extension,
)
