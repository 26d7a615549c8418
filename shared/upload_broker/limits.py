"""Per-user quotas and rate limits, counted in the ledger so that every instance sees the same numbers.

- ``BROKER_RATE_PER_MINUTE``: requests per user per rolling minute, every operation; over it, 429
  ``Throttling``. Checked right after the token is verified, before anything else is done.
- ``BROKER_QUOTA_CREATES_PER_DAY``: creates per user per rolling 24 h; over it, 429 ``QuotaExceeded``.
- ``BROKER_QUOTA_BYTES_PER_DAY``: the bytes that a user's creates declare per rolling 24 h; over it,
  429 ``QuotaExceeded``. When it is set, a create whose upstream request has a size field must send it
  (``FileSize``; ICE's ``FileInfo.Size``), else 400 ``MissingParameter``. Creates whose upstream API has no
  size field (VOD ``CreateUploadImage``, Wangsu ``getUploadToken``) count as 0 bytes: the byte quota cannot
  bound them, the creates quota does.

Unset means unlimited. ``Retry-After`` is exact: the seconds until the oldest counted events that stand
in the way have left the window, rounded up. A create's quota is reserved before the upstream call, in
one atomic step for both quotas, and given back if the call fails, so N parallel creates against a quota
of Q give exactly min(N, Q) upstream calls.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from upload_broker.errors import InvalidParameter, MissingParameter, QuotaExceeded, Throttling
from upload_broker.ledger.base import Ledger, LedgerUnavailable, Limit, LimitExceeded

if TYPE_CHECKING:
    from upload_broker.call import Call, Operation
    from upload_broker.config import Config

log = logging.getLogger("upload_broker.limits")

MINUTE = 60.0
DAY = 24 * 3600.0


def check_rate(ledger: Ledger, config: Config, user: str, *, at: float) -> None:
    """Count one request of ``user``; raise 429 ``Throttling`` when over ``BROKER_RATE_PER_MINUTE``."""
    if config.rate_per_minute is None:
        return
    limit = Limit("requests", config.rate_per_minute, MINUTE)
    try:
        ledger.consume(user, [limit], at=at, event_id=uuid.uuid4().hex)
    except LimitExceeded as exceeded:
        raise Throttling(
            f"You sent {limit.limit} requests in the last minute, the most allowed; "
            f"retry in {exceeded.retry_after} seconds.",
            retry_after=exceeded.retry_after,
        ) from None


def declared_bytes(operation: Operation, body: Mapping[str, Any], *, required: bool) -> int:
    """The size the create's body declares (0 when the upstream takes none); 400 if required and absent."""
    dotted = operation.size_field  # declared by every operation: None when its upstream takes no size
    if dotted is None:
        return 0
    value: Any = body
    for part in dotted.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if value is None or value == "":
        if required:
            raise MissingParameter(dotted, f"{dotted} is required: declare the file's size in bytes.")
        return 0
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidParameter(f"{dotted} must be the file's size in bytes, a whole number.", field=dotted)
    return value


@dataclass
class QuotaReservation:
    """Quota taken for one create; :meth:`release` gives it back when nothing was issued."""

    ledger: Ledger
    user: str
    limits: tuple[Limit, ...]
    event_id: str

    def release(self) -> None:
        try:
            self.ledger.release(self.user, self.limits, event_id=self.event_id)
        except LedgerUnavailable:
            # The store is down: the reservation stays counted until it leaves the window. Erring
            # towards the quota is the safe side.
            log.warning("quota reservation not released", extra={"event_id": self.event_id})


def reserve_create_quota(call: Call, size: int) -> QuotaReservation | None:
    """Take one create (and ``size`` bytes) from the caller's daily quotas, or raise 429 ``QuotaExceeded``."""
    config = call.config
    limits: list[Limit] = []
    if config.quota_creates_per_day is not None:
        limits.append(Limit("creates", config.quota_creates_per_day, DAY))
    if config.quota_bytes_per_day is not None:
        limits.append(Limit("bytes", config.quota_bytes_per_day, DAY, amount=size))
    if not limits:
        return None
    event_id = f"{call.request_id}:{uuid.uuid4().hex}"
    ledger = call.broker.ledger
    try:
        ledger.consume(call.user, limits, at=call.now, event_id=event_id)
    except LimitExceeded as exceeded:
        raise QuotaExceeded(_quota_message(exceeded), retry_after=exceeded.retry_after) from None
    return QuotaReservation(ledger, call.user, tuple(limits), event_id)


def _quota_message(exceeded: LimitExceeded) -> str:
    limit, wait = exceeded.limit, exceeded.retry_after
    if limit.name == "creates":
        return f"You created {limit.limit} uploads in the last 24 hours, the most allowed; retry in {wait} seconds."
    if limit.amount > limit.limit:
        return (f"The declared size of {limit.amount} bytes is more than the whole daily quota of {limit.limit} "
                "bytes; this upload cannot be created.")
    return (f"Your uploads in the last 24 hours declare more than the daily quota of {limit.limit} bytes allows "
            f"with this one; retry in {wait} seconds.")
