"""POST /v1/wangsu/upload-tokens → Wangsu Cloud VoD getUploadToken: an upload URL and token for one video.

Request fields (Wangsu's own names): originFileName required (with an extension, at most 40 characters);
fileId (breakpoint resume, at most 32 characters), overwrite (0 | 1, or "0" | "1"; sent as the Integer the API
Center documents), categoryNames ([{parentName, childName}]) optional. domain, workflowId, waterMarkName,
transCodeCombineName, subtitleId, subtitle and cmd are the operator's (400 ForbiddenParameter from a client).
A fileId belongs to the first user who sent it; resuming or overwriting it is theirs alone.
Response: the upstream data object (videoId, uploadUrl, uploadToken, fileKey, ...) plus Expiration: the token's
putPolicy deadline, or, if Wangsu's token cannot be read, a conservative 15 minutes (the token is still returned).
Only getUploadToken's documented error codes are the caller's fault (400 InvalidParameter); others are 502.
"""

from upload_broker.providers.wangsu import WangsuGetUploadToken
from upload_broker.validation import (
    TEXT_LIMITS,
    WANGSU_OPERATOR_FIELDS,
    Field,
    wangsu_category_names,
    wangsu_file_id,
    wangsu_origin_file_name,
    wangsu_overwrite,
)

ACTION = "getUploadToken"

operation = WangsuGetUploadToken(
    function="get_upload_token",
    action=ACTION,
    path="/v1/wangsu/upload-tokens",
    provider="wangsu",
    kind="video",
    id_field="videoId",
    fields=(
        Field("originFileName", wangsu_origin_file_name, required=True,
              description="the file name with its extension, " + TEXT_LIMITS[(ACTION, "originFileName")].describe()),
        Field("fileId", wangsu_file_id,
              description=f"a breakpoint-resume ID, {TEXT_LIMITS[(ACTION, 'fileId')].describe()}"),
        Field("overwrite", wangsu_overwrite, description='0 or 1 (or "0"/"1"), sent to Wangsu as the integer'),
        Field("categoryNames", wangsu_category_names, description="a list of {parentName, childName}"),
    ),
    operator_fields=WANGSU_OPERATOR_FIELDS,
    size_field=None,  # getUploadToken takes no size: the creates quota bounds it, the byte quota cannot
    check=None,
)
