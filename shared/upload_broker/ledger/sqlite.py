"""The embedded SQLite ledger: the default for one process (``make run``, a single FC instance)."""

from __future__ import annotations

import sqlite3
import threading

from upload_broker.ledger.base import Ledger, LedgerUnavailable, Resource

SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    provider TEXT NOT NULL,
    resource_id TEXT NOT NULL,
    owner TEXT NOT NULL,
    kind TEXT NOT NULL,
    operation TEXT NOT NULL,
    request_id TEXT NOT NULL,
    upstream_request_id TEXT,
    created_at REAL NOT NULL,
    refresh_count INTEGER NOT NULL DEFAULT 0,
    last_refreshed_at REAL,
    PRIMARY KEY (provider, resource_id)
);
"""


class SqliteLedger(Ledger):
    """One connection per instance, serialised by a lock; WAL so readers in other processes don't block."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=5.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
        except sqlite3.Error:
            raise LedgerUnavailable() from None

    def record_creation(self, *, provider, resource_id, owner, kind, operation, request_id, upstream_request_id,
                        at) -> None:
        self._write(
            "INSERT OR IGNORE INTO resources (provider, resource_id, owner, kind, operation, request_id,"
            " upstream_request_id, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (provider, resource_id, owner, kind, operation, request_id, upstream_request_id, at),
        )

    def find(self, provider: str, resource_id: str) -> Resource | None:
        try:
            with self._lock:
                row = self._db.execute(
                    "SELECT provider, resource_id, owner, kind, created_at, refresh_count FROM resources"
                    " WHERE provider = ? AND resource_id = ?",
                    (provider, resource_id),
                ).fetchone()
        except sqlite3.Error:
            raise LedgerUnavailable() from None
        return Resource(*row) if row else None

    def record_refresh(self, *, provider: str, resource_id: str, at: float) -> None:
        self._write(
            "UPDATE resources SET refresh_count = refresh_count + 1, last_refreshed_at = ?"
            " WHERE provider = ? AND resource_id = ?",
            (at, provider, resource_id),
        )

    def _write(self, sql: str, args: tuple) -> None:
        try:
            with self._lock:
                self._db.execute(sql, args)
        except sqlite3.Error:
            raise LedgerUnavailable() from None

    def close(self) -> None:
        with self._lock:
            self._db.close()
