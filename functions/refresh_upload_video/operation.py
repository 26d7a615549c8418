"""POST /v1/videos/{VideoId}/refresh → VOD RefreshUploadVideo: a new credential for the caller's own video.

Body: empty or {}. Only the user whose create issued the VideoId may refresh it (a refresh can overwrite
the source file); anyone else gets the same 404 as for a video that does not exist, and VOD is not called.
Response: RequestId, VideoId, UploadAddress, UploadAuth, Expiration.
"""

from upload_broker.providers.vod import VIDEO_SOURCE, VodRefresh

operation = VodRefresh(
    function="refresh_upload_video",
    action="RefreshUploadVideo",
    path="/v1/videos/{VideoId}/refresh",
    provider="vod",
    kind="video",  # an ImageId or an attached-media MediaId here is a 404: only videos are refreshed
    id_field="VideoId",
    fields=(),
    operator_fields=(),
    size_field=None,
    check=None,
    source_check=VIDEO_SOURCE,  # a finished upload is never refreshed: the refresh would overwrite its source
)
