"""Wangsu Cloud VoD: ``getUploadToken``, an upload URL and token for one video file.

The client is :class:`~upload_broker.upstream_wangsu.WangsuClient` (Authentication V3, a pooled session),
with the broker's own Wangsu keys (``WANGSU_ACCESS_KEY`` / ``WANGSU_SECRET_KEY``), so a call carries no
Alibaba Cloud credentials. ``Expiration`` comes from the token's own putPolicy deadline.

A ``fileId`` (breakpoint resume) belongs to the first user who sent it: it is claimed in the ledger once
the request has passed the free refusals (idempotency, quotas) and before Wangsu is called, so a second user
who sends it, or asks to ``overwrite`` it, gets 404 and Wangsu is never called, and a request that is
refused claims nothing. ``overwrite`` needs a ``fileId`` the caller owns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from upload_broker.call import Call, Operation
from upload_broker.errors import MissingParameter, NotFound, UpstreamError
from upload_broker.flows import iso_utc, issue_create
from upload_broker.http import Answer
from upload_broker.providers import Provider, register_provider
from upload_broker.validation import validate

if TYPE_CHECKING:
    from upload_broker.config import Config, Credentials
    from upload_broker.providers import UpstreamClient
    from upload_broker.retry import Budget

# The ledger's namespace for breakpoint-resume IDs: a fileId belongs to the first user who sent it.
WANGSU_FILE_PROVIDER = "wangsu-file"


class WangsuProvider(Provider):
    name = "wangsu"

    def client(self, config: Config) -> UpstreamClient:
        if not (config.wangsu_access_key and config.wangsu_secret_key):
            raise UpstreamError("Wangsu Cloud VoD is not configured on this broker.")
        from upload_broker.upstream_wangsu import WangsuClient

        return _WangsuCalls(WangsuClient(
            config.wangsu_access_key, config.wangsu_secret_key, config.wangsu_endpoint,
            connect_timeout=config.upstream_connect_timeout, read_timeout=config.upstream_read_timeout,
        ))

    def credentials(self, call: Call) -> None:
        return None  # the client signs with the broker's Wangsu keys

    def expiration(self, response: dict[str, Any], now: float) -> str:
        from upload_broker.upstream_wangsu import upload_token_expiration

        return iso_utc(upload_token_expiration(response.get("uploadToken"), now, video_id=response.get("videoId")))

    def not_found(self, kind: str, upstream_request_id: str | None = None) -> NotFound:
        return NotFound("No upload with this fileId exists.", code="NotFound", upstream_request_id=upstream_request_id)


PROVIDER = register_provider(WangsuProvider())


@dataclass(frozen=True)
class _WangsuCalls:
    """The one call protocol over :class:`WangsuClient` (whose single action is getUploadToken)."""

    client: Any

    def call(self, action: str, params: dict[str, Any], *, credentials: Credentials | None, budget: Budget,
             idempotent: bool) -> dict[str, Any]:
        if action != "getUploadToken":
            raise ValueError(f"Wangsu action {action!r} is not one the broker calls")
        return dict(self.client.get_upload_token(params, budget_seconds=max(0.0, budget.remaining())))


def wangsu_policy(config: Config) -> dict[str, str]:
    """The operator's getUploadToken parameters (never the client's)."""
    settings = {
        "domain": config.wangsu_domain,
        "workflowId": config.wangsu_workflow_id,
        "waterMarkName": config.wangsu_watermark_name,
        "transCodeCombineName": config.wangsu_transcode_combine_name,
        "subtitleId": config.wangsu_subtitle_id,
    }
    return {name: value for name, value in settings.items() if value}


@dataclass(frozen=True, kw_only=True)
class WangsuGetUploadToken(Operation):
    """Wangsu ``getUploadToken``; the returned ``videoId`` is recorded like every created resource."""

    def run(self, call: Call) -> Answer:
        params = validate(call.body, self.fields, self.operator_fields)
        if params.get("overwrite") == 1 and params.get("fileId") is None:
            raise MissingParameter("fileId", "overwrite=1 needs the fileId of your earlier upload.")
        params |= wangsu_policy(call.config)
        return issue_create(call, self, params, before_upstream=lambda: self._claim_file_id(call, params))

    def _claim_file_id(self, call: Call, params: dict[str, Any]) -> None:
        """Make the fileId the caller's (first use) or prove it already is; otherwise 404, no upstream call."""
        file_id = params.get("fileId")
        if file_id is None:
            return
        not_found = PROVIDER.not_found("file")
        ledger = call.broker.ledger
        record = ledger.find(WANGSU_FILE_PROVIDER, file_id)
        if record is None:
            if params.get("overwrite") == 1:
                raise not_found  # nothing of the caller's to overwrite
            # Of two users racing for a new fileId, exactly one keeps it (the ledger's first owner wins), and
            # the other is refused below without reaching Wangsu.
            ledger.record_creation(
                provider=WANGSU_FILE_PROVIDER, resource_id=file_id, owner=call.user, kind="file",
                operation=self.action, request_id=call.request_id, upstream_request_id=None, at=call.now,
                listed=False,  # the upload is the video the create issues; the fileId is only whose it is
            )
            record = ledger.find(WANGSU_FILE_PROVIDER, file_id)
        if record is None or record.owner != call.user:
            raise not_found
