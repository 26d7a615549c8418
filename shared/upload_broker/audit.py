"""The audit trail: every issuance and every refusal, in the ledger and as one JSON log line each.

A record holds the time, the user (None when refused before the token was verified), the upstream
operation, the resource id, the broker's and the upstream's request ids, the source IP, the user agent,
the outcome (``issued``, ``replayed``, ``admin-override``, ``source-replaced``, ``completed``,
``refused``), the error code and the status.
It never holds a secret: no UploadAuth, no token, no key, no request body.

An issuance is recorded before the credentials leave; if the store cannot take the record, no
credential is returned (fail closed). A refusal is recorded on a best-effort basis: its log line is
always written, and a store failure never hides the refusal's own answer.

``python -m upload_broker.audit_cli --user alice`` prints one user's history.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from upload_broker.ledger.base import AuditRecord, LedgerUnavailable

if TYPE_CHECKING:
    from upload_broker.call import Call, Operation
    from upload_broker.errors import BrokerError
    from upload_broker.http import Request
    from upload_broker.runtime import Broker

log = logging.getLogger("upload_broker.audit")

ISSUED = "issued"
REPLAYED = "replayed"
ADMIN_OVERRIDE = "admin-override"
# An owner refreshed a finished upload (BROKER_ALLOW_SOURCE_REPLACE): its source may be replaced.
SOURCE_REPLACED = "source-replaced"
# A signed VOD callback said the upstream holds an upload's source; refreshes are refused from then on.
COMPLETED = "completed"
REFUSED = "refused"

_MAX_TEXT = 256


@dataclass(frozen=True)
class AuditContext:
    """What is known about a refused request once its route matched (and maybe its token was verified)."""

    user: str | None
    operation: str | None
    resource_id: str | None = None


def issued(
    call: Call,
    operation: Operation,
    *,
    resource_id: str | None,
    upstream_request_id: str | None,
    outcome: str = ISSUED,
) -> None:
    """Record credentials about to be returned; raises :class:`LedgerUnavailable` if the store fails."""
    record = AuditRecord(
        at=call.now,
        user=call.user,
        operation=operation.action,
        resource_id=resource_id,
        request_id=call.request_id,
        upstream_request_id=upstream_request_id,
        source_ip=_clip(call.request.source_ip),
        user_agent=_clip(call.request.headers.get("User-Agent")),
        outcome=outcome,
        code=None,
        status=200,
    )
    call.broker.ledger.append_audit(record)
    _log(record)


def completed(broker: Broker, request: Request, request_id: str, *, owner: str, event: str, resource_id: str,
              at: float) -> None:
    """Record that a signed callback locked ``owner``'s upload; raises :class:`LedgerUnavailable` if the store
    fails (the callback is then answered 503, and VOD sends it again)."""
    record = AuditRecord(
        at=at,
        user=owner,
        operation=event,
        resource_id=resource_id,
        request_id=request_id,
        upstream_request_id=None,
        source_ip=_clip(request.source_ip),
        user_agent=_clip(request.headers.get("User-Agent")),
        outcome=COMPLETED,
        code=None,
        status=200,
    )
    broker.ledger.append_audit(record)
    _log(record)


def refused(broker: Broker, request: Request, request_id: str, error: BrokerError,
            context: AuditContext | None) -> None:
    """Record a refusal; never raises."""
    record = AuditRecord(
        at=broker.clock(),
        user=context.user if context else None,
        operation=context.operation if context else None,
        resource_id=_clip(context.resource_id) if context else None,
        request_id=request_id,
        upstream_request_id=error.upstream_request_id,
        source_ip=_clip(request.source_ip),
        user_agent=_clip(request.headers.get("User-Agent")),
        outcome=REFUSED,
        code=error.code,
        status=error.status,
    )
    _log(record)
    if isinstance(error, LedgerUnavailable):
        return  # the store just failed this request; asking it again would only add the timeout
    try:
        broker.ledger.append_audit(record)
    except LedgerUnavailable:
        log.warning("audit record not stored", extra={"request_id": request_id})
    except Exception:  # noqa: BLE001 - auditing must never turn a refusal into a 500
        log.exception("audit record not stored", extra={"request_id": request_id})


def _log(record: AuditRecord) -> None:
    fields = record.to_dict()
    fields["at"] = _iso(record.at)
    log.info("audit", extra=fields)


def _iso(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, timezone.utc)
    if moment.year < 1000:  # strftime's %Y does not pad to four digits; isoformat does
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    # The same text as strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z" (milliseconds truncated), faster.
    return moment.isoformat(timespec="milliseconds")[:-6] + "Z"


def _clip(value: str | None) -> str | None:
    return value[:_MAX_TEXT] if value else None
