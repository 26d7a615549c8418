"""POST /v1/media → ICE CreateUploadMedia: start an upload of a media asset (video, image, audio, text, other).

Request fields (ICE's own names), as JSON objects the broker serialises to the JSON strings ICE takes:
FileInfo required {Type, Name (without extension), Ext (fitting Type), Size}; MediaMetaData optional {Title,
Description, CateId, Tags, CoverURL, BusinessType (fitting Type), DynamicMetaData}. AppId, EntityId,
PostProcessConfig, UploadTargetConfig and UserData are the operator's.
Response: RequestId, MediaId, MediaURL, FileURL, UploadAddress, UploadAuth, Expiration.
"""

from upload_broker.media_operations import IceCreate

operation = IceCreate(
    function="create_upload_media",
    action="CreateUploadMedia",
    path="/v1/media",
    kind="media",
    id_field="MediaId",
)
