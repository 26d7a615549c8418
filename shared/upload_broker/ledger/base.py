"""The ledger interface and its records.

The ledger is the broker's only shared state. It holds four things, each behind a few methods:

- ownership: who created which upload, how often it was refreshed, and whether the upstream has its source
  (``record_creation``, ``find``, ``record_refresh``, ``release_refresh``, ``mark_completed``), and each
  user's uploads newest first (``list_uploads``; ``reindex_uploads`` backfills its index after an upgrade);
- sliding-window counters for quotas and rate limits (``consume``, ``release``);
- idempotency entries for creates (``claim_idempotency``, ``complete_idempotency``,
  ``release_idempotency``);
- the audit trail (``append_audit``, ``audit_history``).

Every check-and-update is atomic in the store (SQLite: one ``BEGIN IMMEDIATE`` transaction; Redis: one
Lua script), so many threads and many instances can share one ledger. Every method raises
:class:`LedgerUnavailable` when the store cannot be reached; callers fail closed on it.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from upload_broker.errors import UpstreamUnavailable


class LedgerUnavailable(UpstreamUnavailable):
    """Raised when the ledger store cannot be read or written; no credential may be issued then."""

    default_message = "The broker's ledger is unavailable; no credential was issued. Retry shortly."


PENDING = "pending"
COMPLETED = "completed"
UPLOAD_STATUSES = (PENDING, COMPLETED)


@dataclass(frozen=True)
class Resource:
    """One created upload: who owns it, what it is, how often it was refreshed, and when (if ever) the
    upstream was known to hold its source file."""

    provider: str
    resource_id: str
    owner: str
    kind: str
    created_at: float
    refresh_count: int = 0
    completed_at: float | None = None

    @property
    def status(self) -> str:
        """``completed`` once the upstream has the source (a refresh would overwrite it), else ``pending``."""
        return COMPLETED if self.completed_at is not None else PENDING

    @property
    def position(self) -> Position:
        return Position(created_ms(self.created_at), self.provider, self.resource_id)


def stored_resource(provider: str, resource_id: str, fields: Mapping[str, Any]) -> Resource:
    """The Resource a stored record's fields hold (a Redis hash's text, a Tablestore row's typed values); a
    field written empty or never written is its default."""
    completed_at = fields.get("completed_at")
    return Resource(
        provider=provider,
        resource_id=resource_id,
        owner=fields["owner"],
        kind=fields["kind"],
        created_at=float(fields["created_at"]),
        refresh_count=int(fields.get("refresh_count") or 0),
        completed_at=None if completed_at in (None, "") else float(completed_at),
    )


# The most uploads one page of ``Ledger.list_uploads`` holds (and ``GET /v1/uploads``'s MaxResults allows).
MAX_PAGE = 100


def check_page(limit: int, status: str | None) -> None:
    """Refuse a page size or a status outside the contract: a caller's bug, better loud than a wrong page."""
    if not 1 <= limit <= MAX_PAGE:
        raise ValueError(f"limit must be 1-{MAX_PAGE}, not {limit}")
    if status is not None and status not in UPLOAD_STATUSES:
        raise ValueError(f"status must be one of {UPLOAD_STATUSES}, not {status!r}")


def created_ms(at: float) -> int:
    """A creation time as whole milliseconds: the sort key of a user's uploads in every backend."""
    return max(0, math.floor(at * 1000))


@dataclass(frozen=True)
class Position:
    """Where a page of a user's uploads ended: the last upload it held. The next page starts after it."""

    created_ms: int
    provider: str
    resource_id: str


@dataclass(frozen=True)
class UploadPage:
    """One page of a user's uploads, newest first; ``next`` is where the next page starts (None: no more)."""

    uploads: list[Resource]
    next: Position | None


@dataclass(frozen=True)
class Limit:
    """A sliding window: at most ``limit`` units of ``name`` per ``window`` seconds; this event uses ``amount``."""

    name: str
    limit: int
    window: float
    amount: int = 1


