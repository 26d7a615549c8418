"""The embedded SQLite ledger: the default for one process (``make run``, a single FC instance).

Every check-and-update runs in one ``BEGIN IMMEDIATE`` transaction, which takes SQLite's write lock
up front: two processes sharing the file (or threads sharing this connection) never both see room
under a quota and both take it. For many instances behind a gateway use the Redis ledger instead.

A ledger file made by an older broker is brought up to the current schema when it is opened (see
:func:`_migrate`).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar, cast

from upload_broker.ledger.base import (
    AUDIT_COLUMNS,
    COMPLETED,
    AuditRecord,
    IdempotencyClaim,
    Ledger,
    LedgerUnavailable,
    Limit,
    LimitExceeded,
    Position,
    Resource,
    UploadPage,
    check_page,
    created_ms,
    retry_after,
)

T = TypeVar("T")

# Refusals before a token is verified have no user; anyone can cause them, so only this many are kept.
ANONYMOUS_AUDIT_KEEP = 10_000

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
    completed_at REAL,
    completed INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER,
    PRIMARY KEY (provider, resource_id)
);
CREATE TABLE IF NOT EXISTS limit_events (
    user TEXT NOT NULL,
    name TEXT NOT NULL,
    event_id TEXT NOT NULL,
    at REAL NOT NULL,
    amount INTEGER NOT NULL,
    PRIMARY KEY (user, name, event_id)
);
CREATE INDEX IF NOT EXISTS limit_events_window ON limit_events (user, name, at, amount);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    state TEXT NOT NULL,
    owner TEXT,
    response TEXT,
    expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    user TEXT,
    operation TEXT,
    resource_id TEXT,
    request_id TEXT NOT NULL,
    upstream_request_id TEXT,
    source_ip TEXT,
    user_agent TEXT,
    outcome TEXT NOT NULL,
    code TEXT,
    status INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_user ON audit (user, seq);
"""

# Columns added to ``resources`` after its first release, with how each is declared, in the order added.
# A file made before them gets them at open (SQLite's ADD COLUMN needs a constant default for NOT NULL).
_ADDED_RESOURCE_COLUMNS = (
    ("completed_at", "REAL"),
    ("completed", "INTEGER NOT NULL DEFAULT 0"),
    ("created_ms", "INTEGER"),
)

# Made after the migration: they index columns that an older file gains only then. Each serves one query
# of ``list_uploads`` whole: equality on the owner (and status), a range on the row value, and the order
# read backwards from the index, so neither a full scan nor a sort is needed (tests prove it with EXPLAIN
# QUERY PLAN).
_UPLOAD_INDEXES = """
CREATE INDEX IF NOT EXISTS resources_by_owner ON resources (owner, created_ms, provider, resource_id);
CREATE INDEX IF NOT EXISTS resources_by_owner_status
    ON resources (owner, completed, created_ms, provider, resource_id);
"""

_RESOURCE_COLUMNS = "provider, resource_id, owner, kind, created_at, refresh_count, completed_at"


# Column names come from the AuditRecord dataclass, never from a request; built once, not per record.
_INSERT_AUDIT = f"INSERT INTO audit ({', '.join(AUDIT_COLUMNS)}) VALUES ({', '.join('?' * len(AUDIT_COLUMNS))})"  # noqa: S608


