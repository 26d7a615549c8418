"""POST /v1/media/{MediaId}/refresh → ICE RefreshUploadMedia: a new credential for the caller's own media asset.

Body: empty or {}. Only the user whose create issued the MediaId may refresh it (a refresh can overwrite the
file); anyone else gets the same 404 ResourceNotFound as for an asset that does not exist, and ICE is not called.
Response: RequestId, MediaId, UploadAddress, UploadAuth, Expiration.
"""

from upload_broker.providers.ice import MEDIA_SOURCE, IceRefresh

operation = IceRefresh(
    function="refresh_upload_media",
    action="RefreshUploadMedia",
    path="/v1/media/{MediaId}/refresh",
    provider="ice",
    kind="media",
    id_field="MediaId",
    fields=(),
    operator_fields=(),
    size_field=None,
    check=None,
    source_check=MEDIA_SOURCE,  # a finished upload is never refreshed: the refresh would overwrite its source
)
