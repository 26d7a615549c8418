"""The ledger's contract, run against every backend (SQLite, a real Redis, Tablestore on its fake): one suite."""

from __future__ import annotations

import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests import ledger_fixtures
from upload_broker.ledger import AuditRecord, LedgerUnavailable, Limit, LimitExceeded, open_ledger
from upload_broker.ledger.base import retry_after
from upload_broker.ledger.redis import DEFAULT_PREFIX, split_url

# Fixtures used here (module attributes, so pytest finds them).
ledger = ledger_fixtures.ledger
ledger_url = ledger_fixtures.ledger_url
redis_ledger_url = ledger_fixtures.redis_ledger_url

NOW = 1_700_000_000.0
DAY = 86400.0


def create(ledger, resource_id="v1", owner="alice", at=NOW):
    ledger.record_creation(provider="vod", resource_id=resource_id, owner=owner, kind="video",
                           operation="CreateUploadVideo", request_id="req-1", upstream_request_id="up-1", at=at)


# --- ownership ---------------------------------------------------------------------------------------------


def test_a_created_resource_is_found_with_its_owner(ledger):
    create(ledger)
    found = ledger.find("vod", "v1")
    assert (found.owner, found.kind, found.created_at, found.refresh_count) == ("alice", "video", NOW, 0)
    assert ledger.find("vod", "other") is None
    assert ledger.find("ice", "v1") is None


def test_the_first_owner_of_an_id_keeps_it(ledger):
    create(ledger, owner="alice")
    create(ledger, owner="mallory")
    assert ledger.find("vod", "v1").owner == "alice"


def test_refreshes_are_counted_up_to_the_limit_and_can_be_released(ledger):
    create(ledger)
    assert ledger.record_refresh(provider="vod", resource_id="v1", at=NOW, limit=2)
    assert ledger.record_refresh(provider="vod", resource_id="v1", at=NOW, limit=2)
    assert not ledger.record_refresh(provider="vod", resource_id="v1", at=NOW, limit=2)
    assert ledger.find("vod", "v1").refresh_count == 2
    ledger.release_refresh(provider="vod", resource_id="v1")
    assert ledger.find("vod", "v1").refresh_count == 1
    assert ledger.record_refresh(provider="vod", resource_id="v1", at=NOW, limit=None)
    assert ledger.record_refresh(provider="vod", resource_id="v1", at=NOW, limit=None)
    assert ledger.find("vod", "v1").refresh_count == 3


def test_a_refresh_of_an_unknown_resource_counts_nothing(ledger):
    assert not ledger.record_refresh(provider="vod", resource_id="nope", at=NOW)
    ledger.release_refresh(provider="vod", resource_id="nope")
    assert ledger.find("vod", "nope") is None


# --- quotas and rate limits ------------------------------------------------------------------------------


def test_consume_counts_until_the_limit_then_says_when_to_retry(ledger):
    limit = Limit("creates", 3, DAY)
    for offset in (0, 10, 20):
        ledger.consume("alice", [limit], at=NOW + offset, event_id=uuid.uuid4().hex)
    with pytest.raises(LimitExceeded) as refused:
        ledger.consume("alice", [limit], at=NOW + 100.5, event_id="e4")
    # The oldest event (at NOW) leaves the window at NOW + DAY: 86299.5 s later, rounded up.
    assert refused.value.retry_after == 86300
    assert refused.value.limit == limit
    # Other users and other counters are separate.
    ledger.consume("bob", [limit], at=NOW + 100, event_id="b1")
    ledger.consume("alice", [Limit("requests", 3, 60)], at=NOW + 100, event_id="r1")


def test_events_leave_the_window(ledger):
    limit = Limit("requests", 2, 60)
    ledger.consume("alice", [limit], at=NOW, event_id="a")
    ledger.consume("alice", [limit], at=NOW + 30, event_id="b")
    with pytest.raises(LimitExceeded) as refused:
        ledger.consume("alice", [limit], at=NOW + 59, event_id="c")
    assert refused.value.retry_after == 1
    ledger.consume("alice", [limit], at=NOW + 60, event_id="c")  # "a" has left
    with pytest.raises(LimitExceeded) as refused:
        ledger.consume("alice", [limit], at=NOW + 61, event_id="d")
    assert refused.value.retry_after == 29  # "b" leaves at NOW + 90