class SqliteLedger(Ledger):
    """One connection per instance, serialised by a lock; WAL so readers in other processes don't block."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            _create_private(path)
            self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=5.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
            self._transaction(_migrate)
            self._db.executescript(_UPLOAD_INDEXES)
        except (sqlite3.Error, OSError, LedgerUnavailable):
            raise LedgerUnavailable() from None

    # -- ownership ----------------------------------------------------------------------------------

    def record_creation(self, *, provider, resource_id, owner, kind, operation, request_id, upstream_request_id,
                        at, listed=True) -> None:
        self._write(
            "INSERT OR IGNORE INTO resources (provider, resource_id, owner, kind, operation, request_id,"
            " upstream_request_id, created_at, created_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            # An unlisted record (a claim, not an upload) has no created_ms: the listing's index skips it.
            (provider, resource_id, owner, kind, operation, request_id, upstream_request_id, at,
             created_ms(at) if listed else None),
        )

    def find(self, provider: str, resource_id: str) -> Resource | None:
        row = self._read(lambda db: _find(db, provider, resource_id))
        return Resource(*row) if row else None

    def record_refresh(self, *, provider: str, resource_id: str, at: float, limit: int | None = None) -> bool:
        def update(db: sqlite3.Connection) -> bool:
            cursor = db.execute(
                "UPDATE resources SET refresh_count = refresh_count + 1, last_refreshed_at = ?"
                " WHERE provider = ? AND resource_id = ? AND (? IS NULL OR refresh_count < ?)",
                (at, provider, resource_id, limit, limit),
            )
            return cursor.rowcount == 1

        return self._transaction(update)

    def release_refresh(self, *, provider: str, resource_id: str) -> None:
        self._write(
            "UPDATE resources SET refresh_count = MAX(refresh_count - 1, 0) WHERE provider = ? AND resource_id = ?",
            (provider, resource_id),
        )

    def mark_completed(self, *, provider: str, resource_id: str, at: float) -> Resource | None:
        def mark(db: sqlite3.Connection) -> tuple | None:
            # COALESCE keeps the first time; an unknown id matches no row, so nothing is written.
            db.execute(
                "UPDATE resources SET completed_at = COALESCE(completed_at, ?), completed = 1"
                " WHERE provider = ? AND resource_id = ?",
                (at, provider, resource_id),
            )
            return _find(db, provider, resource_id)

        row = self._transaction(mark)
        return Resource(*row) if row else None

    def list_uploads(
        self, owner: str, *, limit: int, status: str | None = None, after: Position | None = None
    ) -> UploadPage:
        check_page(limit, status)
        where = "owner = ? AND created_ms IS NOT NULL"
        args: list[object] = [owner]
        if status is not None:
            where += " AND completed = ?"
            args.append(1 if status == COMPLETED else 0)
        if after is not None:
            where += " AND (created_ms, provider, resource_id) < (?, ?, ?)"
            args += [after.created_ms, after.provider, after.resource_id]
        # One row more than the page: whether it exists says whether a next page does.
        args.append(limit + 1)
        sql = (
            f"SELECT {_RESOURCE_COLUMNS} FROM resources WHERE {where}"  # noqa: S608 - fixed fragments only
            " ORDER BY created_ms DESC, provider DESC, resource_id DESC LIMIT ?"
        )
        rows = self._read(lambda db: db.execute(sql, args).fetchall())
        uploads = [Resource(*row) for row in rows[:limit]]
        return UploadPage(uploads, uploads[-1].position if len(rows) > limit else None)

    # -- quotas and rate limits ---------------------------------------------------------------------

    def consume(self, user: str, limits: Sequence[Limit], *, at: float, event_id: str) -> None:
        def check_and_count(db: sqlite3.Connection) -> LimitExceeded | None:
            for limit in limits:
                db.execute(
                    "DELETE FROM limit_events WHERE user = ? AND name = ? AND (at <= ? OR event_id = ?)",
                    (user, limit.name, at - limit.window, event_id),
                )
                (used,) = db.execute(
                    "SELECT COALESCE(SUM(amount), 0) FROM limit_events WHERE user = ? AND name = ?",
                    (user, limit.name),
                ).fetchone()
                if used + limit.amount <= limit.limit:
                    continue
                # Over: read the oldest events only as far as needed to find when this one fits.
                events = db.execute(
                    "SELECT at, amount FROM limit_events WHERE user = ? AND name = ? ORDER BY at",
                    (user, limit.name),
                )
                return LimitExceeded(limit, retry_after(events, limit, at) or 1)
            db.executemany(
                "INSERT OR IGNORE INTO limit_events (user, name, event_id, at, amount) VALUES (?, ?, ?, ?, ?)",
                [(user, limit.name, event_id, at, limit.amount) for limit in limits],
            )
            return None

        refused = self._transaction(check_and_count)
        if refused is not None:
            raise refused

    def release(self, user: str, limits: Sequence[Limit], *, event_id: str) -> None:
        self._transaction(
            lambda db: db.executemany(
                "DELETE FROM limit_events WHERE user = ? AND name = ? AND event_id = ?",
                [(user, limit.name, event_id) for limit in limits],
            )
        )

    # -- idempotency --------------------------------------------------------------------------------

    def claim_idempotency(self, key, fingerprint, *, owner, at, pending_seconds) -> IdempotencyClaim:
        def claim(db: sqlite3.Connection) -> IdempotencyClaim:
            row = db.execute(
                "SELECT fingerprint, state, response FROM idempotency WHERE key = ? AND expires_at > ?", (key, at)
            ).fetchone()
            if row is None:
                db.execute(
                    "INSERT OR REPLACE INTO idempotency (key, fingerprint, state, owner, response, expires_at)"
                    " VALUES (?, ?, 'pending', ?, NULL, ?)",
                    (key, fingerprint, owner, at + pending_seconds),
                )
                return IdempotencyClaim("started")
            kept_fingerprint, state, response = row
            if kept_fingerprint != fingerprint:
                return IdempotencyClaim("conflict")
            if state == "done":
                return IdempotencyClaim("done", json.loads(response))
            return IdempotencyClaim("pending")

        return self._transaction(claim)

    def complete_idempotency(self, key, fingerprint, response, *, at, keep_seconds) -> None:
        self._write(
            "INSERT OR REPLACE INTO idempotency (key, fingerprint, state, owner, response, expires_at)"
            " VALUES (?, ?, 'done', NULL, ?, ?)",
            (key, fingerprint, json.dumps(response, separators=(",", ":")), at + keep_seconds),
        )

    def release_idempotency(self, key: str, *, owner: str) -> None:
        self._write("DELETE FROM idempotency WHERE key = ? AND state = 'pending' AND owner = ?", (key, owner))

    # -- audit trail --------------------------------------------------------------------------------

    def append_audit(self, record: AuditRecord) -> None:
        values = record.row()

        def append(db: sqlite3.Connection) -> None:
            cursor = db.execute(_INSERT_AUDIT, values)
            if record.user is None:
                seq = cast(int, cursor.lastrowid)  # an INSERT's row id, never None
                db.execute("DELETE FROM audit WHERE user IS NULL AND seq <= ?", (seq - ANONYMOUS_AUDIT_KEEP,))

        self._transaction(append)

    def audit_history(self, user: str, *, limit: int = 100) -> list[AuditRecord]:
        rows = self._read(
            lambda db: db.execute(
                f"SELECT {', '.join(AUDIT_COLUMNS)} FROM audit WHERE user = ? ORDER BY seq DESC LIMIT ?",  # noqa: S608
                (user, limit),
            ).fetchall()
        )
        return [AuditRecord(*row) for row in rows]

    # -- plumbing -----------------------------------------------------------------------------------

    def _read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        try:
            with self._lock:
                return query(self._db)
        except sqlite3.Error:
            raise LedgerUnavailable() from None

    def _write(self, sql: str, args: tuple) -> None:
        self._transaction(lambda db: db.execute(sql, args))

    def _transaction(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in one write transaction that takes the write lock first (BEGIN IMMEDIATE)."""
        try:
            with self._lock:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    result = work(self._db)
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
                return result
        except sqlite3.Error:
            raise LedgerUnavailable() from None

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _find(db: sqlite3.Connection, provider: str, resource_id: str) -> tuple | None:
    return db.execute(
        f"SELECT {_RESOURCE_COLUMNS} FROM resources WHERE provider = ? AND resource_id = ?",  # noqa: S608
        (provider, resource_id),
    ).fetchone()


