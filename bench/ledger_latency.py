"""The latency the ledger adds to a create: median over N creates against the fake VOD, per backend.

    PYTHONPATH=shared:. .venv/bin/python bench/ledger_latency.py [--requests 1000] [--redis-url URL] [--json]

Each create is one call of the function's FC 3.0 handler (``runtime.fc_handler``, what
``functions/create_upload_video/index.py`` exports) with an HTTP-trigger event as JSON bytes, built for that
call before its clock starts (bench/fc.py): event decoding, the token check, validation, the real SDK call
to a local fake VOD, the ledger, the audit record and the response struct. Backends: "none" (a no-op
in-memory ledger defined here: the baseline), SQLite (a temporary file) and Redis (database 15 under a
throwaway key prefix, deleted afterwards; skipped when no Redis answers). Two scenarios: "plain" (ownership
record + audit record: what every create pays) and "full" (plus the rate limit, both daily quotas and an
Idempotency-Key on every request). The backends take turns request by request, so drift hits them alike.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "shared"), str(Path(__file__).resolve().parents[1])]

from bench.fc import create_invocation  # noqa: E402
from functions.create_upload_video.operation import operation  # noqa: E402
from tests.fakes import aliyun_rpc  # noqa: E402
from tests.fakes.aliyun_rpc import FakeVod  # noqa: E402
from tests.ledger_fixtures import delete_prefix  # noqa: E402
from upload_broker.config import Config, Credentials  # noqa: E402
from upload_broker.ledger import IdempotencyClaim, Ledger, UploadPage  # noqa: E402
from upload_broker.runtime import Broker, fc_handler  # noqa: E402

# The fake writes its headers and body in two sends; with Nagle on, about half the answers then stall
# ~40 ms on the client's delayed ACK, which would drown what is measured here.
aliyun_rpc._Handler.disable_nagle_algorithm = True

KEY_ID, KEY_SECRET = "LTAI-bench-key", "bench-secret-not-real"
JWT_SECRET = "bench-secret-that-is-at-least-32-bytes-long"
BODY = json.dumps({"Title": "Bench", "FileName": "bench.mp4", "FileSize": 1000}).encode()


class NoLedger(Ledger):
    """Remembers nothing and refuses nothing: the baseline a real backend is compared with."""

    def record_creation(self, **_): pass
    def find(self, provider, resource_id): return None
    def record_refresh(self, **_): return True
    def release_refresh(self, **_): pass
    def mark_completed(self, **_): return None
    def list_uploads(self, owner, *, limit, status=None, after=None): return UploadPage([], None)
    def consume(self, user, limits, *, at, event_id): pass
    def release(self, user, limits, *, event_id): pass
    def claim_idempotency(self, *_, **__): return IdempotencyClaim("started")
    def complete_idempotency(self, *_, **__): pass
    def release_idempotency(self, *_, **__): pass
    def append_audit(self, record): pass
    def audit_history(self, user, *, limit=100): return []


def token() -> str:
    import jwt

    now = int(time.time())
    return jwt.encode({"sub": "bench-user", "iat": now, "exp": now + 3600}, JWT_SECRET, algorithm="HS256")


def run(handlers: dict, n: int, *, keyed: bool) -> dict[str, list[float]]:
    """Time ``n`` creates per handler, taking the handlers in turn so that drift hits every backend alike."""
    authorization = "Bearer " + token()
    extra = (lambda: {"Idempotency-Key": uuid.uuid4().hex}) if keyed else None
    calls = {name: create_invocation(handler, authorization, BODY, extra) for name, handler in handlers.items()}
    timings: dict[str, list[float]] = {name: [] for name in handlers}
    for i in range(n + 20):
        for name, call in calls.items():
            elapsed = call.timed() / 1e9  # raises unless a 200 with a VideoId
            if i >= 20:  # the first ones warm connections and caches
                timings[name].append(elapsed)
    return timings


def redis_answers(url: str) -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5).ping())
    except Exception:  # noqa: BLE001 - any failure means: no Redis to measure
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = parser.parse_args()

    import logging

    logging.getLogger("upload_broker").setLevel(logging.WARNING)  # keep audit lines out of the timing
    prefix = f"bench:{uuid.uuid4().hex}:"
    with FakeVod({KEY_ID: KEY_SECRET}) as fake, tempfile.TemporaryDirectory() as tmp:
        base = dict(credentials=Credentials(KEY_ID, KEY_SECRET), vod_endpoint=fake.url, jwt_secret=JWT_SECRET)
        full = dict(quota_creates_per_day=10**9, quota_bytes_per_day=10**15, rate_per_minute=10**9)
        urls = {"none": None, "sqlite": f"sqlite:///{tmp}/bench.sqlite3"}
        skipped = None
        if redis_answers(args.redis_url):
            urls["redis"] = f"{args.redis_url}?prefix={prefix}"
        else:
            skipped = f"no Redis answers at {args.redis_url}"
        results: dict[tuple[str, str], list[float]] = {}
        for scenario, extra in (("plain", {}), ("full", full)):
            brokers = {
                name: Broker(Config(**base, **extra, ledger_url=url or "sqlite:///:memory:"),
                             ledger=NoLedger() if url is None else None)
                for name, url in urls.items()
            }
            handlers = {name: fc_handler(broker, [operation]) for name, broker in brokers.items()}
            for name, timings in run(handlers, args.requests, keyed=scenario == "full").items():
                results[(scenario, name)] = timings
            for broker in brokers.values():
                broker.ledger.close()
        if "redis" in urls:
            try:
                delete_prefix(args.redis_url, prefix)
            except Exception:  # noqa: BLE001 - cleanup only
                pass

    rows = []
    for (scenario, name), timings in results.items():
        median = statistics.median(timings) * 1000
        deciles = statistics.quantiles(timings, n=10)
        added = median - statistics.median(results[(scenario, "none")]) * 1000
        rows.append({"scenario": scenario, "backend": name, "median_ms": round(median, 3),
                     "p10_ms": round(deciles[0] * 1000, 3), "p90_ms": round(deciles[-1] * 1000, 3),
                     "added_ms": round(added, 3)})
    if args.json:
        print(json.dumps({"requests": args.requests, "redis_skipped": skipped, "rows": rows}))
        return
    print(f"latency of a create over {args.requests} requests per backend (ms); 'added' = median - median(none)")
    if skipped:
        print(f"redis: skipped ({skipped})")
    print(f"{'scenario':<8} {'backend':<8} {'median':>8} {'p10':>8} {'p90':>8} {'added':>8}")
    for row in rows:
        print(f"{row['scenario']:<8} {row['backend']:<8} {row['median_ms']:8.3f} {row['p10_ms']:8.3f} "
              f"{row['p90_ms']:8.3f} {row['added_ms']:+8.3f}")


if __name__ == "__main__":
    main()
