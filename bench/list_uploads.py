"""GET /v1/uploads for a user with 100,000 uploads, per ledger backend, through the FC 3.0 handler.

    .venv/bin/python bench/list_uploads.py                 # N = 100,000 (about 1-2 minutes on 2 cores)
    .venv/bin/python bench/list_uploads.py --quick         # N = 10,000, fewer rounds: a smoke run
    .venv/bin/python bench/list_uploads.py --uploads 20000 --rounds 100 --backends sqlite,redis --json

For each backend - SQLite (a temporary file), Redis (127.0.0.1:6379 database 15, under a key prefix of its
own, deleted afterwards; skipped when no Redis answers) and Tablestore (the project's fake,
tests/fakes/tablestore.py, started in this process as tests/ledger_fixtures.py starts it, under a table prefix
of its own, dropped afterwards) - the ledger holds:

- the "large" user: N uploads created 1 ms apart, 1% of them pending (every 100th) and 99% completed;
- the "small" user: 100 uploads, created 1 ms apart, 1 pending;
- 20 other users with 100 uploads each, created over the same span as the large user's.

Every call is one ``handler(event, context)`` of the list_uploads function (``runtime.fc_handler`` over
``functions.list_uploads.operation``, what ``functions/list_uploads/index.py`` exports) with a Broker on that
ledger, an HS256 bearer token and an FC 3.0 HTTP-trigger event built for that call before its clock starts
(bench/fc.py); the answer is checked after it stops (a 200 with exactly the expected uploads). Cases, per user:

- ``first``: MaxResults=100, no NextToken (the newest 100);
- ``deep`` (large user): 20 consecutive pages of 100 through NextToken, starting after the newest N/2 uploads
  (the starting token is made with ``upload_broker.uploads.next_token`` for the upload at that place, which the
  handler verifies against the ledger as it verifies any token); the walk then starts again. For the small
  user, ``deep`` is the page after a NextToken naming its newest upload (99 uploads, the last page);
- ``pending``: Status=pending, MaxResults=100 (the 1% among 99% completed: the status index at work).

The six cases take turns call by call (one round = one call of each), so drift hits them alike. Nothing here
asserts a time.

How each ledger is filled (population time is reported; it is not part of any figure):

- SQLite: every upload through the ledger's own ``record_creation`` and ``mark_completed``. The connection's
  ``synchronous`` is OFF while filling (no fsync per transaction) and back to the ledger's NORMAL before timing.
- Redis: the large user's uploads through the ledger's own Lua scripts, sent in pipelines of 1,000 uploads, with
  the keys and arguments ``record_creation`` and ``mark_completed`` send (one upload done through the methods
  costs four round trips: some 80 s for 100,000 here); everyone else's through the methods themselves.
- Tablestore: 100,000 uploads through the SDK to the fake take about 11 ms each (well over 10 minutes), so the
  large and the other users' rows are stored straight into the fake's tables (``FakeTablestore.load``), laid
  out as ``TablestoreLedger.record_creation`` and ``mark_completed`` write them; the small user's go through
  the ledger's methods over the SDK.

The bulk paths are checked first: the same two uploads (one pending, one completed) written through the
ledger's methods under one prefix and through the bulk path under another must leave identical data (Redis:
every key, field and set member; Tablestore: every row of resources, uploads and upload_states, all but the
random version token ``v``); the run stops if they differ.

The Tablestore figures include the fake itself (HTTP server, PlainBuffer and protobuf coding in Python), which
runs in this process and shares its GIL with the handler: they show that a page is a few constant-size calls
whatever N is, not the service's latency. After filling, ``gc.freeze()`` moves everything built so far (the
fake's rows among it) out of the collector's reach, so collections of the bench's own data do not land in the
timings.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _entry in (str(ROOT / "shared"), str(ROOT)):
    if _entry not in sys.path:
        sys.path.insert(0, _entry)

from bench.fc import FcContext, event_bytes  # noqa: E402
from functions.list_uploads.operation import operation  # noqa: E402
from tests.ledger_fixtures import delete_prefix  # noqa: E402
from upload_broker.config import Config, Credentials  # noqa: E402
from upload_broker.ledger import COMPLETED, PENDING, Ledger, Position, created_ms  # noqa: E402
from upload_broker.runtime import Broker, fc_handler  # noqa: E402
from upload_broker.uploads import next_token  # noqa: E402

JWT_SECRET = "bench-secret-that-is-at-least-32-bytes-long"
KEY_ID, KEY_SECRET = "LTAI-bench-key", "bench-secret-not-real"
REDIS_URL = "redis://127.0.0.1:6379/15"
PROVIDER, KIND, ACTION = "vod", "video", "CreateUploadVideo"
LARGE, SMALL = "bench-large-user", "bench-small-user"
SMALL_UPLOADS = 100
OTHER_USERS, OTHER_UPLOADS = 20, 100
PAGE = 100
DEEP_PAGES = 20
BACKENDS = ("sqlite", "redis", "tablestore")


@dataclass(frozen=True)
class Upload:
    owner: str
    resource_id: str
    at: float
    completed_at: float | None
    request_id: str
    upstream_request_id: str

    @property
    def status(self) -> str:
        return PENDING if self.completed_at is None else COMPLETED

    @property
    def position(self) -> Position:
        return Position(created_ms(self.at), PROVIDER, self.resource_id)


def uploads_of(owner: str, tag: int, count: int, first_ms: int, step_ms: int = 1) -> list[Upload]:
    """``count`` uploads of ``owner``, oldest first, ``step_ms`` apart; every 100th (the oldest first) pending."""
    made = []
    for i in range(count):
        ms = first_ms + i * step_ms
        at = ms / 1000 + 0.0004  # inside its millisecond: created_ms(at) == ms whatever the float rounding
        made.append(Upload(
            owner=owner,
            resource_id=f"{tag:08x}{i:024x}",  # 32 hex digits, like a VOD VideoId
            at=at,
            completed_at=None if i % 100 == 0 else at + 30.0,
            request_id=f"1-{ms // 1000:08x}-{tag:08x}{i:016x}",
            upstream_request_id=f"{tag:08X}-BENC-H000-{i // 10**12:04X}-{i % 10**12:012d}",
        ))
    return made


@dataclass
class Population:
    large: list[Upload]
    small: list[Upload]
    others: list[Upload]

    @classmethod
    def make(cls, n: int) -> Population:
        first = int(time.time() * 1000) - n - 10_000
        large = uploads_of(LARGE, 1, n, first)
        small = uploads_of(SMALL, 2, SMALL_UPLOADS, first + n // 2)
        step = max(1, n // OTHER_UPLOADS)
        others = [u for j in range(OTHER_USERS) for u in uploads_of(f"bench-other-{j}", 100 + j, OTHER_UPLOADS,
                                                                      first + j, step)]
        return cls(large, small, others)


# --- filling the ledgers -------------------------------------------------------------------------------------


def through_methods(ledger: Ledger, uploads: list[Upload]) -> None:
    """What the broker does: ``record_creation`` at the create, ``mark_completed`` when the upstream has the file."""
    for u in uploads:
        ledger.record_creation(provider=PROVIDER, resource_id=u.resource_id, owner=u.owner, kind=KIND,
                               operation=ACTION, request_id=u.request_id,
                               upstream_request_id=u.upstream_request_id, at=u.at)
        if u.completed_at is not None:
            ledger.mark_completed(provider=PROVIDER, resource_id=u.resource_id, at=u.completed_at)


def fill_sqlite(ledger: Any, population: Population) -> str:
    ledger._db.execute("PRAGMA synchronous=OFF")
    try:
        everyone = sorted(population.large + population.small + population.others, key=lambda u: u.at)
        through_methods(ledger, everyone)
    finally:
        ledger._db.execute("PRAGMA synchronous=NORMAL")
    return "every upload through record_creation + mark_completed (synchronous=OFF while filling)"


def redis_bulk(ledger: Any, uploads: list[Upload], batch: int = 1000) -> None:
    """The commands RedisLedger.record_creation and .mark_completed send for each upload - its own registered
    Lua scripts, keys and arguments - in pipelines instead of four round trips per upload."""
    from upload_broker.ledger import redis as redis_ledger

    for start in range(0, len(uploads), batch):
        pipe = ledger._client.pipeline(transaction=False)
        creations = []
        for u in uploads[start:start + batch]:
            key = ledger._resource_key(PROVIDER, u.resource_id)
            fields = {  # as record_creation builds them
                "owner": u.owner, "kind": KIND, "operation": ACTION, "request_id": u.request_id,
                "upstream_request_id": u.upstream_request_id or "", "created_at": repr(float(u.at)),
                "refresh_count": 0,
            }
            creations.append(len(pipe))
            ledger._record_creation(keys=[key], args=[x for pair in fields.items() for x in pair], client=pipe)
            member = redis_ledger._member(u.position)
            ledger._index_creation(keys=ledger._upload_keys(u.owner), args=[member], client=pipe)
            if u.completed_at is not None:
                ledger._mark_completed(keys=[key], args=[repr(float(u.completed_at))], client=pipe)
                ledger._index_completion(keys=ledger._upload_keys(u.owner), args=[member], client=pipe)
        answers = pipe.execute()
        if any(answers[i] != 1 for i in creations):
            raise RuntimeError("a bulk record_creation found its resource already there")


def redis_dump(url: str, prefix: str) -> dict[str, Any]:
    import redis

    client = redis.Redis.from_url(url, decode_responses=True)
    dump: dict[str, Any] = {}
    for key in client.scan_iter(match=prefix + "*", count=1000):
        kind = client.type(key)
        if kind == "hash":
            value: Any = client.hgetall(key)
        elif kind == "zset":
            value = client.zrange(key, 0, -1, withscores=True)
        else:
            value = (kind, "not compared")
        dump[key.removeprefix(prefix)] = value
    client.close()
    return dump


_PARITY_MS = int(time.time() * 1000) - 5000


def parity_sample() -> list[Upload]:
    return uploads_of("bench-parity-user", 9, 2, _PARITY_MS)  # one pending, one completed


def check_redis_parity() -> None:
    from upload_broker.ledger.redis import RedisLedger

    by_methods, in_bulk = f"bench-parity-{uuid.uuid4().hex}:", f"bench-parity-{uuid.uuid4().hex}:"
    try:
        one = RedisLedger(f"{REDIS_URL}?prefix={by_methods}")
        two = RedisLedger(f"{REDIS_URL}?prefix={in_bulk}")
        through_methods(one, parity_sample())
        redis_bulk(two, parity_sample())
        one.close()
        two.close()
        expected, found = redis_dump(REDIS_URL, by_methods), redis_dump(REDIS_URL, in_bulk)
        if not expected or expected != found:
            raise RuntimeError(f"the Redis bulk path does not write what the ledger writes:\n{expected}\n{found}")
    finally:
        delete_prefix(REDIS_URL, by_methods)
        delete_prefix(REDIS_URL, in_bulk)


def fill_redis(ledger: Any, population: Population) -> str:
    check_redis_parity()
    redis_bulk(ledger, population.large)
    through_methods(ledger, population.small + population.others)
    return (f"large user ({len(population.large):,}): the ledger's own Lua scripts, keys and arguments, pipelined "
            "(checked against record_creation + mark_completed); everyone else through those methods")


def tablestore_rows(ledger: Any, uploads: list[Upload]) -> dict[str, list[dict[str, Any]]]:
    """The rows TablestoreLedger.record_creation writes (resources, uploads, the pending upload_states row) and
    mark_completed then changes (completed_at; the state row moves to the completed partition), per table."""
    from upload_broker.ledger import tablestore as ots

    tables: dict[str, list[dict[str, Any]]] = {"resources": [], "uploads": [], "upload_states": []}
    for u in uploads:
        key = ledger._resource_key(PROVIDER, u.resource_id)
        resource = {"id": key, "owner": u.owner, "kind": KIND, "operation": ACTION, "request_id": u.request_id,
                    "created_at": float(u.at), "refresh_count": 0, "v": ots._token()}
        if u.upstream_request_id:
            resource["upstream_request_id"] = u.upstream_request_id
        if u.completed_at is not None:
            resource["completed_at"] = float(u.completed_at)
        user, created = ots._hash(u.owner), created_ms(u.at)
        index = {"created": created, "id": key, "provider": PROVIDER, "resource_id": u.resource_id, "kind": KIND}
        tables["resources"].append(resource)
        tables["uploads"].append({"user_hash": user, **index})
        tables["upload_states"].append({"user_state": f"{user}:{ots._STATE_TAGS[u.status]}", **index})
    return tables


def load_tablestore(fake: Any, ledger: Any, uploads: list[Upload]) -> None:
    for table, rows in tablestore_rows(ledger, uploads).items():
        fake.load(ledger.tables[table], rows)


def check_tablestore_parity(fake: Any, credentials: Callable[[], Credentials]) -> None:
    from upload_broker.ledger.tablestore import TablestoreLedger

    by_methods, in_bulk = f"p{uuid.uuid4().hex[:12]}_", f"p{uuid.uuid4().hex[:12]}_"
    try:
        one = TablestoreLedger(fake.ledger_url(by_methods), credentials=credentials)
        two = TablestoreLedger(fake.ledger_url(in_bulk), credentials=credentials)
        one.ensure_tables()
        two.ensure_tables()
        through_methods(one, parity_sample())
        load_tablestore(fake, two, parity_sample())
        one.close()
        two.close()
        for table in ("resources", "uploads", "upload_states"):
            def typed(prefix: str, table: str = table) -> list[dict[str, Any]]:
                rows = fake.rows(prefix + table)
                if any(not isinstance(row.get("v", ""), str) for row in rows):
                    raise RuntimeError(f"a {table} row's version is not a string")
                return [{k: (type(v).__name__, v) for k, v in row.items() if k != "v"} for row in rows]

            expected, found = typed(by_methods), typed(in_bulk)
            if not expected or expected != found:
                raise RuntimeError(f"the Tablestore rows loaded are not what the ledger writes in {table}:\n"
                                   f"{expected}\n{found}")
    finally:
        fake.drop_tables(by_methods)
        fake.drop_tables(in_bulk)


def fill_tablestore(fake: Any, credentials: Callable[[], Credentials]) -> Callable[[Any, Population], str]:
    def fill(ledger: Any, population: Population) -> str:
        check_tablestore_parity(fake, credentials)
        ledger.ensure_tables()
        load_tablestore(fake, ledger, population.large + population.others)
        through_methods(ledger, population.small)
        return (f"large and other users ({len(population.large) + len(population.others):,}): rows stored straight "
                "into the fake as the ledger writes them (checked against record_creation + mark_completed); "
                f"small user ({len(population.small)}): through those methods over the SDK")

    return fill


# --- the timed calls --------------------------------------------------------------------------------------------


def bearer(user: str) -> str:
    import jwt

    now = int(time.time())
    return "Bearer " + jwt.encode({"sub": user, "iat": now, "exp": now + 3600}, JWT_SECRET, algorithm="HS256")


class Case:
    """One kind of listing call: ``prepare()`` builds the event (untimed), ``check(result)`` verifies the page
    (untimed) and, for a walk, moves to the next page."""

    def __init__(self, user: str, authorization: str, query: Callable[[], dict[str, str]],
                 expected: Callable[[], tuple[list[str], bool]],
                 advance: Callable[[str | None], None] = lambda _: None) -> None:
        self.user = user
        self.headers = {"Authorization": authorization, "User-Agent": "bench/1.0"}
        self.query = query
        self.expected = expected
        self.advance = advance

    def prepare(self) -> tuple[bytes, FcContext]:
        event, request_id = event_bytes("GET", "/v1/uploads", b"", self.headers, query=self.query())
        return event, FcContext(request_id, "list_uploads")

    def check(self, result: Any) -> None:
        if not isinstance(result, dict) or result.get("statusCode") != 200:
            raise RuntimeError(f"the handler answered {str(result)[:300]}")
        answer = json.loads(result["body"])
        ids, more = self.expected()
        listed = [u["Id"] for u in answer["Uploads"]]
        if listed != ids or (answer["NextToken"] is not None) != more:
            raise RuntimeError(f"{self.user}: expected {len(ids)} uploads (more: {more}), got {len(listed)} "
                               f"(NextToken: {answer['NextToken'] is not None}); first {listed[:2]} vs {ids[:2]}")
        self.advance(answer["NextToken"])


def cases_for(population: Population) -> dict[tuple[str, str], Case]:
    made: dict[tuple[str, str], Case] = {}
    for name, user, uploads in (("large", LARGE, population.large), ("small", SMALL, population.small)):
        authorization = bearer(user)
        newest = [u.resource_id for u in reversed(uploads)]
        pending = [u.resource_id for u in reversed(uploads) if u.completed_at is None]
        first, pend = newest[:PAGE], pending[:PAGE]
        made[(name, "first")] = Case(user, authorization, lambda: {"MaxResults": str(PAGE)},
                                     partial(_page, first, len(newest) > PAGE))
        skip = len(uploads) // 2 if name == "large" else 1
        pages = min(DEEP_PAGES, (len(newest) - skip) // PAGE) if name == "large" else 1
        start = next_token(user, uploads[len(uploads) - skip].position, None)  # the skip-th newest
        made[(name, "deep")] = walk(user, authorization, newest, skip, max(1, pages), start)
        made[(name, "pending")] = Case(user, authorization, lambda: {"MaxResults": str(PAGE), "Status": PENDING},
                                       partial(_page, pend, len(pending) > PAGE))
    return made


def _page(ids: list[str], more: bool) -> tuple[list[str], bool]:
    return ids, more


def walk(user: str, authorization: str, newest: list[str], skip: int, pages: int, start: str) -> Case:
    """``pages`` consecutive pages from ``start`` (after the ``skip`` newest), then from ``start`` again."""
    page, cursor = [0], [start]

    def query() -> dict[str, str]:
        return {"MaxResults": str(PAGE), "NextToken": cursor[0]}

    def expected() -> tuple[list[str], bool]:
        begin = skip + page[0] * PAGE
        return newest[begin:begin + PAGE], begin + PAGE < len(newest)

    def advance(token: str | None) -> None:
        page[0] += 1
        if page[0] >= pages or token is None:
            page[0], cursor[0] = 0, start
        else:
            cursor[0] = token

    return Case(user, authorization, query, expected, advance)


def time_cases(handler: Callable[[Any, Any], Any], cases: dict[tuple[str, str], Case], rounds: int,
               warmup: int) -> dict[tuple[str, str], list[float]]:
    """``rounds`` rounds, each one call of every case in turn; the latency (ms) of each call."""
    timings: dict[tuple[str, str], list[float]] = {key: [] for key in cases}
    clock = time.perf_counter_ns
    for index in range(warmup + rounds):
        for key, case in cases.items():
            prepared = case.prepare()
            started = clock()
            result = handler(*prepared)
            elapsed = clock() - started
            case.check(result)
            if index >= warmup:
                timings[key].append(elapsed / 1e6)
    return timings


def quantile(values: list[float], q: float) -> float:
    """Nearest-rank quantile (as bench/run.py)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(-(-q * len(ordered) // 1)) - 1))]


# --- the backends -------------------------------------------------------------------------------------------------


def redis_answers(url: str) -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5).ping())
    except Exception:  # noqa: BLE001 - any failure means: no Redis to measure
        return False


