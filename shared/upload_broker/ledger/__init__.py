"""The ledger: who owns which upload, behind one small interface.

A create records (provider, resource id) -> owner before any credential is returned; a refresh looks the
owner up and answers 404 unless it is the caller. ``open_ledger`` picks the backend from
``BROKER_LEDGER_URL``: ``sqlite:///path`` (embedded, one process) is the default.
"""

from __future__ import annotations

from upload_broker.ledger.base import Ledger, LedgerUnavailable, Resource


def open_ledger(url: str) -> Ledger:
    """The ledger backend for ``url`` (``sqlite:///path``)."""
    if url.startswith("sqlite:///"):
        from upload_broker.ledger.sqlite import SqliteLedger

        return SqliteLedger(url[len("sqlite:///"):])
    raise ValueError(f"unsupported ledger URL scheme: {url.split(':', 1)[0]}")


__all__ = ["Ledger", "LedgerUnavailable", "Resource", "open_ledger"]
