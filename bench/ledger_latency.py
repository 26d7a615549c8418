"""The latency the ledger adds to a create: median over N creates against the fake VOD, per backend.

    PYTHONPATH=shared:. .venv/bin/python bench/ledger_latency.py [--requests 1000] [--redis-url URL]

Each create goes through the whole WSGI pipeline (token check, validation, the real SDK call to a local
fake VOD, the ledger). Backends: "none" (a no-op in-memory ledger defined here: the baseline), SQLite (a
temporary file) and Redis (database 15 under a throwaway key prefix, deleted afterwards). Two scenarios:
"plain" (ownership record + audit record: what every create pays) and "full" (plus the rate limit,
both daily quotas and an Idempotency-Key on every request).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "shared"), str(Path(__file__).resolve().parents[1])]

from functions.create_upload_video.operation import operation  # noqa: E402
from tests.fakes import aliyun_rpc  # noqa: E402
from tests.fakes.aliyun_rpc import FakeVod  # noqa: E402
from upload_broker.config import Config, Credentials  # noqa: E402
from upload_broker.ledger import IdempotencyClaim, Ledger  # noqa: E402
from upload_broker.runtime import Broker, wsgi_app  # noqa: E402

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


def environ_for(authorization: str, keyed: bool) -> dict:
    environ = {
        "REQUEST_METHOD": "POST", "PATH_INFO": "/v1/videos", "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(BODY)), "wsgi.input": io.BytesIO(BODY), "REMOTE_ADDR": "127.0.0.1",
        "HTTP_AUTHORIZATION": authorization, "HTTP_USER_AGENT": "bench/1.0",
    }
    if keyed:
        environ["HTTP_IDEMPOTENCY_KEY"] = uuid.uuid4().hex
    return environ


def run(apps: dict, n: int, *, keyed: bool) -> dict[str, list[float]]:
    """Time ``n`` creates per app, taking the apps in turn so that drift hits every backend alike."""
    authorization = "Bearer " + token()
    timings: dict[str, list[float]] = {name: [] for name in apps}
    for i in range(n + 20):
        for name, app in apps.items():
            status: list[str] = []
            environ = environ_for(authorization, keyed)
            started = time.perf_counter()
            app(environ, lambda s, h, status=status: status.append(s))
            elapsed = time.perf_counter() - started
            if not status[0].startswith("200"):
                raise SystemExit(f"{name}: create failed: {status[0]}")
            if i >= 20:  # the first ones warm connections and caches
                timings[name].append(elapsed)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    args = parser.parse_args()

    import logging

    logging.getLogger("upload_broker").setLevel(logging.WARNING)  # keep audit lines out of the timing
    prefix = f"bench:{uuid.uuid4().hex}:"
    with FakeVod({KEY_ID: KEY_SECRET}) as fake, tempfile.TemporaryDirectory() as tmp:
        base = dict(credentials=Credentials(KEY_ID, KEY_SECRET), vod_endpoint=fake.url, jwt_secret=JWT_SECRET)
        full = dict(quota_creates_per_day=10**9, quota_bytes_per_day=10**15, rate_per_minute=10**9)
        urls = {"none": None, "sqlite": f"sqlite:///{tmp}/bench.sqlite3", "redis": f"{args.redis_url}?prefix={prefix}"}
        results: dict[tuple[str, str], list[float]] = {}
        for scenario, extra in (("plain", {}), ("full", full)):
            brokers = {
                name: Broker(Config(**base, **extra, ledger_url=url or "sqlite:///:memory:"),
                             ledger=NoLedger() if url is None else None)
                for name, url in urls.items()
            }
            apps = {name: wsgi_app(broker, [operation]) for name, broker in brokers.items()}
            for name, timings in run(apps, args.requests, keyed=scenario == "full").items():
                results[(scenario, name)] = timings
            for broker in brokers.values():
                broker.ledger.close()
        try:
            import redis

            client = redis.Redis.from_url(args.redis_url)
            keys = list(client.scan_iter(match=prefix + "*", count=1000))
            if keys:
                client.delete(*keys)
        except Exception:  # noqa: BLE001 - cleanup only
            pass

    print(f"latency of a create over {args.requests} requests per backend (ms); 'added' = median - median(none)")
    print(f"{'scenario':<8} {'backend':<8} {'median':>8} {'p10':>8} {'p90':>8} {'added':>8}")
    for (scenario, name), timings in results.items():
        median = statistics.median(timings) * 1000
        deciles = statistics.quantiles(timings, n=10)
        added = median - statistics.median(results[(scenario, "none")]) * 1000
        print(f"{scenario:<8} {name:<8} {median:8.3f} {deciles[0] * 1000:8.3f} {deciles[-1] * 1000:8.3f} {added:+8.3f}")


if __name__ == "__main__":
    main()