@contextmanager
def opened(backend: str, stack: ExitStack) -> Iterator[tuple[Ledger, Callable[[Any, Population], str]]]:
    """The backend's ledger (in a store of its own, removed afterwards) and how to fill it."""
    if backend == "sqlite":
        from upload_broker.ledger.sqlite import SqliteLedger

        with tempfile.TemporaryDirectory(prefix="bench-list-") as tmp:
            ledger: Ledger = SqliteLedger(str(Path(tmp) / "ledger.sqlite3"))
            try:
                yield ledger, fill_sqlite
            finally:
                ledger.close()
    elif backend == "redis":
        from upload_broker.ledger.redis import RedisLedger

        prefix = f"bench-list-{uuid.uuid4().hex}:"
        ledger = RedisLedger(f"{REDIS_URL}?prefix={prefix}")
        try:
            yield ledger, fill_redis
        finally:
            ledger.close()
            delete_prefix(REDIS_URL, prefix)
    else:
        from tests.fakes.tablestore import FakeTablestore
        from upload_broker.ledger.tablestore import TablestoreLedger

        fake = FakeTablestore({KEY_ID: KEY_SECRET}).start()
        stack.callback(fake.stop)
        credentials = Credentials(KEY_ID, KEY_SECRET)
        prefix = f"b{uuid.uuid4().hex[:12]}_"
        ledger = TablestoreLedger(fake.ledger_url(prefix), credentials=lambda: credentials)
        try:
            yield ledger, fill_tablestore(fake, lambda: credentials)
        finally:
            ledger.close()
            fake.drop_tables(prefix)