def test_byte_amounts_wait_for_enough_bytes_to_leave(ledger):
    def limit(amount):
        return Limit("bytes", 1000, DAY, amount=amount)

    ledger.consume("alice", [limit(400)], at=NOW, event_id="a")
    ledger.consume("alice", [limit(400)], at=NOW + 100, event_id="b")
    ledger.consume("alice", [limit(200)], at=NOW + 200, event_id="c")
    with pytest.raises(LimitExceeded) as refused:
        ledger.consume("alice", [limit(500)], at=NOW + 300, event_id="d")
    # 1000 used; 500 more needs "a" (400) and "b" (400) gone: b leaves at NOW + 100 + DAY.
    assert refused.value.retry_after == int(DAY - 200)
    with pytest.raises(LimitExceeded) as refused:
        ledger.consume("alice", [limit(1001)], at=NOW + 300, event_id="e")
    assert refused.value.retry_after == int(DAY)  # never fits: a whole window


def test_consume_takes_every_limit_or_none(ledger):
    creates, small = Limit("creates", 10, DAY), Limit("bytes", 100, DAY, amount=80)
    ledger.consume("alice", [creates, small], at=NOW, event_id="a")
    with pytest.raises(LimitExceeded) as refused:
        ledger.consume("alice", [creates, small], at=NOW + 1, event_id="b")
    assert refused.value.limit.name == "bytes"
    # "b" was not counted against creates: 9 more fit.
    for n in range(9):
        ledger.consume("alice", [creates], at=NOW + 2, event_id=f"c{n}")
    with pytest.raises(LimitExceeded):
        ledger.consume("alice", [creates], at=NOW + 3, event_id="late")


def test_a_released_event_no_longer_counts(ledger):
    limits = [Limit("creates", 1, DAY), Limit("bytes", 10, DAY, amount=10)]
    ledger.consume("alice", limits, at=NOW, event_id="a")
    with pytest.raises(LimitExceeded):
        ledger.consume("alice", limits, at=NOW, event_id="b")
    ledger.release("alice", limits, event_id="a")
    ledger.consume("alice", limits, at=NOW, event_id="b")


def test_fifty_parallel_consumers_of_a_limit_of_ten_get_exactly_ten(ledger):
    limit = Limit("creates", 10, DAY)

    def take(n: int) -> bool:
        try:
            ledger.consume("alice", [limit], at=NOW + n / 1000, event_id=f"e{n}")
            return True
        except LimitExceeded:
            return False

    with ThreadPoolExecutor(50) as pool:
        results = list(pool.map(take, range(50)))
    assert results.count(True) == 10


def test_retry_after_rule():
    limit = Limit("creates", 2, 100)
    assert retry_after([], limit, 0) is None
    assert retry_after([(0, 1)], limit, 50) is None
    assert retry_after([(0, 1), (10, 1)], limit, 50) == 50
    assert retry_after([(0, 1), (10, 1)], limit, 50.2) == 50  # 49.8 s rounded up
    assert retry_after([(0, 1), (10, 1)], limit, 100) is None  # the first left at exactly 100


# --- idempotency -------------------------------------------------------------------------------------------


def test_an_idempotency_key_is_claimed_once_then_replayed(ledger):
    now = time.time()
    first = ledger.claim_idempotency("k", "fp", owner="o1", at=now, pending_seconds=30)
    assert first.state == "started"
    assert ledger.claim_idempotency("k", "fp", owner="o2", at=now, pending_seconds=30).state == "pending"
    assert ledger.claim_idempotency("k", "other", owner="o2", at=now, pending_seconds=30).state == "conflict"
    ledger.complete_idempotency("k", "fp", {"VideoId": "v1", "N": 1}, at=now, keep_seconds=60)
    done = ledger.claim_idempotency("k", "fp", owner="o3", at=now, pending_seconds=30)
    assert (done.state, done.response) == ("done", {"VideoId": "v1", "N": 1})
    assert ledger.claim_idempotency("k", "other", owner="o3", at=now, pending_seconds=30).state == "conflict"
    ledger.release_idempotency("k", owner="o1")  # a completed key is not released
    assert ledger.claim_idempotency("k", "fp", owner="o4", at=now, pending_seconds=30).state == "done"


def test_only_the_holder_releases_a_pending_key(ledger):
    now = time.time()
    ledger.claim_idempotency("k", "fp", owner="holder", at=now, pending_seconds=30)
    ledger.release_idempotency("k", owner="someone-else")
    assert ledger.claim_idempotency("k", "fp", owner="x", at=now, pending_seconds=30).state == "pending"
    ledger.release_idempotency("k", owner="holder")
    assert ledger.claim_idempotency("k", "fp", owner="x", at=now, pending_seconds=30).state == "started"


def test_a_pending_claim_lapses_and_a_kept_answer_expires(ledger):
    ledger.claim_idempotency("k", "fp", owner="dead", at=time.time(), pending_seconds=0.2)
    time.sleep(0.3)
    assert ledger.claim_idempotency("k", "fp", owner="o", at=time.time(), pending_seconds=30).state == "started"
    ledger.complete_idempotency("k", "fp", {"a": 1}, at=time.time(), keep_seconds=0.2)
    time.sleep(0.3)
    assert ledger.claim_idempotency("k", "fp", owner="o", at=time.time(), pending_seconds=30).state == "started"