def _migrate(db: sqlite3.Connection) -> None:
    """Add the columns a ledger file made by an older broker lacks, and fill them in for its rows.

    Runs in a write transaction, so of two processes opening one old file only the first alters it; the
    second then finds the columns there. ``completed`` starts at 0 (an old file knew no completions) and
    ``created_ms`` is derived from ``created_at`` as :func:`created_ms` does for new rows: the whole part
    of the same product, at least 0 (truncating and flooring differ only below 0, where both give 0).
    """
    present = {row[1] for row in db.execute("PRAGMA table_info(resources)")}
    added = [(name, declaration) for name, declaration in _ADDED_RESOURCE_COLUMNS if name not in present]
    for name, declaration in added:
        db.execute(f"ALTER TABLE resources ADD COLUMN {name} {declaration}")
    if any(name == "created_ms" for name, _ in added):
        db.execute("UPDATE resources SET created_ms = MAX(0, CAST(created_at * 1000 AS INTEGER))")


def _create_private(path: str) -> None:
    """Create the ledger file readable by its owner only (0600) before SQLite opens it: it keeps idempotent
    answers, UploadAuth included. SQLite gives its -wal and -shm files the database file's permissions."""
    if path == ":memory:" or path.startswith("file:"):
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass  # an existing ledger keeps the permissions its operator gave it
