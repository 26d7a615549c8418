"""The Tablestore (OTS) ledger: shared state for every instance, over HTTPS, with no VPC and no server to run.

``BROKER_LEDGER_URL=tablestore://<instance>.<region>.ots.aliyuncs.com[/<table prefix>]`` (see
:func:`upload_broker.ledger.parse_tablestore_url`). The official SDK (PyPI ``tablestore``) signs each call with
the function's own credentials, asked of a provider on every call, so the STS credentials of the function's
role are used as Function Compute refreshes them. Nothing is cached between calls but the SDK's connection
pool; a call has a 0.5 s connect and 1 s read timeout, the SDK's own retries are off and a connection is
retried once only when it could not be opened, so a store that is down or hung fails a request within
about two seconds (:class:`LedgerUnavailable`: 503, no credential).

Every check-and-update is a conditional write on one row, which Tablestore applies atomically
("Conditional updates", https://www.alibabacloud.com/help/doc-detail/35194.html):

- an ownership claim, and an idempotency key's claim, is a PutRow that expects the row not to exist (the
  first one keeps it);
- a row that is read, decided on and written back carries a version column, a random token rewritten by
  every such write; the write expects it unchanged. A write that loses the race (``OTSConditionCheckFail``)
  reads again and decides again, at most :data:`MAX_ATTEMPTS` times within :data:`CONTENTION_BUDGET_SECONDS`,
  then fails closed;
- all of a user's sliding windows are one row, so one write takes an event from every window of a call or
  from none, and N parallel creates against a quota of Q give exactly min(N, Q). Per window the row holds
  a header - version ``<w>_0v`` and one running total ``<w>_0t_<limit>`` per limit - then one column per
  counted event, ``<w>_1<ms>_<limit>_<event hash>`` = ``"<at>|<amount>"``, so names sort by window, then by
  time. A check reads one column range: the header and the events that have left the window (they are
  subtracted and pruned by the same write), never the events still in it; only a refusal reads those, to
  say when the oldest will have left (``Retry-After``), and only a release (its upstream call failed) looks
  for its own.

Tables (``<prefix>`` defaults to ``upload_broker_``); user names are stored only as a hash in keys:

- ``<prefix>resources``   PK ``id`` (``<provider>:<resource id>``): owner, kind, operation, request ids,
  created_at, refresh_count, last_refreshed_at, completed_at (once the upstream has the source), ``v``
  (version). Kept for good. The truth about an upload; the next two tables only index it.
- ``<prefix>uploads``     PK ``user_hash``, ``created`` (ms), ``id``: provider, resource_id, kind. Written with
  the resource row in one BatchWriteRow; a user's uploads newest first are one backward GetRange, joined with
  ``resources`` by one BatchGetRow for the owner check, status and refresh count
  (:meth:`TablestoreLedger.list_uploads`).
- ``<prefix>upload_states`` PK ``user_state`` (``<user_hash>:p`` pending, ``<user_hash>:c`` completed),
  ``created`` (ms), ``id``: provider, resource_id, kind. The pending row is written with the resource row; a
  completion (a conditional UpdateRow setting ``completed_at`` only while it is missing) then moves it to the
  completed partition, so a user's uploads in one status are one backward GetRange too. Uploads recorded
  before this table existed have no row in it (nor, if a create failed half-way, in ``uploads``) until
  :meth:`TablestoreLedger.reindex_uploads` (``python -m upload_broker.ledger.reindex``) writes them.
- ``<prefix>limits``      PK ``user_hash``: the windows' headers and events above. No TTL: a running total
  must never outlive an event column it counts; the next check of a window prunes what has left it.
- ``<prefix>idempotency`` PK ``key`` (already a hash): fingerprint, state, owner, response, expires_at, ``v``
  (version).
  TTL 2 days; the kept answer's 24 h (and a pending claim's lapse) are checked against expires_at.
- ``<prefix>audit``       PK ``user_hash`` (refusals before a token is verified are spread over 16 "-<n>"
  keys), ``seq`` (auto-increment: strictly increasing within a user): the AuditRecord's fields. TTL 365 days.

Tables are created by the ledger itself the first time a call finds one missing (``ots:CreateTable`` on the
prefix), or beforehand with ``python -m upload_broker.ledger.tablestore --create-tables``. docs/ledger.md
says why, and what each call costs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import random
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import urllib3
from google.protobuf.message import DecodeError
from urllib3.util.retry import Retry

# The SDK logs a warning at import when its C++ codec was built for another CPython; it then uses its Python
# codec, which is all the broker needs. Keep that out of every cold start's log.
for _name in ("tablestore.encoder", "tablestore.decoder"):
    logging.getLogger(_name).setLevel(logging.ERROR)

from tablestore import (  # noqa: E402 - after the loggers above are quieted
    INF_MAX,
    INF_MIN,
    PK_AUTO_INCR,
    BatchGetRowRequest,
    BatchWriteRowRequest,
    CapacityUnit,
    ComparatorType,
    CompositeColumnCondition,
    Condition,
    DeleteRowItem,
    LogicalOperator,
    OTSClient,
    PutRowItem,
    ReservedThroughput,
    Row,
    RowExistenceExpectation,
    SingleColumnCondition,
    TableInBatchGetRowItem,
    TableInBatchWriteRowItem,
    TableMeta,
    TableOptions,
)
from tablestore.credentials import Credentials as SdkCredentials  # noqa: E402
from tablestore.credentials import CredentialsProvider  # noqa: E402
from tablestore.encoder import NATIVE_ENCODER_AVAILABLE  # noqa: E402
from tablestore.error import OTSError, OTSServiceError  # noqa: E402
from tablestore.retry import NoRetryPolicy  # noqa: E402

from upload_broker.config import Credentials  # noqa: E402
from upload_broker.ledger import TablestoreLocation, parse_tablestore_url  # noqa: E402
from upload_broker.ledger.base import (  # noqa: E402
    AUDIT_COLUMNS,
    COMPLETED,
    PENDING,
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
    stored_resource,
)

log = logging.getLogger("upload_broker.ledger")
# What a backfill of the uploads index has to say to the operator who runs it.
reindex_log = logging.getLogger("upload_broker.ledger.reindex")

T = TypeVar("T")

CONNECT_TIMEOUT = 0.5
READ_TIMEOUT = 1.0
# A conditional write that loses a race reads and decides again, this often and this long at most.
MAX_ATTEMPTS = 40
CONTENTION_BUDGET_SECONDS = 3.0
DAY = 86400
# Tablestore's smallest TTL is one day; these are the tables' data lifetimes (the ledger checks its own
# expiry times, TTLs only collect garbage). The limits table has none: a running total must never outlive
# an event column that it counts.
IDEMPOTENCY_TTL_SECONDS = 2 * DAY
AUDIT_TTL_SECONDS = 365 * DAY
# Refusals before a token is verified have no user; anyone can cause them, so they are spread over this many
# partition keys instead of making one hot partition.
ANONYMOUS_AUDIT_SHARDS = 16
# Expired events pruned per write, well under Tablestore's 1,024 columns per written row.
MAX_PRUNED_PER_WRITE = 200
# Errors that mean "another writer got there first": read again and decide again.
_CONFLICTS = ("OTSConditionCheckFail", "OTSRowOperationConflict")
# The ``upload_states`` partition of a status: "<user hash>:p" (pending) or "<user hash>:c" (completed).
_STATE_TAGS = {PENDING: "p", COMPLETED: "c"}
# The resource row's columns a list of uploads joins with its index rows.
_LISTED_COLUMNS = ["owner", "kind", "created_at", "refresh_count", "completed_at"]
# The resource row's columns its index rows are made from (reindex_uploads).
_INDEXED_COLUMNS = ["owner", "kind", "created_at", "completed_at", "unlisted"]
# Rows per request: BatchGetRow reads at most 100 (https://www.alibabacloud.com/help/doc-detail/27310.html),
# BatchWriteRow writes at most 200 (https://www.alibabacloud.com/help/doc-detail/27311.html), GetRange answers
# at most 5,000 (https://alibabacloud.com/help/zh/tablestore/general-limits-of-tablestore); the fake refuses more.
MAX_BATCH_GET_ROWS = 100
MAX_BATCH_WRITE_ROWS = 200
MAX_RANGE_ROWS = 5000
# The resource key of an id too long for a primary key: "<provider>:#<64 hex digits>" (see _resource_key).
_HASHED_ID = re.compile(r"#[0-9a-f]{64}")
# A table found missing is created at most this often per instance (a deleted table must not hammer CreateTable).
_CREATE_INTERVAL_SECONDS = 30.0
_SDK_LOGGER = "upload_broker.ledger.tablestore_sdk"


@dataclass(frozen=True)
class TableSpec:
    """One of the ledger's tables: its name after the prefix, its primary key and its data lifetime."""

    suffix: str
    primary_key: tuple[tuple[Any, ...], ...]
    ttl: int  # seconds; -1: kept for good


