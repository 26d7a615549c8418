"""The Redis ledger: shared state for many instances (``BROKER_LEDGER_URL=redis://host:port/db``).

``rediss://`` (TLS) and a password (``redis://:password@host:6379/0`` or ``redis://user:password@...``)
are taken from the URL by redis-py. An optional ``?prefix=name:`` query parameter puts every key under
that prefix (default ``upload-broker:``), so environments can share one Redis.

One client with one connection pool per instance, built at cold start and reused by every invocation.
Socket timeouts are short (0.5 s connect, 1 s read) so a dead store fails a request fast instead of
hanging it; a command is retried once on a fresh connection, which is what lets the broker recover by
itself after Redis restarts (the pool's old sockets are dead then). Nothing else is cached: the Lua
scripts are loaded again by redis-py when a restarted server no longer knows them.

Every check-and-update is one Lua script, so it is atomic across instances. Keys of one user share a
Redis Cluster hash tag, so a script touching several of them stays on one node.

Keys: ``res:<provider>:<id>`` (hash); ``lim:{<user hash>}:<name>`` (sorted set of ``event|amount`` by
time) with its running total in ``...:total``; ``idem:<key hash>`` (JSON string with a TTL);
``audit:<user hash>`` (list, newest first, capped); ``up:{<user hash>}:all``, ``...:pending`` and
``...:completed`` (each user's uploads, see below).

A user's uploads are listed from three sorted sets, every score 0, so they are ordered by member alone:
``<9999999999999 - created ms, 13 digits>|<provider>|<id>``. Ascending byte order is newest first, and a
page is one ``ZRANGEBYLEX`` after the last member read, then one pipelined ``HGETALL`` of the page's
resources, however many uploads the user has. The resource hash stays the truth: a listed member whose
hash is missing, names another owner, or no longer has the status asked for is left out of the page.
The hash key carries no user tag, so in Redis Cluster no one script may write it and a user's sets; each
write does the hash first and the sets second (idempotent ``ZADD``/``ZREM``). A crash between the two
leaves an upload recorded but unlisted until it completes (the completion writes ``all`` again); it never
lists an upload the broker did not record. Uploads recorded before these sets existed are not in them
either, until they complete, or until :meth:`RedisLedger.reindex_uploads` (``python -m
upload_broker.ledger.reindex``) writes their members from their hashes.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any, TypeVar, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from upload_broker.ledger.base import (
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
    stored_resource,
)

log = logging.getLogger("upload_broker.ledger")
# What a backfill of the uploads index has to say to the operator who runs it.
reindex_log = logging.getLogger("upload_broker.ledger.reindex")

T = TypeVar("T")

DEFAULT_PREFIX = "upload-broker:"
CONNECT_TIMEOUT = 0.5
READ_TIMEOUT = 1.0
# Each user's audit list keeps this many records; the JSON log lines ("upload_broker.audit") keep all.
AUDIT_KEEP_PER_USER = 10_000
# Refusals before a token is verified have no user; anyone can cause them, so fewer are kept.
ANONYMOUS_AUDIT_KEEP = 10_000

# KEYS: per limit, its sorted set of "event|amount" by time and the key holding that set's total.
# ARGV: now, event id, then (limit, window, amount) per limit. The running total keeps a check O(log n)
# in the number of counted events: only the events that leave the window, or must leave for this one
# to fit, are read. Same rule as ledger.base.retry_after.
_CONSUME = """
local now = tonumber(ARGV[1])
local id = ARGV[2]
local function amount_of(member)
  return tonumber(string.match(member, '|(%d+)$'))
end
local function total(events)
  local sum = 0
  for j = 1, #events do sum = sum + amount_of(events[j]) end
  return sum
