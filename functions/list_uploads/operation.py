"""GET /v1/uploads → the caller's own uploads, newest first, from the ledger (no upstream call).

Query: MaxResults (1-100, default 10), Status (pending | completed), NextToken (the previous page's).
Response: RequestId, Uploads (each Provider, Kind, Id, CreatedAt, Status, CompletedAt, RefreshCount),
NextToken (null on the last page). A second device finds its unfinished uploads here and resumes them.
"""

from upload_broker.uploads import ListUploads

operation = ListUploads(
    function="list_uploads",
    path="/v1/uploads",
    # What the creates issue (tests/unit/test_openapi.py checks this against their declarations).
    uploads=frozenset({("vod", "video"), ("vod", "image"), ("vod", "attached-media"), ("ice", "media"),
                       ("wangsu", "video")}),
)
