"""GET /v1/uploads: the caller's own uploads, newest first, from the ledger (no upstream call).

A client on a second device (or a reloaded page) finds its unfinished uploads here and resumes them with a
refresh. Query: ``MaxResults`` (1-100, default 10, as ICE's and VOD's list operations page), ``Status``
(``pending`` | ``completed``), ``NextToken`` (from the previous page). Answer: ``Uploads`` (each
``Provider``, ``Kind``, ``Id``, ``CreatedAt``, ``Status``, ``CompletedAt``, ``RefreshCount``) and
``NextToken`` (null on the last page).

``NextToken`` is opaque to clients: the position of the page's last upload and the listing's ``Status``,
with a check digest over the caller's ``sub``. It is honoured only when the ledger confirms that upload is
the caller's and was created at that very millisecond, so a token that was altered, or that another user
received, is refused (400) instead of listing anything: the answer is always the caller's own uploads.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from upload_broker.call import RESOURCE_ID, Call
from upload_broker.errors import InvalidParameter
from upload_broker.flows import iso_utc
from upload_broker.http import Answer, Endpoint, Route
from upload_broker.ledger import UPLOAD_STATUSES, Position, Resource, created_ms
from upload_broker.ledger.base import MAX_PAGE

DEFAULT_MAX_RESULTS = 10
MAX_RESULTS = MAX_PAGE
QUERY_FIELDS = ("MaxResults", "NextToken", "Status")
_TOKEN_VERSION = "1"  # noqa: S105 - the NextToken format's version, not a secret
_MAX_TOKEN_CHARS = 512


@dataclass(frozen=True, kw_only=True)
class ListUploads:
    """The caller's uploads from the ledger; served behind the bearer token like every ``/v1`` route."""

    function: str
    path: str
    # The (provider, kind) of every upload a create issues: what the listing shows. Anything else the ledger
    # owns (a Wangsu fileId claim recorded by an older broker, before claims were kept out of the index) is
    # not an upload and is left out.
    uploads: frozenset[tuple[str, str]]
    action: str = "ListUploads"  # its name in the audit trail (it calls no upstream)
    id_field: str | None = None

    def __post_init__(self) -> None:
        if not self.uploads:
            raise TypeError(f"{self.function}: declare the (provider, kind) of the uploads it lists")

    @property
    def route(self) -> Route:
        return Route(self.path, ("GET",))

    def bind(self, broker: Any) -> Endpoint:
        from upload_broker.runtime import BoundOperation

        return BoundOperation(self, broker)

    def run(self, call: Call) -> Answer:
        query = call.request.query
        unknown = sorted(name for name in query if name not in QUERY_FIELDS)
        if unknown:
            raise InvalidParameter(
                f"{unknown[0]} is not a parameter of this listing; it takes {', '.join(QUERY_FIELDS)}.",
                field=unknown[0],
            )
        limit = _max_results(query.get("MaxResults"))
        status = query.get("Status") or None
        if status is not None and status not in UPLOAD_STATUSES:
            raise InvalidParameter("Status must be pending or completed.", field="Status")
        after = None
        token = query.get("NextToken")
        if token:
            after = read_next_token(call, token, status)
        page = call.broker.ledger.list_uploads(call.user, limit=limit, status=status, after=after)
        return Answer({
            "RequestId": call.request_id,
            "Uploads": [upload_view(upload) for upload in page.uploads
                        if (upload.provider, upload.kind) in self.uploads],
            "NextToken": next_token(call.user, page.next, status) if page.next is not None else None,
        })


def upload_view(upload: Resource) -> dict[str, Any]:
    return {
        "Provider": upload.provider,
        "Kind": upload.kind,
        "Id": upload.resource_id,
        "CreatedAt": _iso(upload.created_at),
        "Status": upload.status,
        "CompletedAt": _iso(upload.completed_at) if upload.completed_at is not None else None,
        "RefreshCount": upload.refresh_count,
    }


def _iso(at: float) -> str:
    return iso_utc(datetime.fromtimestamp(at, timezone.utc))


def _max_results(text: str | None) -> int:
    if text is None or text == "":
        return DEFAULT_MAX_RESULTS
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= MAX_RESULTS:
        raise InvalidParameter(f"MaxResults must be a whole number from 1 to {MAX_RESULTS}.", field="MaxResults")
    return int(text)


# --- NextToken ------------------------------------------------------------------------------------


def next_token(user: str, position: Position, status: str | None) -> str:
    """``<payload>.<digest>``: base64url JSON [version, status, ms, provider, id], and a digest binding it
    to ``user``."""
    payload = json.dumps([_TOKEN_VERSION, status or "", position.created_ms, position.provider,
                          position.resource_id], separators=(",", ":"))
    encoded = _b64(payload.encode("utf-8"))
    return f"{encoded}.{_digest(user, encoded)}"


def read_next_token(call: Call, token: str, status: str | None) -> Position:
    """The position a token names, once the ledger confirms it is the caller's; else 400."""
    refused = InvalidParameter(
        "NextToken is not one this listing gave you: pass back the NextToken of the previous page, with the "
        "same Status, or start again without it.", field="NextToken")
    if len(token) > _MAX_TOKEN_CHARS or not token.isascii() or token.count(".") != 1:
        raise refused  # (compare_digest refuses to compare text that is not ASCII)
    encoded, digest = token.split(".")
    if not hmac.compare_digest(digest, _digest(call.user, encoded)):
        raise refused
    try:
        version, kept_status, ms, provider, resource_id = json.loads(_unb64(encoded))
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise refused from None
    if (version != _TOKEN_VERSION or kept_status != (status or "") or not isinstance(ms, int)
            or not isinstance(provider, str) or not isinstance(resource_id, str)
            or not RESOURCE_ID.fullmatch(resource_id)):
        raise refused
    record = call.broker.ledger.find(provider, resource_id)
    if record is None or record.owner != call.user or created_ms(record.created_at) != ms:
        raise refused
    return Position(ms, provider, resource_id)


def _digest(user: str, encoded: str) -> str:
    return _b64(hashlib.sha256(f"{user}\n{encoded}".encode()).digest()[:12])


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not text.isascii():
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