end
local used = {}
for i = 1, #KEYS / 2 do
  local set, sum = KEYS[2 * i - 1], KEYS[2 * i]
  local base = 3 + (i - 1) * 3
  local limit, window, amount = tonumber(ARGV[base]), tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2])
  local cutoff = now - window
  local current = tonumber(redis.call('GET', sum) or '')
  if current == nil then
    current = total(redis.call('ZRANGE', set, 0, -1))
  end
  current = current - total(redis.call('ZRANGEBYSCORE', set, '-inf', cutoff))
  redis.call('ZREMRANGEBYSCORE', set, '-inf', cutoff)
  if redis.call('ZREM', set, id .. '|' .. amount) == 1 then current = current - amount end
  if current == 0 then redis.call('DEL', sum) else redis.call('SET', sum, current, 'KEEPTTL') end
  used[i] = current
  if amount > limit then return {i, math.max(1, math.ceil(window))} end
  local excess = current + amount - limit
  local start = 0
  while excess > 0 do
    local events = redis.call('ZRANGE', set, start, start + 99, 'WITHSCORES')
    if #events == 0 then return {i, math.max(1, math.ceil(window))} end
    for j = 1, #events, 2 do
      excess = excess - amount_of(events[j])
      if excess <= 0 then
        return {i, math.max(1, math.ceil(tonumber(events[j + 1]) + window - now))}
      end
    end
    start = start + 100
  end
end
for i = 1, #KEYS / 2 do
  local set, sum = KEYS[2 * i - 1], KEYS[2 * i]
  local base = 3 + (i - 1) * 3
  local ttl = math.ceil(tonumber(ARGV[base + 1]) * 1000) + 1000
  redis.call('ZADD', set, now, id .. '|' .. ARGV[base + 2])
  redis.call('SET', sum, used[i] + tonumber(ARGV[base + 2]), 'PX', ttl)
  redis.call('PEXPIRE', set, ttl)
end
return {0, 0}
"""

# KEYS: per limit, its sorted set and total. ARGV: the members to take back, one per limit.
_RELEASE = """
for i = 1, #KEYS / 2 do
  local member = ARGV[i]
  if redis.call('ZREM', KEYS[2 * i - 1], member) == 1 and redis.call('EXISTS', KEYS[2 * i]) == 1 then
    redis.call('DECRBY', KEYS[2 * i], tonumber(string.match(member, '|(%d+)$')))
  end
end
return 1
"""

_RECORD_CREATION = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
"""

# KEYS: the user's all, pending and completed sets. ARGV: the new upload's member. A completion that got
# in between the resource write and this one has already put the member in completed: then it is not
# pending (an upload never goes back).
_INDEX_CREATION = """
redis.call('ZADD', KEYS[1], 0, ARGV[1])
if not redis.call('ZSCORE', KEYS[3], ARGV[1]) then redis.call('ZADD', KEYS[2], 0, ARGV[1]) end
return 1
"""

# ARGV: the completion time. Keeps the first one. Returns the whole hash (its owner and creation time name the
# index member to move), or nothing when the resource is unknown: then nothing is written.
_MARK_COMPLETED = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
redis.call('HSETNX', KEYS[1], 'completed_at', ARGV[1])
return redis.call('HGETALL', KEYS[1])
"""

# KEYS: the owner's all, pending and completed sets. ARGV: the member. Idempotent; also indexes an upload
# whose creation was recorded but not indexed (a crash between the two writes).
_INDEX_COMPLETION = """
redis.call('ZADD', KEYS[1], 0, ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], 0, ARGV[1])
return 1
"""

# The newest possible member sorts first: 13 digits of "9" minus the creation millisecond (year 2286).
_NEWEST_MS = 9_999_999_999_999

# ARGV: now, limit (-1: none). Returns 1 when counted, 0 when missing or at the limit.
_RECORD_REFRESH = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local limit = tonumber(ARGV[2])
if limit >= 0 and tonumber(redis.call('HGET', KEYS[1], 'refresh_count') or '0') >= limit then return 0 end
redis.call('HINCRBY', KEYS[1], 'refresh_count', 1)
redis.call('HSET', KEYS[1], 'last_refreshed_at', ARGV[1])
return 1
"""

