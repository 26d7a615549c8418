"""POST /v1/media → ICE CreateUploadMedia: start an upload of a media asset (video, image, audio, text, other).

Request fields (ICE's own names), as JSON objects the broker serialises to the JSON strings ICE takes:
FileInfo required {Type, Name (without extension), Ext (fitting Type), Size}; MediaMetaData optional {Title,
Description, CateId, Tags, CoverURL, BusinessType (fitting Type), DynamicMetaData}. AppId, EntityId,
PostProcessConfig, UploadTargetConfig and UserData are the operator's.
Response: RequestId, MediaId, MediaURL, FileURL, UploadAddress, UploadAuth, Expiration.
"""

from upload_broker.providers.ice import IceCreate
from upload_broker.validation import ICE_OPERATOR_FIELDS, Field, ice_file_info, ice_media_meta_data

operation = IceCreate(
    function="create_upload_media",
    action="CreateUploadMedia",
    path="/v1/media",
    provider="ice",
    kind="media",
    id_field="MediaId",
    fields=(
        Field("FileInfo", ice_file_info, required=True, description="{Type, Name, Ext, Size}"),
        Field("MediaMetaData", ice_media_meta_data,
              description="{Title, Description, CateId, Tags, CoverURL, BusinessType, DynamicMetaData}"),
    ),
    operator_fields=ICE_OPERATOR_FIELDS,
    # FileInfo.Size: counted against BROKER_QUOTA_BYTES_PER_DAY, and required while that quota is set.
    size_field="FileInfo.Size",
    check=None,  # FileInfo/MediaMetaData cross-checks run in IceCreate (they need both objects)
)