class LimitExceeded(Exception):
    """Raised by :meth:`Ledger.consume` when an event does not fit in one of its windows."""

    def __init__(self, limit: Limit, retry_after: int) -> None:
        super().__init__(f"{limit.name} limit of {limit.limit} per {limit.window:g} s reached")
        self.limit = limit
        # Whole seconds until enough counted events have left the window for this one to fit.
        self.retry_after = retry_after


@dataclass(frozen=True)
class IdempotencyClaim:
    """What :meth:`Ledger.claim_idempotency` found.

    ``state``: ``"started"`` (the caller now holds the key and must complete or release it),
    ``"pending"`` (another request holds it), ``"done"`` (``response`` is the kept answer) or
    ``"conflict"`` (the key was used with a different body).
    """

    state: str
    response: dict[str, Any] | None = None


@dataclass(frozen=True)
class AuditRecord:
    """One issuance or refusal. Never holds a secret: no UploadAuth, no token, no key."""

    at: float
    user: str | None
    operation: str | None
    resource_id: str | None
    request_id: str
    upstream_request_id: str | None
    source_ip: str | None
    user_agent: str | None
    outcome: str  # "issued" | "replayed" | "admin-override" | "source-replaced" | "completed" | "refused"
    code: str | None = None
    status: int = 200

    def to_dict(self) -> dict[str, Any]:
        # What ``asdict`` gives for these scalar fields, without its recursive deep copy (every request
        # builds this twice: for the store and for the log line).
        return {name: getattr(self, name) for name in AUDIT_COLUMNS}

    def row(self) -> tuple[Any, ...]:
        """The fields in :data:`AUDIT_COLUMNS` order."""
        return tuple(getattr(self, name) for name in AUDIT_COLUMNS)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuditRecord:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})


AUDIT_COLUMNS = tuple(f.name for f in fields(AuditRecord))


