"""The ledger: the broker's shared state (ownership, quotas, idempotency, audit) behind one small interface.

A create records (provider, resource id) -> owner before any credential is returned; a refresh looks the
owner up and answers 404 unless it is the caller. ``open_ledger`` picks the backend from
``BROKER_LEDGER_URL``: ``sqlite:///path`` (embedded, one process; the default) or
``redis://[:password@]host:port/db`` / ``rediss://...`` (shared by many instances).
"""

from __future__ import annotations

from upload_broker.ledger.base import (
    AuditRecord,
    IdempotencyClaim,
    Ledger,
    LedgerUnavailable,
    Limit,
    LimitExceeded,
    Resource,
)


def open_ledger(url: str) -> Ledger:
    """The ledger backend for ``url`` (``sqlite:///path``, ``redis://...`` or ``rediss://...``)."""
    if url.startswith("sqlite:///"):
        from upload_broker.ledger.sqlite import SqliteLedger

        return SqliteLedger(url[len("sqlite:///"):])
    if url.startswith(("redis://", "rediss://")):
        from upload_broker.ledger.redis import RedisLedger

        return RedisLedger(url)
    raise ValueError(f"unsupported ledger URL scheme: {url.split(':', 1)[0]}")


__all__ = [
    "AuditRecord",
    "IdempotencyClaim",
    "Ledger",
    "LedgerUnavailable",
    "Limit",
    "LimitExceeded",
    "Resource",
    "open_ledger",
]