def test_concurrent_claims_of_one_key_start_exactly_one(ledger):
    now = time.time()
    barrier = threading.Barrier(20)

    def claim(n: int) -> str:
        barrier.wait()
        return ledger.claim_idempotency("k", "fp", owner=f"o{n}", at=now, pending_seconds=30).state

    with ThreadPoolExecutor(20) as pool:
        states = list(pool.map(claim, range(20)))
    assert states.count("started") == 1
    assert states.count("pending") == 19


# --- audit trail -------------------------------------------------------------------------------------------


def record(user, n, outcome="issued", code=None):
    return AuditRecord(at=NOW + n, user=user, operation="CreateUploadVideo", resource_id=f"v{n}",
                       request_id=f"req-{n}", upstream_request_id=f"up-{n}", source_ip="203.0.113.9",
                       user_agent="test/1.0", outcome=outcome, code=code, status=200 if code is None else 429)


def test_audit_history_is_one_users_newest_first(ledger):
    for n in range(5):
        ledger.append_audit(record("alice", n))
    ledger.append_audit(record("bob", 9))
    ledger.append_audit(record(None, 10, "refused", "Unauthorized"))
    ledger.append_audit(record("alice", 11, "refused", "QuotaExceeded"))

    history = ledger.audit_history("alice", limit=3)

    assert [r.request_id for r in history] == ["req-11", "req-4", "req-3"]
    assert history[0] == record("alice", 11, "refused", "QuotaExceeded")
    assert len(ledger.audit_history("alice")) == 6
    assert [r.request_id for r in ledger.audit_history("bob")] == ["req-9"]
    assert ledger.audit_history("carol") == []


# --- backends ----------------------------------------------------------------------------------------------


def test_sqlite_at_an_unwritable_path_is_unavailable(tmp_path):
    with pytest.raises(LedgerUnavailable):
        open_ledger(f"sqlite:///{tmp_path}/no/such/dir/ledger.sqlite3")


def test_redis_url_prefix_is_the_brokers_and_the_rest_is_redis_pys():
    assert split_url("redis://:pw@h:6380/2") == ("redis://:pw@h:6380/2", DEFAULT_PREFIX)
    assert split_url("rediss://u:pw@h:6380/2?prefix=staging:&ssl_cert_reqs=required") == (
        "rediss://u:pw@h:6380/2?ssl_cert_reqs=required", "staging:")


def test_redis_with_tls_and_a_password_is_configured_from_the_url():
    from upload_broker.ledger.redis import RedisLedger

    ledger = RedisLedger("rediss://user:s3cret@redis.example.com:6380/3")
    kwargs = ledger._client.connection_pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("redis.example.com", 6380, 3)
    assert (kwargs["username"], kwargs["password"]) == ("user", "s3cret")
    assert ledger._client.connection_pool.connection_class.__name__ == "SSLConnection"
    assert (kwargs["socket_connect_timeout"], kwargs["socket_timeout"]) == (0.5, 1.0)
    ledger.close()


def test_a_dead_redis_fails_fast_with_ledger_unavailable():
    from tests.ledger_fixtures import free_port
    from upload_broker.ledger.redis import RedisLedger

    ledger = RedisLedger(f"redis://127.0.0.1:{free_port()}/0")
    started = time.monotonic()
    with pytest.raises(LedgerUnavailable):
        ledger.find("vod", "v1")
    assert time.monotonic() - started < 2
    ledger.close()


def test_redis_keys_stay_under_the_prefix(redis_ledger_url):
    import redis

    ledger = open_ledger(redis_ledger_url)
    create(ledger)
    ledger.consume("alice", [Limit("creates", 5, DAY)], at=NOW, event_id="a")
    ledger.claim_idempotency("k", "fp", owner="o", at=time.time(), pending_seconds=30)
    ledger.append_audit(record("alice", 1))
    prefix = redis_ledger_url.split("prefix=")[1]
    client = redis.Redis.from_url(redis_ledger_url.split("?")[0])
    keys = sorted(k.decode() for k in client.scan_iter(match=prefix + "*"))
    # A counter is a set and its total; the user's uploads index is two sets (all, pending).
    assert len(keys) == 7 and all(k.startswith(prefix) for k in keys)
    assert not any("alice" in k for k in keys)  # user names are hashed in key names
    client.close()
    ledger.close()


def test_the_sqlite_ledger_file_is_created_private(tmp_path):
    # It keeps idempotent answers, UploadAuth included: readable by its owner only.
    import os
    import stat

    from upload_broker.ledger import open_ledger

    previous = os.umask(0o022)
    try:
        ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
        ledger.close()
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "ledger.sqlite3").stat().st_mode) == 0o600