TABLES = (
    TableSpec("resources", (("id", "STRING"),), -1),
    TableSpec("uploads", (("user_hash", "STRING"), ("created", "INTEGER"), ("id", "STRING")), -1),
    TableSpec("upload_states", (("user_state", "STRING"), ("created", "INTEGER"), ("id", "STRING")), -1),
    TableSpec("limits", (("user_hash", "STRING"),), -1),
    TableSpec("idempotency", (("key", "STRING"),), IDEMPOTENCY_TTL_SECONDS),
    TableSpec("audit", (("user_hash", "STRING"), ("seq", "INTEGER", PK_AUTO_INCR)), AUDIT_TTL_SECONDS),
)


class _Conflict(Exception):
    """A conditional write found the row changed since it was read."""


class _ContentionExhausted(Exception):
    """Every attempt of an optimistic update lost its race within the budget."""


class _NoCredentials(Exception):
    """The credentials provider has none to give."""


def environment_credentials() -> Credentials | None:
    """The ``ALIBABA_CLOUD_*`` credentials, read once: for a ledger opened outside the broker (the audit CLI)."""
    key_id = (os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_ID") or "").strip()
    secret = (os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET") or "").strip()
    token = (os.environ.get("ALIBABA_CLOUD_SECURITY_TOKEN") or "").strip() or None
    return Credentials(key_id, secret, token) if key_id and secret else None


class _Provider(CredentialsProvider):
    """The SDK asks this for credentials on every call; it asks the broker's provider."""

    def __init__(self, source: Callable[[], Credentials | None]) -> None:
        self._source = source
        self._last: tuple[Credentials, SdkCredentials] | None = None

    def get_credentials(self) -> SdkCredentials:
        found = self._source()
        if found is None:
            raise _NoCredentials()
        last = self._last
        if last is not None and last[0] == found:
            return last[1]
        converted = SdkCredentials(found.access_key_id, found.access_key_secret, found.security_token)
        self._last = (found, converted)
        return converted


def _hash(value: str, length: int = 32) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:length]


def _token() -> str:
    return uuid.uuid4().hex


_LIMIT_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,31}$")


def _limit_name(name: str) -> str:
    # Column names are [A-Za-z_][A-Za-z0-9_]*: a plain limit name is used as it is, any other is hashed.
    return name if _LIMIT_NAME.match(name) else f"h{_hash(name, 16)}"


def _ms(seconds: float) -> int:
    return max(0, math.floor(seconds * 1000))


def _window_tag(window: float) -> str:
    # Fixed width, so that names sort by window, then (events) by time.
    return f"w{round(window * 1000):012d}_"


def _event_column(tag: str, at: float, limit_name: str, event_id: str) -> str:
    # <window>_1<ms:13>_<limit>_<event hash>: a window's events in time order, after its header (<window>_0...).
    return f"{tag}1{_ms(at):013d}_{limit_name}_{_hash(event_id, 16)}"


def _event_limit(tag: str, column: str) -> str:
    return column[len(tag) + 1:].split("_")[1]


def _event_value(value: Any) -> tuple[float, int]:
    event_at, _, amount = str(value).partition("|")
    return float(event_at), int(amount)


def _unchanged(column: str, value: Any) -> SingleColumnCondition:
    """``column`` still holds ``value`` (None: still does not exist)."""
    if value is None:
        return _missing(column)
    return SingleColumnCondition(column, value, ComparatorType.EQUAL, pass_if_missing=False)


def _missing(column: str) -> SingleColumnCondition:
    # No column the ledger writes is ever "": equal to it only if missing.
    return SingleColumnCondition(column, "", ComparatorType.EQUAL, pass_if_missing=True)