_RELEASE_REFRESH = """
if tonumber(redis.call('HGET', KEYS[1], 'refresh_count') or '0') > 0 then
  redis.call('HINCRBY', KEYS[1], 'refresh_count', -1)
end
return 1
"""

# ARGV: the pending entry (JSON), its lifetime in ms. Returns nil when claimed, else the kept entry.
_CLAIM_IDEMPOTENCY = """
local kept = redis.call('GET', KEYS[1])
if kept then return kept end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
"""

_RELEASE_IDEMPOTENCY = """
local kept = redis.call('GET', KEYS[1])
if kept then
  local entry = cjson.decode(kept)
  if entry.state == 'pending' and entry.owner == ARGV[1] then redis.call('DEL', KEYS[1]) end
end
return 1
"""


def split_url(url: str) -> tuple[str, str]:
    """``(url for redis-py, key prefix)``: the ``prefix`` query parameter is the broker's, not redis-py's."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefix = next((value for name, value in query if name == "prefix"), DEFAULT_PREFIX)
    rest = urlencode([(name, value) for name, value in query if name != "prefix"])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, rest, parts.fragment)), prefix


def _user_tag(user: str) -> str:
    """A fixed-length, printable stand-in for any ``sub`` (which may be long or hold any character, and is
    kept out of key names); the braces make it the Redis Cluster hash tag, so one user's keys share a node
    and one script may touch several of them."""
    return "{" + hashlib.sha256(user.encode("utf-8")).hexdigest()[:32] + "}"


def _member(at: Position) -> str:
    """The index member of an upload at ``at``: ascending byte order of members is newest first."""
    return f"{_NEWEST_MS - min(max(at.created_ms, 0), _NEWEST_MS):013d}|{at.provider}|{at.resource_id}"


def _position(member: str) -> Position:
    """The upload a member names (providers hold no ``|``; an id may)."""
    newest, provider, resource_id = member.split("|", 2)
    return Position(_NEWEST_MS - int(newest), provider, resource_id)


def _glob_escape(text: str) -> str:
    """``text`` as a ``SCAN ... MATCH`` pattern that matches it literally (a prefix may hold ``*?[]\\``)."""
    return "".join("\\" + char if char in "*?[]\\" else char for char in text)


class RedisLedger(Ledger):
    """The ledger in Redis; thread-safe (redis-py's pool hands each thread its own connection)."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
    ) -> None:
        client_url, url_prefix = split_url(url)
        self.prefix = url_prefix if prefix is None else prefix
        self._client = redis.Redis.from_url(
            client_url,
            socket_connect_timeout=connect_timeout,
            socket_timeout=read_timeout,
            # One retry on a fresh connection: a pooled socket is dead after a Redis restart.
            retry=Retry(NoBackoff(), 1),
            health_check_interval=30,
            decode_responses=True,
        )
        register = self._client.register_script
        self._consume = register(_CONSUME)
        self._release = register(_RELEASE)
        self._record_creation = register(_RECORD_CREATION)
        self._record_refresh = register(_RECORD_REFRESH)
        self._release_refresh = register(_RELEASE_REFRESH)
        self._claim_idempotency = register(_CLAIM_IDEMPOTENCY)
        self._release_idempotency = register(_RELEASE_IDEMPOTENCY)
        self._index_creation = register(_INDEX_CREATION)
        self._mark_completed = register(_MARK_COMPLETED)
        self._index_completion = register(_INDEX_COMPLETION)

    # -- keys ---------------------------------------------------------------------------------------

    def _resource_key(self, provider: str, resource_id: str) -> str:
        return f"{self.prefix}res:{provider}:{resource_id}"

    def _limit_key(self, user: str, name: str) -> str:
        return f"{self.prefix}lim:{_user_tag(user)}:{name}"

    def _idempotency_key(self, key: str) -> str:
        return f"{self.prefix}idem:{key}"

    def _audit_key(self, user: str | None) -> str:
        return f"{self.prefix}audit:{_user_tag(user) if user is not None else '-'}"

    def _upload_key(self, owner: str, status: str | None) -> str:
        return f"{self.prefix}up:{_user_tag(owner)}:{status or 'all'}"

    def _upload_keys(self, owner: str) -> list[str]:
        """The owner's all, pending and completed sets, in the order the index scripts take them."""
        return [self._upload_key(owner, None), self._upload_key(owner, PENDING), self._upload_key(owner, COMPLETED)]

    # -- ownership ----------------------------------------------------------------------------------

    def record_creation(self, *, provider, resource_id, owner, kind, operation, request_id, upstream_request_id,
                        at, listed=True) -> None:
        fields: dict[str, str | int] = {
            "owner": owner, "kind": kind, "operation": operation, "request_id": request_id,
            "upstream_request_id": upstream_request_id or "", "created_at": repr(float(at)), "refresh_count": 0,
        }
        if not listed:
            fields["unlisted"] = 1  # a claim, not an upload: never in the owner's sets (reindex reads this too)
        args = [item for pair in fields.items() for item in pair]
        created = self._run(lambda: self._record_creation(keys=[self._resource_key(provider, resource_id)], args=args))
        if created != 1 or not listed:
            return  # the id has an owner already, who keeps it (and its place in their list); or a claim
        # Second, in its own script: the sets are under the owner's hash tag, the resource is not.
        member = _member(Position(created_ms(float(at)), provider, resource_id))
        self._run(lambda: self._index_creation(keys=self._upload_keys(owner), args=[member]))

    def find(self, provider: str, resource_id: str) -> Resource | None:
        key = self._resource_key(provider, resource_id)
        # str, not bytes: the client is made with decode_responses=True, which its types do not follow.
        found = cast("dict[str, str]", self._run(lambda: self._client.hgetall(key)))
        return stored_resource(provider, resource_id, found) if found else None

    def record_refresh(self, *, provider: str, resource_id: str, at: float, limit: int | None = None) -> bool:
        key = self._resource_key(provider, resource_id)
        args: list[str | int] = [repr(float(at)), -1 if limit is None else int(limit)]
        return self._run(lambda: self._record_refresh(keys=[key], args=args)) == 1

    def release_refresh(self, *, provider: str, resource_id: str) -> None:
        self._run(lambda: self._release_refresh(keys=[self._resource_key(provider, resource_id)]))

    def mark_completed(self, *, provider: str, resource_id: str, at: float) -> Resource | None:
        key = self._resource_key(provider, resource_id)
        flat = self._run(lambda: self._mark_completed(keys=[key], args=[repr(float(at))]))
        if not flat:
            return None
        resource = stored_resource(provider, resource_id, dict(zip(flat[::2], flat[1::2], strict=True)))
        # Second, as for a creation: move the member from pending to completed in the owner's sets.
        member = _member(resource.position)
        self._run(lambda: self._index_completion(keys=self._upload_keys(resource.owner), args=[member]))
        return resource

    def list_uploads(
        self, owner: str, *, limit: int, status: str | None = None, after: Position | None = None
    ) -> UploadPage:
        check_page(limit, status)
        key = self._upload_key(owner, status)
        start = "(" + _member(after) if after is not None else "-"
        # ZRANGEBYLEX, the same range as ZRANGE ... BYLEX, which needs Redis 6.2. One member more than the
        # page: whether it exists says whether a next page does.
        members = cast("list[str]", self._run(lambda: self._client.zrangebylex(key, start, "+", 0, limit + 1)))
        page = [_position(member) for member in members[:limit]]

        def read_all() -> list[Any]:
            with self._client.pipeline(transaction=False) as pipe:
                for at in page:
                    pipe.hgetall(self._resource_key(at.provider, at.resource_id))
                return pipe.execute()

        hashes = cast("list[dict[str, str]]", self._run(read_all) if page else [])
        uploads = []
        for at, found in zip(page, hashes, strict=True):
            # The hash is the truth; the sets only say where to look.
            if not found or found.get("owner") != owner:
                continue
            resource = stored_resource(at.provider, at.resource_id, found)
            if status is None or resource.status == status:
                uploads.append(resource)
        return UploadPage(uploads, page[-1] if len(members) > limit else None)

    def reindex_uploads(self, *, batch: int = 500) -> int:
        """Give every resource hash its members in its owner's sets, as its creation or completion would have.

        One ``SCAN`` over ``<prefix>res:*`` (``COUNT batch``; never ``KEYS``). Per batch of keys: one pipelined
        ``HGETALL`` of the hashes, one pipelined ``ZSCORE`` of each upload's member in its owner's three sets, and
        for the uploads whose members are missing (or, for a completed one, still pending) one pipelined run of
        the very script a creation (``_INDEX_CREATION``: all + pending, unless completed) or a completion
        (``_INDEX_COMPLETION``: all + completed, out of pending) runs. The scripts are idempotent and a
        completion racing with this is safe either way round, as it is with a creation. The hashes are only
        read. Returns how many uploads were indexed; a hash that names no owner or creation time is skipped
        and counted in one log line.
        """
        if batch < 1:
            raise ValueError(f"batch must be at least 1, not {batch}")
        head = self._resource_key("", "")[:-1]  # "<prefix>res:", before every resource's "<provider>:<id>"
        match = _glob_escape(head) + "*"
        cursor, reindexed, unreadable = 0, 0, 0
        while True:
            cursor, keys = self._run(partial(self._client.scan, cursor, match=match, count=batch))
            if keys:
                done, skipped = self._reindex_keys(head, cast("list[str]", keys))
                reindexed, unreadable = reindexed + done, unreadable + skipped
            if int(cursor) == 0:
                break
        if unreadable:
            reindex_log.warning("%d resource hashes skipped: no owner or creation time to index them by", unreadable,
                                extra={"store": "redis", "skipped": unreadable})
        return reindexed

    def _reindex_keys(self, head: str, keys: list[str]) -> tuple[int, int]:
        """Index the uploads of these resource keys (``head`` + ``<provider>:<id>``): how many needed it, and
        how many could not be read."""
        hashes = cast("list[dict[str, str]]", self._pipelined(lambda pipe: [pipe.hgetall(key) for key in keys]))
        uploads: list[tuple[Resource, str, list[str]]] = []
        unreadable = 0
        for key, found in zip(keys, hashes, strict=True):
            if not found or found.get("unlisted"):
                continue  # gone since the scan saw it, or a claim that is not an upload
            provider, _, resource_id = key[len(head):].partition(":")
            try:
                resource = stored_resource(provider, resource_id, found)
            except (KeyError, ValueError):
                unreadable += 1
                continue
            uploads.append((resource, _member(resource.position), self._upload_keys(resource.owner)))
        if not uploads:
            return 0, unreadable
        scores = self._pipelined(lambda pipe: [pipe.zscore(key, member) for _, member, sets in uploads
                                               for key in sets])
        stale = []
        for i, upload in enumerate(uploads):
            listed, pending, completed = (score is not None for score in scores[3 * i:3 * i + 3])
            if upload[0].status == COMPLETED:
                if not listed or not completed or pending:
                    stale.append(upload)
            elif not listed or not (pending or completed):  # in completed: the creation script leaves it there
                stale.append(upload)

        def index(pipe: Any) -> None:
            for resource, member, sets in stale:
                script = self._index_completion if resource.status == COMPLETED else self._index_creation
                script(keys=sets, args=[member], client=pipe)

        if stale:
            self._pipelined(index)
        return len(stale), unreadable

    # -- quotas and rate limits ---------------------------------------------------------------------

    def consume(self, user: str, limits: Sequence[Limit], *, at: float, event_id: str) -> None:
        if not limits:
            return
        keys = self._limit_keys(user, limits)
        args: list[Any] = [repr(float(at)), event_id]
        for limit in limits:
            args += [int(limit.limit), repr(float(limit.window)), int(limit.amount)]
        index, wait = self._run(lambda: self._consume(keys=keys, args=args))
        if index:
            raise LimitExceeded(limits[int(index) - 1], int(wait))

    def release(self, user: str, limits: Sequence[Limit], *, event_id: str) -> None:
        members = [f"{event_id}|{int(limit.amount)}" for limit in limits]
        self._run(lambda: self._release(keys=self._limit_keys(user, limits), args=members))

    def _limit_keys(self, user: str, limits: Sequence[Limit]) -> list[str]:
        keys = []
        for limit in limits:
            key = self._limit_key(user, limit.name)
            keys += [key, key + ":total"]
        return keys

    # -- idempotency --------------------------------------------------------------------------------

    def claim_idempotency(self, key, fingerprint, *, owner, at, pending_seconds) -> IdempotencyClaim:
        pending = json.dumps({"state": "pending", "fingerprint": fingerprint, "owner": owner, "at": at})
        kept = self._run(
            lambda: self._claim_idempotency(
                keys=[self._idempotency_key(key)], args=[pending, max(1, int(pending_seconds * 1000))]
            )
        )
        if kept is None:
            return IdempotencyClaim("started")
        entry = json.loads(kept)
        if entry.get("fingerprint") != fingerprint:
            return IdempotencyClaim("conflict")
        if entry.get("state") == "done":
            return IdempotencyClaim("done", entry["response"])
        return IdempotencyClaim("pending")

    def complete_idempotency(self, key, fingerprint, response, *, at, keep_seconds) -> None:
        entry = json.dumps({"state": "done", "fingerprint": fingerprint, "at": at, "response": response},
                           separators=(",", ":"))
        self._run(lambda: self._client.set(self._idempotency_key(key), entry, px=max(1, int(keep_seconds * 1000))))

    def release_idempotency(self, key: str, *, owner: str) -> None:
        self._run(lambda: self._release_idempotency(keys=[self._idempotency_key(key)], args=[owner]))

    # -- audit trail --------------------------------------------------------------------------------

    def append_audit(self, record: AuditRecord) -> None:
        key = self._audit_key(record.user)
        keep = AUDIT_KEEP_PER_USER if record.user is not None else ANONYMOUS_AUDIT_KEEP
        line = json.dumps(record.to_dict(), separators=(",", ":"), ensure_ascii=False)

        def append() -> None:
            with self._client.pipeline(transaction=True) as pipe:
                pipe.lpush(key, line)
                pipe.ltrim(key, 0, keep - 1)
                pipe.execute()

        self._run(append)

    def audit_history(self, user: str, *, limit: int = 100) -> list[AuditRecord]:
        lines = self._run(lambda: self._client.lrange(self._audit_key(user), 0, max(0, limit - 1)))
        records = [AuditRecord.from_dict(json.loads(line)) for line in lines]
        return [r for r in records if r.user == user]  # a hash collision would otherwise mix users

    # -- plumbing -----------------------------------------------------------------------------------

    def _pipelined(self, commands: Callable[[Any], object]) -> list[Any]:
        """The answers of the commands that ``commands(pipe)`` queues, sent as one non-transactional pipeline
        (its keys may be on several cluster nodes)."""

        def execute() -> list[Any]:
            with self._client.pipeline(transaction=False) as pipe:
                commands(pipe)
                return pipe.execute()

        return self._run(execute)

    def _run(self, command: Callable[[], T]) -> T:
        try:
            return command()
        except redis.RedisError as error:
            # The error's type only: its text may name the host, and the URL may carry a password.
            log.warning("ledger store failed", extra={"store": "redis", "error": type(error).__name__})
            raise LedgerUnavailable() from None

    def ping(self) -> bool:
        """Whether the store answers now (for health checks and tests)."""
        try:
            return bool(self._client.ping())
        except redis.RedisError:
            return False

    def close(self) -> None:
        self._client.close()
        self._client.connection_pool.disconnect()