class Ledger(ABC):
    """Where the broker's shared state lives. Every method raises :class:`LedgerUnavailable` on a store failure."""

    # -- ownership ----------------------------------------------------------------------------------

    @abstractmethod
    def record_creation(
        self,
        *,
        provider: str,
        resource_id: str,
        owner: str,
        kind: str,
        operation: str,
        request_id: str,
        upstream_request_id: str | None,
        at: float,
        listed: bool = True,
    ) -> None:
        """Record that ``owner`` created ``resource_id``; the first owner of an id keeps it.

        ``listed=False`` records a claim that is not an upload (a Wangsu ``fileId``, whose upload is the video
        its create issued): it is owned like any other record, but never in the owner's :meth:`list_uploads`
        (no index entry is written, and a reindex writes none)."""

    @abstractmethod
    def find(self, provider: str, resource_id: str) -> Resource | None:
        """The record of ``resource_id``, or None if the broker never issued it."""

    @abstractmethod
    def record_refresh(self, *, provider: str, resource_id: str, at: float, limit: int | None = None) -> bool:
        """Count one more refresh, atomically, unless ``limit`` refreshes were already counted (then False)."""

    @abstractmethod
    def release_refresh(self, *, provider: str, resource_id: str) -> None:
        """Take back one counted refresh (its upstream call failed, so nothing was issued)."""

    @abstractmethod
    def mark_completed(self, *, provider: str, resource_id: str, at: float) -> Resource | None:
        """Record that the upstream holds ``resource_id``'s source file (the first ``at`` is kept; a second
        call changes nothing). The record as it now stands, or None if the broker never issued the id (then
        nothing is written). Never reopens an upload: there is no way back to pending."""

    @abstractmethod
    def list_uploads(
        self, owner: str, *, limit: int, status: str | None = None, after: Position | None = None
    ) -> UploadPage:
        """``owner``'s uploads, newest first (by creation millisecond; ties in a fixed order of the
        backend's choosing), at most ``limit`` (1-100), only those in ``status`` when given, starting after
        ``after``. Reads an index by owner (and status), never every upload: as fast for 100,000 as for 10.
        ``next`` is set when more may follow."""

    def reindex_uploads(self, *, batch: int = 500) -> int:
        """Write the ``list_uploads`` index entries of every recorded upload that lacks them; how many uploads
        needed (and got) index writes.

        For uploads recorded before the index existed, run once after upgrading
        (``python -m upload_broker.ledger.reindex``). It reads the uploads ``batch`` at a time and writes exactly
        the entries ``record_creation`` and ``mark_completed`` write (a pending upload: listed and pending; a
        completed one: listed and completed, and no longer pending); it never changes an upload's own record.
        Idempotent and resumable: a second run, or a run after an interrupted one, writes only what is still
        missing.

        This default does nothing and returns 0: a backend whose index is derived from the very rows that record
        the uploads (SQLite, whose older files are migrated when opened) has nothing to backfill.
        """
        if batch < 1:
            raise ValueError(f"batch must be at least 1, not {batch}")
        return 0

    # -- quotas and rate limits ---------------------------------------------------------------------

    @abstractmethod
    def consume(self, user: str, limits: Sequence[Limit], *, at: float, event_id: str) -> None:
        """Count one event of ``user`` in every window of ``limits``, or in none of them.

        Raises :class:`LimitExceeded` for the first window it does not fit in. ``event_id`` names the
        event so that :meth:`release` can take it back (and so a retried call does not count it twice).
        """

    @abstractmethod
    def release(self, user: str, limits: Sequence[Limit], *, event_id: str) -> None:
        """Take back an event counted by :meth:`consume` (its upstream call failed)."""

    # -- idempotency --------------------------------------------------------------------------------

    @abstractmethod
    def claim_idempotency(
        self, key: str, fingerprint: str, *, owner: str, at: float, pending_seconds: float
    ) -> IdempotencyClaim:
        """Take ``key`` for ``owner`` if it is free (a pending claim lapses after ``pending_seconds``)."""

    @abstractmethod
    def complete_idempotency(
        self, key: str, fingerprint: str, response: dict[str, Any], *, at: float, keep_seconds: float
    ) -> None:
        """Keep ``response`` as the answer for ``key`` for ``keep_seconds``."""

    @abstractmethod
    def release_idempotency(self, key: str, *, owner: str) -> None:
        """Free ``key`` if ``owner`` still holds it pending (its request failed; the client may retry)."""

    # -- audit trail --------------------------------------------------------------------------------

    @abstractmethod
    def append_audit(self, record: AuditRecord) -> None:
        """Add one record to the audit trail."""

    @abstractmethod
    def audit_history(self, user: str, *, limit: int = 100) -> list[AuditRecord]:
        """``user``'s most recent records, newest first."""

    def close(self) -> None:  # noqa: B027 - optional for backends without connections
        """Release the store's connections."""


def retry_after(events: Iterable[tuple[float, int]], limit: Limit, now: float) -> int | None:
    """Seconds until ``limit.amount`` more fits among ``events`` (``(at, amount)``, oldest first); None if it fits now.

    The backends share this rule (the Redis Lua script spells it again): count what is still in the
    window; if the new event does not fit, wait until the oldest events that must leave have left,
    rounded up to whole seconds. An event larger than the whole limit never fits: wait a whole window.
    """
    if limit.amount > limit.limit:
        return max(1, math.ceil(limit.window))
    live = [(at, amount) for at, amount in events if at > now - limit.window]
    used = sum(amount for _, amount in live)
    excess = used + limit.amount - limit.limit
    if excess <= 0:
        return None
    for at, amount in live:
        excess -= amount
        if excess <= 0:
            return max(1, math.ceil(at + limit.window - now))
    return max(1, math.ceil(limit.window))  # unreachable: the events' sum covered the excess
