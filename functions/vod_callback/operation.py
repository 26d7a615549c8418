"""POST /v1/callbacks/vod ← VOD's HTTP event notifications, signed with the console's authentication key.

No bearer token: X-VOD-TIMESTAMP and X-VOD-SIGNATURE are checked against VOD_CALLBACK_URL and
VOD_CALLBACK_AUTH_KEY (403 when they do not verify, or when no key is set). A verified upload-complete event
locks the upload it names (its refreshes are refused from then on); every verified event gets a 200, since
VOD retries anything else. See upload_broker.callbacks.
"""

from upload_broker.callbacks import LockingEvent, VodCallback

operation = VodCallback(
    function="vod_callback",
    path="/v1/callbacks/vod",
    provider="vod",
    events={
        # https://www.alibabacloud.com/help/en/vod/user-guide/fileuploadcomplete
        "FileUploadComplete": LockingEvent(kind="video", id_field="VideoId"),
        # https://alibabacloud.com/help/en/vod/user-guide/imageuploadcomplete
        "ImageUploadComplete": LockingEvent(kind="image", id_field="ImageId"),
        # https://alibabacloud.com/help/en/vod/user-guide/attachedmediauploadcomplete: the id is AttachedMediaId
        "AttachedMediaUploadComplete": LockingEvent(kind="attached-media", id_field="AttachedMediaId"),
    },
)
