"""POST /v1/wangsu/upload-tokens → Wangsu Cloud VoD getUploadToken: an upload URL and token for one video.

Request fields (Wangsu's own names): originFileName required (with an extension, at most 40 characters);
fileId (breakpoint resume, at most 32 characters), overwrite ("0" | "1"), categoryNames ([{parentName,
childName}]) optional. domain, workflowId, waterMarkName, transCodeCombineName and subtitleId are the
operator's. A fileId belongs to the first user who sent it; resuming or overwriting it is theirs alone.
Response: the upstream data object (videoId, uploadUrl, uploadToken, fileKey, ...) plus Expiration.
"""

from upload_broker.media_operations import WangsuGetUploadToken

operation = WangsuGetUploadToken(
    function="get_upload_token",
    action="getUploadToken",
    path="/v1/wangsu/upload-tokens",
    kind="video",
    id_field="videoId",
)