def _still_missing(column: str) -> SingleColumnCondition:
    # For a number column: no value the ledger writes is negative, so "less than 0" holds only if it is missing
    # (compared with a number, as the column is one).
    return SingleColumnCondition(column, 0.0, ComparatorType.LESS_THAN, pass_if_missing=True)


def _index_columns(provider: str, resource_id: str, kind: str) -> list[tuple[str, Any]]:
    """The columns of an upload's index rows (its ``uploads`` row and its ``upload_states`` row)."""
    return [("provider", provider), ("resource_id", resource_id), ("kind", kind)]


def _all_of(conditions: Sequence[SingleColumnCondition]) -> Any:
    if len(conditions) == 1:
        return conditions[0]
    both = CompositeColumnCondition(LogicalOperator.AND)
    for condition in conditions:
        both.add_sub_condition(condition)
    return both


def _column_names(names: Sequence[str]) -> list[Any]:
    # Column names for "delete_all". The SDK's (6.4.8) Python codec sizes its buffer as if a bare name were a
    # (name, value) pair and overflows on a long name, but writes a (name, None) pair right; its C++ codec
    # (the CPython it was built for: FC's python3.12) takes bare names only.
    return list(names) if NATIVE_ENCODER_AVAILABLE else [(name, None) for name in names]


