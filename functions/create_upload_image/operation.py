"""POST /v1/images → VOD CreateUploadImage: an upload URL and credential for one image.

Request fields (VOD's own names): ImageType required (default | cover); ImageExt (png, jpg, jpeg, gif, heic,
webp; png by default), OriginalFileName (with an extension), Title (at most 128 characters), Description (at
most 1024 characters), Tags (at most 16, each at most 32 characters), CateId optional. ImageExt wins over
OriginalFileName's extension; without ImageExt, the file name's extension is sent as ImageExt. Limits:
``upload_broker.validation.TEXT_LIMITS``; the ImageExt list is ``VOD_IMAGE_EXTENSIONS``.
StorageLocation, AppId and UserData are the operator's.
Response: RequestId, ImageId, ImageURL, FileURL, UploadAddress, UploadAuth, Expiration.

Image credentials cannot be refreshed: "You cannot refresh the upload URL or credential when you upload
images. If the image upload credential expires, you can call this operation to obtain a new upload URL and
credential" (CreateUploadImage). A client whose credential expired calls this route again.
"""

from upload_broker.providers.vod import VodCreate
from upload_broker.validation import (
    CATE_ID,
    IMAGE_EXT,
    TEXT_LIMITS,
    VOD_IMAGE_TYPES,
    VOD_OPERATOR_FIELDS,
    Field,
    check_image_extension,
    choice,
    file_name_with_extension,
    limited_tags,
    limited_text,
)

ACTION = "CreateUploadImage"

operation = VodCreate(
    function="create_upload_image",
    action=ACTION,
    path="/v1/images",
    provider="vod",
    kind="image",
    id_field="ImageId",
    transcoding=False,
    fields=(
        Field("ImageType", choice(*VOD_IMAGE_TYPES), required=True, description="default or cover"),
        IMAGE_EXT,
        Field("OriginalFileName", file_name_with_extension(TEXT_LIMITS[(ACTION, "OriginalFileName")]),
              description="the source file's name, with extension"),
        limited_text(ACTION, "Title"),
        limited_text(ACTION, "Description"),
        limited_tags(ACTION),
        CATE_ID,
    ),
    operator_fields=VOD_OPERATOR_FIELDS,
    size_field=None,  # CreateUploadImage takes no size
    check=check_image_extension,
)
