"""POST /v1/videos/{VideoId}/refresh → VOD RefreshUploadVideo: a new credential for the caller's own video.

Body: empty or {}. Only the user whose create issued the VideoId may refresh it (a refresh can overwrite
the source file); anyone else gets the same 404 as for a video that does not exist, and VOD is not called.
Response: RequestId, VideoId, UploadAddress, UploadAuth, Expiration.
"""

from upload_broker.operations import VodRefresh

operation = VodRefresh(
    function="refresh_upload_video",
    action="RefreshUploadVideo",
    path="/v1/videos/{VideoId}/refresh",
    kind="video",
    id_field="VideoId",
    not_found_code="InvalidVideo.NotFound",
    not_found_message="The video does not exist.",
)