class TablestoreLedger(Ledger):
    """The ledger in Tablestore; thread-safe (one SDK client and connection pool per instance)."""

    def __init__(
        self,
        location: TablestoreLocation | str,
        *,
        credentials: Callable[[], Credentials | None] | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
        contention_budget: float = CONTENTION_BUDGET_SECONDS,
    ) -> None:
        if isinstance(location, str):
            location = parse_tablestore_url(location)
        self.location = location
        self.prefix = location.prefix
        if credentials is None:
            found = environment_credentials()
            credentials = lambda: found  # noqa: E731 - a snapshot, as the environment does not change
        self.contention_budget = contention_budget
        logging.getLogger(_SDK_LOGGER).setLevel(logging.CRITICAL)  # it logs every failed call, races included
        self._client = OTSClient(
            location.endpoint,
            instance_name=location.instance,
            credentials_provider=_Provider(credentials),
            socket_timeout=urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            retry_policy=NoRetryPolicy(),  # conditional writes must not be replayed blindly; retries are ours
            max_connection=256,  # more than an instance runs at once: a call never waits for a connection
            logger_name=_SDK_LOGGER,
        )
        # One more try only when a connection could not be opened (nothing was sent); never after a read error.
        self._client.connection.pool.connection_pool_kw["retries"] = Retry(
            total=1, connect=1, read=False, redirect=False, status=False, other=0, backoff_factor=0)
        self._create_lock = threading.Lock()
        self._create_attempts: dict[str, float] = {}
        self.tables = {spec.suffix: location.prefix + spec.suffix for spec in TABLES}

    # -- ownership ----------------------------------------------------------------------------------

    def record_creation(self, *, provider, resource_id, owner, kind, operation, request_id, upstream_request_id,
                        at, listed=True) -> None:
        resource_key = self._resource_key(provider, resource_id)
        columns: list[tuple[str, Any]] = [
            ("owner", owner), ("kind", kind), ("operation", operation), ("request_id", request_id),
            ("created_at", float(at)), ("refresh_count", 0), ("v", _token()),
        ]
        if upstream_request_id:
            columns.append(("upstream_request_id", upstream_request_id))
        if not listed:
            columns.append(("unlisted", True))  # a claim, not an upload: no index rows (reindex reads this too)
        indexed = listed
        listed, pending, _ = self._index_keys(owner, created_ms(at), resource_key)
        index_columns = _index_columns(provider, resource_id, kind)
        resources, uploads, states = self.tables["resources"], self.tables["uploads"], self.tables["upload_states"]

        def write() -> None:
            # One request: the ownership claim (expects no row: the first owner keeps it), the user's index row
            # and the user's pending state row. Each row succeeds or fails alone; index rows for a claim that
            # lost are harmless, as a list joins each index row with its resource row and keeps it only when
            # the owner (and the creation millisecond, and the status) match.
            request = BatchWriteRowRequest()
            request.add(TableInBatchWriteRowItem(resources, [PutRowItem(
                Row([("id", resource_key)], columns), Condition(RowExistenceExpectation.EXPECT_NOT_EXIST))]))
            if indexed:
                request.add(TableInBatchWriteRowItem(uploads, [PutRowItem(
                    Row(listed, index_columns), Condition(RowExistenceExpectation.IGNORE))]))
                request.add(TableInBatchWriteRowItem(states, [PutRowItem(
                    Row(pending, index_columns), Condition(RowExistenceExpectation.IGNORE))]))
            response = self._client.batch_write_row(request)
            for table in (resources, uploads, states) if indexed else (resources,):
                for item in response.get_put_by_table(table):
                    if item.is_ok or (table == resources and item.error_code == "OTSConditionCheckFail"):
                        continue
                    raise OTSServiceError(None, item.error_code, item.error_message)

        self._run(lambda: self._call((resources, uploads, states), write))

    def find(self, provider: str, resource_id: str) -> Resource | None:
        row = self._run(lambda: self._get("resources", [("id", self._resource_key(provider, resource_id))]))
        return None if row is None else stored_resource(provider, resource_id, row)

    def record_refresh(self, *, provider: str, resource_id: str, at: float, limit: int | None = None) -> bool:
        key = [("id", self._resource_key(provider, resource_id))]

        def attempt() -> bool:
            row = self._get("resources", key)
            if row is None:
                return False
            count = int(row.get("refresh_count", 0))
            if limit is not None and count >= limit:
                return False
            self._update("resources", key, row, {"put": [
                ("refresh_count", count + 1), ("last_refreshed_at", float(at)), ("v", _token())]})
            return True

        return self._run(lambda: self._optimistic(attempt))

    def release_refresh(self, *, provider: str, resource_id: str) -> None:
        key = [("id", self._resource_key(provider, resource_id))]

        def attempt() -> None:
            row = self._get("resources", key)
            count = int(row.get("refresh_count", 0)) if row is not None else 0
            if row is not None and count > 0:
                self._update("resources", key, row, {"put": [("refresh_count", count - 1), ("v", _token())]})

        self._run(lambda: self._optimistic(attempt))

    def mark_completed(self, *, provider: str, resource_id: str, at: float) -> Resource | None:
        key = [("id", self._resource_key(provider, resource_id))]
        resources, states = self.tables["resources"], self.tables["upload_states"]

        def attempt() -> dict[str, Any] | None:
            row = self._get("resources", key)
            if row is not None and row.get("completed_at") is None:
                # Sets completed_at only while it is missing: of two completions the first keeps its time, and
                # the one that lost reads the row again and finds it. The version column is left alone: a
                # refresh counted meanwhile writes other columns only.
                self._conditional(lambda: self._client.update_row(
                    resources, Row(key, {"put": [("completed_at", float(at))]}),
                    Condition(RowExistenceExpectation.EXPECT_EXIST, _still_missing("completed_at"))))
                row["completed_at"] = float(at)
            return row

        def mark() -> Resource | None:
            row = self._optimistic(attempt)
            if row is None:
                return None  # never issued: nothing is written
            self._move_state(row, provider, resource_id, key[0][1])
            return stored_resource(provider, resource_id, row)

        return self._run(lambda: self._call((self.tables["uploads"], states), mark))

    def _move_state(self, row: dict[str, Any], provider: str, resource_id: str, resource_key: str) -> None:
        """Move the upload's state row from the owner's pending partition to the completed one.

        The resource row is the truth (``completed_at``); the state rows, like the ``uploads`` row, are only an
        index of it, which a list checks against the resource row. So the move is plain writes in one
        BatchWriteRow, each idempotent, made by every call that finds the upload completed: a call that won the
        race, one that lost it, and a repeated call, which so repairs a move that an earlier call did not
        finish. The owner's ``uploads`` row is written again too (the same key and values), so an upload whose
        index rows a failed create did not write is listed once it completes.
        """
        listed, pending, completed = self._index_keys(row["owner"], created_ms(float(row["created_at"])), resource_key)
        columns = _index_columns(provider, resource_id, row["kind"])
        uploads, states = self.tables["uploads"], self.tables["upload_states"]
        request = BatchWriteRowRequest()
        request.add(TableInBatchWriteRowItem(states, [
            DeleteRowItem(Row(pending), Condition(RowExistenceExpectation.IGNORE)),
            PutRowItem(Row(completed, columns), Condition(RowExistenceExpectation.IGNORE)),
        ]))
        request.add(TableInBatchWriteRowItem(uploads, [PutRowItem(
            Row(listed, columns), Condition(RowExistenceExpectation.IGNORE))]))
        response = self._client.batch_write_row(request)
        for item in (*response.get_delete_by_table(states), *response.get_put_by_table(states),
                     *response.get_put_by_table(uploads)):
            if not item.is_ok:
                raise OTSServiceError(None, item.error_code, item.error_message)

    # -- quotas and rate limits ---------------------------------------------------------------------

    def consume(self, user: str, limits: Sequence[Limit], *, at: float, event_id: str) -> None:
        if not limits:
            return
        key = [("user_hash", _hash(user))]
        windows = sorted({limit.window for limit in limits})
        # One GetRow of one column range: each window's header (version, running totals) and the events that
        # have left it - not the events still in it, however many there are.
        start = _window_tag(windows[0]) + "0"
        end = _window_tag(windows[-1]) + "1" + f"{_ms(at - windows[-1]) + 1:013d}"

        def attempt() -> LimitExceeded | None:
            columns = self._columns("limits", key, start, end)
            puts: list[tuple[str, Any]] = []
            deletes: list[str] = []
            conditions: list[SingleColumnCondition] = []
            mine: list[str] = []
            for window in windows:
                tag = _window_tag(window)
                conditions.append(_unchanged(tag + "0v", columns.get(tag + "0v")))
                expired: dict[str, int] = {}
                pruned: dict[str, int] = {}
                for name, value in columns.items():
                    if not name.startswith(tag + "1"):
                        continue
                    event_at, amount = _event_value(value)
                    if event_at <= at - window:
                        limit_name = _event_limit(tag, name)
                        expired[limit_name] = expired.get(limit_name, 0) + amount
                        if len(deletes) < MAX_PRUNED_PER_WRITE:
                            deletes.append(name)
                            pruned[limit_name] = pruned.get(limit_name, 0) + amount
                for limit in (limit for limit in limits if limit.window == window):
                    name = _limit_name(limit.name)
                    total = int(columns.get(tag + "0t_" + name, 0))
                    event = _event_column(tag, at, name, event_id)
                    if limit.amount > limit.limit or total - expired.get(name, 0) + limit.amount > limit.limit:
                        return self._refusal(key, tag, limit, event, at)
                    puts += [(tag + "0t_" + name, total - pruned.get(name, 0) + int(limit.amount)),
                             (event, f"{float(at)!r}|{int(limit.amount)}")]
                    mine.append(event)
                    conditions.append(_missing(event))
                puts.append((tag + "0v", _token()))
            changes: dict[str, list] = {"put": puts}
            if deletes:
                changes["delete_all"] = _column_names(deletes)
            try:
                self._conditional(lambda: self._client.update_row(
                    self.tables["limits"], Row(key, changes),
                    Condition(RowExistenceExpectation.IGNORE, _all_of(conditions))))
            except _Conflict:
                if self._has_columns("limits", key, mine):
                    return None  # this very event was counted already: a retried call counts once
                raise
            return None

        refused = self._run(lambda: self._optimistic(attempt))
        if refused is not None:
            raise refused

    def _refusal(self, key: list, tag: str, limit: Limit, event: str, at: float) -> LimitExceeded | None:
        """The window is full: read the events still in it, oldest first, to say when this one fits."""
        live = self._columns("limits", key, tag + "1" + f"{_ms(at - limit.window) + 1:013d}", tag + "2")
        if event in live:
            return None  # counted already by an earlier call for this event
        name = _limit_name(limit.name)
        events = sorted(_event_value(value) for column, value in live.items() if _event_limit(tag, column) == name)
        wait = retry_after(events, limit, at)
        if wait is None:
            raise _Conflict()  # events left since the first read: decide again
        return LimitExceeded(limit, wait)

    def release(self, user: str, limits: Sequence[Limit], *, event_id: str) -> None:
        if not limits:
            return
        key = [("user_hash", _hash(user))]
        windows = sorted({limit.window for limit in limits})
        suffixes = {_limit_name(limit.name): f"_{_limit_name(limit.name)}_{_hash(event_id, 16)}" for limit in limits}

        def attempt() -> None:
            # Rare (an upstream call failed), so it may read the windows' events to find this one's columns.
            columns = self._columns("limits", key, _window_tag(windows[0]) + "0", _window_tag(windows[-1]) + "2")
            puts: list[tuple[str, Any]] = []
            deletes: list[str] = []
            conditions = []
            for window in windows:
                tag = _window_tag(window)
                found = {name: column for column in columns if column.startswith(tag + "1")
                         for name, suffix in suffixes.items() if column.endswith(suffix)}
                if not found:
                    continue
                conditions.append(_unchanged(tag + "0v", columns.get(tag + "0v")))
                for name, column in found.items():
                    total = int(columns.get(tag + "0t_" + name, 0))
                    puts.append((tag + "0t_" + name, max(0, total - _event_value(columns[column])[1])))
                    deletes.append(column)
                puts.append((tag + "0v", _token()))
            if not deletes:
                return  # nothing counted under this event
            self._conditional(lambda: self._client.update_row(
                self.tables["limits"], Row(key, {"put": puts, "delete_all": _column_names(deletes)}),
                Condition(RowExistenceExpectation.IGNORE, _all_of(conditions))))

        self._run(lambda: self._optimistic(attempt))

    # -- idempotency --------------------------------------------------------------------------------

    def claim_idempotency(self, key, fingerprint, *, owner, at, pending_seconds) -> IdempotencyClaim:
        pk = [("key", key)]
        table = self.tables["idempotency"]

        def claim(condition: Condition) -> None:
            entry = Row(pk, [("fingerprint", fingerprint), ("state", "pending"), ("owner", owner),
                             ("expires_at", float(at + pending_seconds)), ("v", _token())])
            self._conditional(lambda: self._call((table,), lambda: self._client.put_row(table, entry, condition)))

        def attempt() -> IdempotencyClaim:
            try:
                claim(Condition(RowExistenceExpectation.EXPECT_NOT_EXIST))  # a new key: one call
                return IdempotencyClaim("started")
            except _Conflict:
                pass
            row = self._get("idempotency", pk)
            if row is not None and float(row.get("expires_at", 0.0)) > at:
                if row.get("fingerprint") != fingerprint:
                    return IdempotencyClaim("conflict")
                if row.get("state") == "done":
                    return IdempotencyClaim("done", json.loads(row["response"]))
                return IdempotencyClaim("pending")
            if row is None:
                raise _Conflict()  # gone since: claim it anew
            claim(self._same_version(row))  # lapsed: replace it, unless someone else did first
            return IdempotencyClaim("started")

        return self._run(lambda: self._optimistic(attempt))

    def complete_idempotency(self, key, fingerprint, response, *, at, keep_seconds) -> None:
        entry = Row([("key", key)], [
            ("fingerprint", fingerprint), ("state", "done"),
            ("response", json.dumps(response, separators=(",", ":"))),
            ("expires_at", float(at + keep_seconds)), ("v", _token()),
        ])
        table = self.tables["idempotency"]
        self._run(lambda: self._call((table,), lambda: self._client.put_row(
            table, entry, Condition(RowExistenceExpectation.IGNORE))))

    def release_idempotency(self, key: str, *, owner: str) -> None:
        holder = CompositeColumnCondition(LogicalOperator.AND)
        holder.add_sub_condition(SingleColumnCondition("state", "pending", ComparatorType.EQUAL, pass_if_missing=False))
        holder.add_sub_condition(SingleColumnCondition("owner", owner, ComparatorType.EQUAL, pass_if_missing=False))
        table = self.tables["idempotency"]

        def delete() -> None:
            try:
                self._conditional(lambda: self._client.delete_row(
                    table, Row([("key", key)]), Condition(RowExistenceExpectation.EXPECT_EXIST, holder)))
            except _Conflict:
                pass  # completed, lapsed or held by another request: not ours to free

        self._run(lambda: self._call((table,), delete))

    # -- audit trail --------------------------------------------------------------------------------

    def append_audit(self, record: AuditRecord) -> None:
        if record.user is None:
            partition = f"-{random.randrange(ANONYMOUS_AUDIT_SHARDS):x}"  # noqa: S311 - spreading load only
        else:
            partition = _hash(record.user)
        columns = [(name, value) for name, value in record.to_dict().items() if value is not None]
        columns = [(n, float(v) if n == "at" else v) for n, v in columns]
        table = self.tables["audit"]
        row = Row([("user_hash", partition), ("seq", PK_AUTO_INCR)], columns)
        self._run(lambda: self._call((table,), lambda: self._client.put_row(
            table, row, Condition(RowExistenceExpectation.IGNORE))))

    def audit_history(self, user: str, *, limit: int = 100) -> list[AuditRecord]:
        partition = _hash(user)
        rows = self._run(lambda: self._range_backward(
            "audit", [("user_hash", partition), ("seq", INF_MAX)], [("user_hash", partition), ("seq", INF_MIN)], limit))
        records = []
        for row in rows:
            data = {name: row.get(name) for name in AUDIT_COLUMNS}
            if data["status"] is None:
                del data["status"]
            records.append(AuditRecord.from_dict(data))
        return [r for r in records if r.user == user]  # a hash collision would otherwise mix users

    # -- a user's uploads ---------------------------------------------------------------------------

    def uploads_index(self, user: str, *, limit: int = 100) -> list[dict[str, Any]]:
        """``user``'s index rows, newest first: ``provider``, ``resource_id``, ``kind``, ``created_at``.

        One backward GetRange over the ``uploads`` table, unchecked: :meth:`list_uploads` is the same read
        joined with the resource rows (owner check, status, refresh count).
        """
        partition = _hash(user)
        rows = self._run(lambda: self._range_backward(
            "uploads", [("user_hash", partition), ("created", INF_MAX), ("id", INF_MAX)],
            [("user_hash", partition), ("created", INF_MIN), ("id", INF_MIN)], limit))
        return [{"provider": r["provider"], "resource_id": r["resource_id"], "kind": r["kind"],
                 "created_at": r["created"] / 1000} for r in rows]

    def list_uploads(
        self, owner: str, *, limit: int, status: str | None = None, after: Position | None = None
    ) -> UploadPage:
        """One backward GetRange over the owner's index rows (``uploads``, or the status's partition of
        ``upload_states``) from ``after``, then one BatchGetRow of the page's resource rows.

        The resource row is the truth: an index row is listed only if its resource row names this owner, was
        created in the index row's millisecond (a retried create of one id leaves a second index row) and, with
        ``status``, is in that status now. Ties of one millisecond come in descending ``<provider>:<id>`` order.
        """
        check_page(limit, status)
        user = _hash(owner)
        if status is None:
            table, partition = "uploads", ("user_hash", user)
        else:
            table, partition = "upload_states", ("user_state", f"{user}:{_STATE_TAGS[status]}")
        if after is None:
            start = self._index_key(partition, INF_MAX, INF_MAX)
        else:
            start = self._index_key(partition, after.created_ms, self._resource_key(after.provider, after.resource_id))
        end = self._index_key(partition, INF_MIN, INF_MIN)
        # The start key is inclusive: a page after ``after`` reads one row more and drops ``after`` itself.
        # One row past the page says whether another page follows.
        wanted = limit + 1 + (after is not None)

        def read() -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
            rows = self._range_backward(table, start, end, wanted)
            if after is not None and rows and [("created", rows[0]["created"]), ("id", rows[0]["id"])] == start[1:]:
                rows = rows[1:]
            rows = rows[:limit + 1]
            keys = list(dict.fromkeys(row["id"] for row in rows[:limit]))  # an id twice: one read
            return rows, (self._batch_get("resources", keys, _LISTED_COLUMNS) if keys else {})

        rows, found = self._run(read)
        page = rows[:limit]
        uploads = []
        for row in page:
            resource = found.get(row["id"])
            if resource is None or resource.get("owner") != owner:
                continue  # a claim that lost: the id is someone else's
            if created_ms(float(resource["created_at"])) != row["created"]:
                continue  # the index row of a retried create; the one of the first create is listed
            upload = stored_resource(row["provider"], row["resource_id"], resource)
            if status is None or upload.status == status:
                uploads.append(upload)
        if len(rows) <= limit:
            return UploadPage(uploads, None)
        if uploads:
            return UploadPage(uploads, uploads[-1].position)
        # Every row of this page was dropped: the next page starts after the last one read.
        last = page[-1]
        return UploadPage([], Position(last["created"], last["provider"], last["resource_id"]))

    def reindex_uploads(self, *, batch: int = 500) -> int:
        """Write the index rows (``uploads``, ``upload_states``) that a resource row lacks, as its creation and
        completion would have written them.

        A forward GetRange over ``resources``, ``batch`` rows a page (``next_start_primary_key`` is where the next
        one starts). Per page: BatchGetRows (100 rows each) of each upload's ``uploads`` row and pending state
        row, and its completed state row if it is completed; then BatchWriteRows (200 rows each) of the rows
        that are missing - the ``uploads`` row and the pending state row of a pending upload, the ``uploads`` row
        and the completed state row of a completed one, whose pending state row is deleted. Nothing else, and
        never a resource row. Idempotent: a second run reads and writes nothing more.

        An upload completed while this ran is safe: each pending state row written is followed by a read of its
        resource row, and the state of one found completed meanwhile is moved as ``mark_completed`` moves it.
        A resource whose id was too long for a key (stored hashed) is named by its ``uploads`` row; one without
        that row cannot be indexed (its id is lost), and is skipped and counted in one log line.
        """
        if not 1 <= batch <= MAX_RANGE_ROWS:
            raise ValueError(f"batch must be 1-{MAX_RANGE_ROWS}, not {batch}")
        resources = self.tables["resources"]
        end = [("id", INF_MAX)]

        def read(start: list) -> tuple[Any, ...]:
            return self._client.get_range(resources, "FORWARD", start, end, columns_to_get=_INDEXED_COLUMNS,
                                          limit=batch, max_version=1)

        start: list | None = [("id", INF_MIN)]
        reindexed = skipped = 0
        while start is not None:
            _, start, rows, _ = self._run(partial(self._call, (resources,), partial(read, start)))
            if rows:
                done, lost = self._run(partial(self._reindex_rows, rows))
                reindexed, skipped = reindexed + done, skipped + lost
        if skipped:
            reindex_log.warning(
                "%d resource rows skipped: a hashed id with no uploads row to recover it from, or no owner or"
                " creation time", skipped, extra={"store": "tablestore", "skipped": skipped})
        return reindexed

    def _reindex_rows(self, rows: Sequence[Any]) -> tuple[int, int]:
        """Index the uploads of these ``resources`` rows: how many needed it, and how many could not be."""
        uploads: list[tuple[str, str, str | None, dict[str, Any], tuple[list, list, list]]] = []
        skipped = 0
        for row in rows:
            key = row.primary_key[0][1]
            columns = {column[0]: column[1] for column in row.attribute_columns}
            provider, separator, resource_id = key.partition(":")
            if columns.get("unlisted"):
                continue  # a claim, not an upload: never indexed
            if not separator or not {"owner", "kind", "created_at"} <= columns.keys():
                skipped += 1
                continue
            keys = self._index_keys(columns["owner"], created_ms(float(columns["created_at"])), key)
            uploads.append((key, provider, None if _HASHED_ID.fullmatch(resource_id) else resource_id, columns,
                            keys))
        wanted = []
        for *_, columns, (listed, pending, completed) in uploads:
            wanted += [("uploads", listed), ("upload_states", pending)]
            if columns.get("completed_at") is not None:
                wanted.append(("upload_states", completed))
        found = self._index_rows(wanted)
        ignore = Condition(RowExistenceExpectation.IGNORE)
        writes: list[tuple[str, Any]] = []
        made_pending: list[tuple[str, str, str, dict[str, Any]]] = []
        reindexed = 0
        for key, provider, known_id, columns, (listed, pending, completed) in uploads:
            listed_row = found.get(("uploads", tuple(listed)))
            resource_id = known_id if known_id is not None else (listed_row or {}).get("resource_id")
            if resource_id is None or self._resource_key(provider, resource_id) != key:
                skipped += 1  # a hashed id, and no uploads row to say which
                continue
            index_columns = _index_columns(provider, resource_id, columns["kind"])
            missing: list[tuple[str, Any]] = []
            if listed_row is None:
                missing.append(("uploads", PutRowItem(Row(listed, index_columns), ignore)))
            has_pending = ("upload_states", tuple(pending)) in found
            if columns.get("completed_at") is None:
                if not has_pending:
                    missing.append(("upload_states", PutRowItem(Row(pending, index_columns), ignore)))
                    made_pending.append((key, provider, resource_id, columns))
            else:
                if ("upload_states", tuple(completed)) not in found:
                    missing.append(("upload_states", PutRowItem(Row(completed, index_columns), ignore)))
                if has_pending:
                    missing.append(("upload_states", DeleteRowItem(Row(pending), ignore)))
            if missing:
                writes += missing
                reindexed += 1
        self._write_rows(writes)
        # A completion between the page's read and the pending rows' write: its move came before the write, so
        # the upload is completed and pending both. Read those rows again; move the state of any completed now
        # (a completion after this read moves it itself).
        for i in range(0, len(made_pending), MAX_BATCH_GET_ROWS):
            chunk = made_pending[i:i + MAX_BATCH_GET_ROWS]
            now = self._batch_get("resources", [key for key, *_ in chunk], ["completed_at"])
            for key, provider, resource_id, columns in chunk:
                if key in now:
                    self._move_state({**columns, **now[key]}, provider, resource_id, key)
        return reindexed, skipped

    def _index_rows(self, wanted: Sequence[tuple[str, list]]) -> dict[tuple[str, tuple], dict[str, Any]]:
        """Which of the index rows ``wanted`` ((table, key) pairs, no key twice) exist, in BatchGetRows of at most
        100 rows: {(table, key as a tuple): {"resource_id": ...}}."""
        found: dict[tuple[str, tuple], dict[str, Any]] = {}
        for i in range(0, len(wanted), MAX_BATCH_GET_ROWS):
            by_table: dict[str, list[list]] = {}
            for table, key in wanted[i:i + MAX_BATCH_GET_ROWS]:
                by_table.setdefault(table, []).append(key)
            request = BatchGetRowRequest()
            for table, keys in by_table.items():
                request.add(TableInBatchGetRowItem(self.tables[table], keys, columns_to_get=["resource_id"],
                                                   max_version=1))
            names = [self.tables[table] for table in by_table]
            response = self._call(names, partial(self._client.batch_get_row, request))
            for table, keys in by_table.items():
                for key, item in zip(keys, response.get_result_by_table(self.tables[table]), strict=True):
                    if not item.is_ok:
                        raise OTSServiceError(None, item.error_code, item.error_message)
                    if item.row is not None and item.row.attribute_columns:
                        found[(table, tuple(key))] = {column[0]: column[1] for column in item.row.attribute_columns}
        return found

    def _write_rows(self, writes: Sequence[tuple[str, Any]]) -> None:
        """Plain (unconditional) index writes, ``(table, PutRowItem | DeleteRowItem)``, in BatchWriteRows of at most
        200 rows; a row that fails fails the call (the rows before it stay written: each is idempotent)."""
        for i in range(0, len(writes), MAX_BATCH_WRITE_ROWS):
            by_table: dict[str, list[Any]] = {}
            for table, item in writes[i:i + MAX_BATCH_WRITE_ROWS]:
                by_table.setdefault(self.tables[table], []).append(item)
            request = BatchWriteRowRequest()
            for name, items in by_table.items():
                request.add(TableInBatchWriteRowItem(name, items))
            response = self._call(list(by_table), partial(self._client.batch_write_row, request))
            for name in by_table:
                for result in (*response.get_put_by_table(name), *response.get_delete_by_table(name)):
                    if not result.is_ok:
                        raise OTSServiceError(None, result.error_code, result.error_message)

    # -- tables -------------------------------------------------------------------------------------

    def ensure_tables(self) -> list[str]:
        """Create the ledger's tables that do not exist yet; the names created. Raises LedgerUnavailable."""

        def create() -> list[str]:
            existing = set(self._client.list_table())
            return [name for spec in TABLES if (name := self.prefix + spec.suffix) not in existing
                    and self._create_table(spec)]

        return self._run(create)

    def _create_table(self, spec: TableSpec) -> bool:
        try:
            self._client.create_table(
                TableMeta(self.prefix + spec.suffix, list(spec.primary_key)),
                TableOptions(time_to_live=spec.ttl, max_version=1),
                ReservedThroughput(CapacityUnit(0, 0)),  # on-demand (CU mode): pay per request
            )
        except OTSServiceError as error:
            if error.code != "OTSObjectAlreadyExist":
                raise
            return False
        log.info("ledger table created", extra={"store": "tablestore", "table": self.prefix + spec.suffix})
        return True

    def _create_missing(self, tables: Sequence[str]) -> None:
        """Create ``tables`` (a call found one missing), unless this instance just did (or tried to)."""
        specs = {self.prefix + spec.suffix: spec for spec in TABLES}
        with self._create_lock:
            now = time.monotonic()
            for table in tables:
                if now - self._create_attempts.get(table, -_CREATE_INTERVAL_SECONDS) >= _CREATE_INTERVAL_SECONDS:
                    self._create_attempts[table] = now
                    self._create_table(specs[table])

    # -- plumbing -----------------------------------------------------------------------------------

    def _resource_key(self, provider: str, resource_id: str) -> str:
        key = f"{provider}:{resource_id}"
        # A String primary key holds at most 1 KB; a longer id (never seen from the upstreams) is hashed.
        return key if len(key.encode("utf-8")) <= 1000 else f"{provider}:#{_hash(resource_id, 64)}"

    @staticmethod
    def _index_key(partition: tuple[str, str], created: Any, resource_key: Any) -> list[tuple[str, Any]]:
        """A key of ``uploads`` (partition ``user_hash``) or ``upload_states`` (``user_state``)."""
        return [partition, ("created", created), ("id", resource_key)]

    def _state_key(self, user: str, status: str, created: int, resource_key: str) -> list[tuple[str, Any]]:
        return self._index_key(("user_state", f"{user}:{_STATE_TAGS[status]}"), created, resource_key)

    def _index_keys(self, owner: str, created: int, resource_key: str) -> tuple[list, list, list]:
        """The keys of an upload's index rows: its ``uploads`` row, its pending and its completed ``upload_states``
        rows (``created``: its creation millisecond)."""
        user = _hash(owner)
        return (self._index_key(("user_hash", user), created, resource_key),
                self._state_key(user, PENDING, created, resource_key),
                self._state_key(user, COMPLETED, created, resource_key))

    def _call(self, tables: Sequence[str], call: Callable[[], T]) -> T:
        """``call()``; when it finds a table missing, the table is created and the call made once more."""
        try:
            return call()
        except OTSServiceError as error:
            if error.code != "OTSObjectNotExist":
                raise
        self._create_missing(tables)
        return call()

    def _get(self, table: str, key: list[tuple[str, Any]]) -> dict[str, Any] | None:
        name = self.tables[table]
        _, row, _ = self._call((name,), lambda: self._client.get_row(name, key, max_version=1))
        if row is None:
            return None
        return {column[0]: column[1] for column in row.attribute_columns}

    def _batch_get(self, table: str, ids: list[str], columns: list[str]) -> dict[str, dict[str, Any]]:
        """The rows of ``table`` keyed ``id`` = each of ``ids`` (at most 100, no repeats), in one BatchGetRow:
        {id: {column: value}}, without the ids that have no row. A row that could not be read fails the call."""
        name = self.tables[table]
        request = BatchGetRowRequest()
        request.add(TableInBatchGetRowItem(name, [[("id", key)] for key in ids], columns_to_get=columns,
                                           max_version=1))
        response = self._call((name,), lambda: self._client.batch_get_row(request))
        found = {}
        for key, item in zip(ids, response.get_result_by_table(name), strict=True):
            if not item.is_ok:
                raise OTSServiceError(None, item.error_code, item.error_message)
            if item.row is not None and item.row.attribute_columns:
                found[key] = {column[0]: column[1] for column in item.row.attribute_columns}
        return found

    def _columns(self, table: str, key: list, start: str, end: str) -> dict[str, Any]:
        """The row's columns whose names are in [start, end): a wide row read in one range ({} if none)."""
        name = self.tables[table]
        _, row, _ = self._call((name,), lambda: self._client.get_row(
            name, key, max_version=1, start_column=start, end_column=end))
        return {} if row is None else {column[0]: column[1] for column in row.attribute_columns}

    def _has_columns(self, table: str, key: list, names: list[str]) -> bool:
        name = self.tables[table]
        _, row, _ = self._client.get_row(name, key, columns_to_get=names, max_version=1)
        return row is not None and {c[0] for c in row.attribute_columns} == set(names)

    def _range_backward(self, table: str, start: list, end: list, limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` rows from ``start`` down to ``end``, each as {column: value} with its key columns."""
        name = self.tables[table]
        rows: list[dict[str, Any]] = []
        while start is not None and len(rows) < limit:
            page = partial(self._client.get_range, name, "BACKWARD", start, end,
                           limit=min(limit - len(rows), 5000), max_version=1)
            _, start, found, _ = self._call((name,), page)
            for row in found:
                rows.append({**dict(row.primary_key), **{c[0]: c[1] for c in row.attribute_columns}})
        return rows[:limit]

    @staticmethod
    def _same_version(row: dict[str, Any]) -> Condition:
        """The row still exists and its version column is the one read."""
        version = row.get("v")
        if version is None:  # written without one: only the first writer to add one wins
            return Condition(RowExistenceExpectation.EXPECT_EXIST,
                             SingleColumnCondition("v", "", ComparatorType.EQUAL, pass_if_missing=True))
        return Condition(RowExistenceExpectation.EXPECT_EXIST,
                         SingleColumnCondition("v", version, ComparatorType.EQUAL, pass_if_missing=False))

    def _update(self, table: str, key: list, row: dict[str, Any], changes: dict[str, list]) -> None:
        name = self.tables[table]
        self._conditional(lambda: self._client.update_row(name, Row(key, changes), self._same_version(row)))

    def _conditional(self, write: Callable[[], Any]) -> None:
        """A conditional write; :class:`_Conflict` when its condition no longer holds."""
        try:
            write()
        except OTSServiceError as error:
            if error.code in _CONFLICTS:
                raise _Conflict() from None
            raise

    def _optimistic(self, attempt: Callable[[], T]) -> T:
        """Run ``attempt`` (read, decide, conditional write) until it wins its race, within the budget."""
        deadline = time.monotonic() + self.contention_budget
        for n in range(MAX_ATTEMPTS):
            try:
                return attempt()
            except _Conflict:
                pass
            if time.monotonic() >= deadline:
                break
            # A short random pause spreads the writers that just lost to the same winner.
            time.sleep(random.uniform(0, min(0.05, 0.002 * 2 ** min(n, 5))))  # noqa: S311 - jitter only
        raise _ContentionExhausted()

    def _run(self, work: Callable[[], T]) -> T:
        try:
            return work()
        except _ContentionExhausted:
            log.warning("ledger update gave up under contention", extra={"store": "tablestore"})
        except _NoCredentials:
            log.error("no credentials for the Tablestore ledger", extra={"store": "tablestore"})
        except (OTSError, urllib3.exceptions.HTTPError, OSError, DecodeError) as error:
            # The error's type and code only: its text may carry the endpoint or a request's values.
            log.warning("ledger store failed", extra={
                "store": "tablestore", "error": type(error).__name__, "code": getattr(error, "code", None)})
        raise LedgerUnavailable() from None

    def close(self) -> None:
        self._client.connection.pool.clear()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m upload_broker.ledger.tablestore --create-tables``: create the ledger's tables ahead of traffic."""
    parser = argparse.ArgumentParser(prog="python -m upload_broker.ledger.tablestore", description=main.__doc__)
    parser.add_argument("--create-tables", action="store_true", required=True,
                        help="create the tables of BROKER_LEDGER_URL (or --ledger-url) that do not exist")
    parser.add_argument("--ledger-url", default=os.environ.get("BROKER_LEDGER_URL"))
    args = parser.parse_args(argv)
    try:
        location = parse_tablestore_url(args.ledger_url or "")
    except ValueError as error:
        print(f"error: BROKER_LEDGER_URL: {error}", file=sys.stderr)
        return 2
    ledger = TablestoreLedger(location)
    try:
        created = ledger.ensure_tables()
    except LedgerUnavailable:
        print("error: the Tablestore instance cannot be reached with these credentials", file=sys.stderr)
        return 1
    finally:
        ledger.close()
    for name in created:
        print(f"created {name}")
    print(f"{len(TABLES)} ledger tables in place under {location.instance}/{location.prefix}*")
    return 0


if __name__ == "__main__":
    sys.exit(main())