def run_backend(backend: str, population: Population, rounds: int, warmup: int) -> dict[str, Any]:
    with ExitStack() as stack, opened(backend, stack) as (ledger, fill):
        started = time.monotonic()
        method = fill(ledger, population)
        filled = time.monotonic() - started
        broker = Broker(Config(jwt_secret=JWT_SECRET, ledger_url="sqlite:///:memory:",
                               credentials=Credentials(KEY_ID, KEY_SECRET)), ledger=ledger)
        handler = fc_handler(broker, [operation])
        cases = cases_for(population)
        gc.collect()
        gc.freeze()
        try:
            timings = time_cases(handler, cases, rounds, warmup)
        finally:
            gc.unfreeze()
    rows = []
    for (user, case), values in timings.items():
        rows.append({
            "backend": backend, "user": user, "uploads": len(population.large if user == "large" else population.small),
            "case": case, "n": len(values), "p50_ms": round(quantile(values, 0.5), 3),
            "p99_ms": round(quantile(values, 0.99), 3), "max_ms": round(max(values), 3),
        })
    return {"backend": backend, "populate_seconds": round(filled, 1), "populate": method, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/list_uploads.py", description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, help="the large user's uploads (default 100000; quick 10000)")
    parser.add_argument("--rounds", type=int, help="timed calls per case (default 200; quick 20)")
    parser.add_argument("--quick", action="store_true", help="a small smoke run (figures are noisy)")
    parser.add_argument("--backends", default=",".join(BACKENDS),
                        help="comma-separated subset of " + ",".join(BACKENDS))
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args(argv)
    n = args.uploads or (10_000 if args.quick else 100_000)
    rounds = args.rounds or (20 if args.quick else 200)
    warmup = 3 if args.quick else 10
    if n < 2 * PAGE:
        parser.error(f"--uploads must be at least {2 * PAGE}")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if unknown := set(backends) - set(BACKENDS):
        parser.error(f"unknown backends: {', '.join(sorted(unknown))}")

    logging.getLogger("upload_broker").setLevel(logging.WARNING)  # keep audit lines out of the timing
    load_before = os.getloadavg()
    started = time.monotonic()
    population = Population.make(n)
    results, skipped = [], {}
    for backend in backends:
        if backend == "redis" and not redis_answers(REDIS_URL):
            skipped[backend] = f"no Redis answers at {REDIS_URL}"
            continue
        print(f"[{time.monotonic() - started:6.1f}s] {backend}: filling, then {rounds} rounds", file=sys.stderr,
              flush=True)
        results.append(run_backend(backend, population, rounds, warmup))
    report = {
        "uploads": n, "small_uploads": SMALL_UPLOADS, "other_uploads": OTHER_USERS * OTHER_UPLOADS,
        "rounds": rounds, "deep_skip": n // 2, "deep_pages": min(DEEP_PAGES, (n - n // 2) // PAGE),
        "quick": args.quick, "skipped": skipped, "backends": results,
        "rows": [row for result in results for row in result["rows"]],
        "loadavg_before": [round(x, 2) for x in load_before], "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "cpu_count": os.cpu_count(), "wall_seconds": round(time.monotonic() - started, 1),
    }
    if args.json:
        print(json.dumps(report))
        return 0
    print(f"GET /v1/uploads through the FC handler: large user {n:,} uploads (1% pending), small user "
          f"{SMALL_UPLOADS}, {OTHER_USERS} others x {OTHER_UPLOADS}; {rounds} calls per case (ms)")
    print(f"deep = pages 1-{report['deep_pages']} after the newest {n // 2:,} via NextToken (small user: the page "
          "after its newest); pending = Status=pending, first page")
    for name, why in skipped.items():
        print(f"{name}: skipped ({why})")
    print(f"{'backend':<11}{'user':<7}{'uploads':>8}  {'case':<8}{'p50':>8}{'p99':>8}{'max':>8}")
    for row in report["rows"]:
        print(f"{row['backend']:<11}{row['user']:<7}{row['uploads']:>8,}  {row['case']:<8}{row['p50_ms']:8.2f}"
              f"{row['p99_ms']:8.2f}{row['max_ms']:8.2f}")
    for result in results:
        print(f"{result['backend']}: filled in {result['populate_seconds']:.1f} s - {result['populate']}")
    print(f"load average before / after: {' / '.join(map(str, report['loadavg_before']))} ; "
          f"{' / '.join(map(str, report['loadavg_after']))} ({report['cpu_count']} cores); "
          f"wall {report['wall_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
