"""What only the Tablestore ledger has: its URL, its tables, its credentials, its bounds under contention.

The ledger's contract itself runs on Tablestore (the fake) with every other backend, in test_ledger.py and
the functional ledger tests.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from tablestore import Condition, Row, RowExistenceExpectation

from tests import ledger_fixtures
from tests.conftest import TEST_KEY_ID, TEST_KEY_SECRET
from tests.fakes.tablestore import FakeTablestore
from upload_broker.config import Credentials
from upload_broker.ledger import (
    AuditRecord,
    LedgerUnavailable,
    Limit,
    LimitExceeded,
    TablestoreLocation,
    open_ledger,
    parse_tablestore_url,
)
from upload_broker.ledger import tablestore as backend
from upload_broker.ledger.base import Position, UploadPage
from upload_broker.ledger.tablestore import TablestoreLedger

tablestore_ledger_url = ledger_fixtures.tablestore_ledger_url

NOW = 1_700_000_000.0
DAY = 86400.0
KEY = Credentials(TEST_KEY_ID, TEST_KEY_SECRET)


@pytest.fixture
def fake():
    with FakeTablestore({TEST_KEY_ID: TEST_KEY_SECRET}) as server:
        yield server


@pytest.fixture
def ledger(fake):
    opened = open_ledger(fake.ledger_url("t"), credentials=lambda: KEY)
    yield opened
    opened.close()


def create(ledger, resource_id="v1", owner="alice", at=NOW):
    ledger.record_creation(provider="vod", resource_id=resource_id, owner=owner, kind="video",
                           operation="CreateUploadVideo", request_id="req-1", upstream_request_id="up-1", at=at)


def record(user, n):
    return AuditRecord(at=NOW + n, user=user, operation="CreateUploadVideo", resource_id=f"v{n}",
                       request_id=f"req-{n}", upstream_request_id=None, source_ip="203.0.113.9",
                       user_agent="test/1.0", outcome="issued")


# --- the URL ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "location"), [
    ("tablestore://myledger.cn-shanghai.ots.aliyuncs.com",
     TablestoreLocation("https://myledger.cn-shanghai.ots.aliyuncs.com", "myledger", "upload_broker_")),
    ("tablestore://my-ledger.cn-hangzhou.vpc.tablestore.aliyuncs.com/staging",
     TablestoreLocation("https://my-ledger.cn-hangzhou.vpc.tablestore.aliyuncs.com", "my-ledger", "staging_")),
    ("tablestore+http://127.0.0.1:9003/broker-test/t1_",
     TablestoreLocation("http://127.0.0.1:9003", "broker-test", "t1_")),
    ("tablestore+https://ots.example.com/inst",
     TablestoreLocation("https://ots.example.com", "inst", "upload_broker_")),
])
def test_the_url_names_the_endpoint_the_instance_and_the_table_prefix(url, location):
    assert parse_tablestore_url(url) == location


@pytest.mark.parametrize(("url", "message"), [
    ("tablestore://myledger", "expected the instance endpoint"),
    ("tablestore://ak:secret@myledger.cn-shanghai.ots.aliyuncs.com", "credentials do not go in the URL"),
    ("tablestore://my_ledger.cn-shanghai.ots.aliyuncs.com", "not a Tablestore instance name"),
    ("tablestore://myledger.cn-shanghai.ots.aliyuncs.com/bad-prefix", "not a table prefix"),
    ("tablestore://myledger.cn-shanghai.ots.aliyuncs.com/a/b", "at most one path segment"),
    ("tablestore+http://127.0.0.1:9003", "<instance>"),
    ("tablestore://myledger.cn-shanghai.ots.aliyuncs.com?prefix=x", "no query"),
])
def test_a_bad_url_says_what_to_fix(url, message):
    with pytest.raises(ValueError, match=message):
        parse_tablestore_url(url)


def test_a_bad_url_stops_the_start_naming_the_variable():
    from upload_broker.config import Config
    from upload_broker.errors import ConfigError

    with pytest.raises(ConfigError, match="BROKER_LEDGER_URL"):
        Config.from_env({"BROKER_JWT_SECRET": "x" * 40, "BROKER_LEDGER_URL": "tablestore://nohost"})
    config = Config.from_env({"BROKER_JWT_SECRET": "x" * 40, "FC_FUNCTION_NAME": "f",
                              "BROKER_LEDGER_URL": "tablestore://myledger.cn-shanghai.ots.aliyuncs.com"})
    assert config.ledger_url.startswith("tablestore://")  # shared by every instance: allowed on FC


# --- tables -----------------------------------------------------------------------------------------------


def test_tables_are_created_on_first_use_under_the_prefix_with_their_ttls(fake, ledger):
    create(ledger)
    ledger.consume("alice", [Limit("creates", 5, DAY)], at=NOW, event_id="a")
    ledger.claim_idempotency("k", "fp", owner="o", at=time.time(), pending_seconds=30)
    ledger.append_audit(record("alice", 1))

    assert fake.table_names() == ["t_audit", "t_idempotency", "t_limits", "t_resources", "t_upload_states",
                                  "t_uploads"]
    ttls = {name: fake.tables[name].ttl for name in fake.table_names()}
    assert ttls == {"t_audit": 365 * 86400, "t_idempotency": 2 * 86400, "t_limits": -1,
                    "t_resources": -1, "t_upload_states": -1, "t_uploads": -1}
    assert [name for name, _, _ in fake.tables["t_upload_states"].pk] == ["user_state", "created", "id"]
    assert fake.tables["t_audit"].pk[1] == ("seq", 1, True)  # auto-increment


def test_user_names_are_hashed_in_keys(fake, ledger):
    create(ledger)
    ledger.consume("alice", [Limit("creates", 5, DAY)], at=NOW, event_id="a")
    ledger.append_audit(record("alice", 1))
    for table in ("t_uploads", "t_limits", "t_audit"):
        (row,) = fake.rows(table)
        assert "alice" not in row["user_hash"] and len(row["user_hash"]) == 32
    (state,) = fake.rows("t_upload_states")
    assert state["user_state"] == fake.rows("t_uploads")[0]["user_hash"] + ":p"


def test_ensure_tables_creates_the_missing_ones_only(fake, ledger):
    assert ledger.ensure_tables() == ["t_resources", "t_uploads", "t_upload_states", "t_limits", "t_idempotency",
                                      "t_audit"]
    assert ledger.ensure_tables() == []


def test_the_command_creates_the_tables_ahead_of_traffic(fake, monkeypatch, capsys):
    ledger_fixtures.use_test_credentials(monkeypatch)
    assert backend.main(["--create-tables", "--ledger-url", fake.ledger_url("pre")]) == 0
    assert "created pre_resources" in capsys.readouterr().out
    assert backend.main(["--create-tables", "--ledger-url", "redis://x"]) == 2


def test_a_table_that_is_still_loading_fails_closed_then_serves(fake):
    slow = FakeTablestore({TEST_KEY_ID: TEST_KEY_SECRET}, table_load_seconds=0.3).start()
    try:
        ledger = open_ledger(slow.ledger_url(), credentials=lambda: KEY)
        with pytest.raises(LedgerUnavailable):
            ledger.find("vod", "v1")  # creates the table, which is not ready yet
        time.sleep(0.35)
        assert ledger.find("vod", "v1") is None
        ledger.close()
    finally:
        slow.stop()


# --- a user's uploads, newest first -----------------------------------------------------------------------


def test_each_users_uploads_are_one_range_read_newest_first(ledger):
    for n in range(5):
        create(ledger, resource_id=f"v{n}", at=NOW + n)
    create(ledger, resource_id="b1", owner="bob")

    index = ledger.uploads_index("alice", limit=3)

    assert [(u["resource_id"], u["created_at"]) for u in index] == [("v4", NOW + 4), ("v3", NOW + 3), ("v2", NOW + 2)]
    assert [u["resource_id"] for u in ledger.uploads_index("bob")] == ["b1"]
    assert ledger.uploads_index("carol") == []


def states(fake):
    """The state rows as (status letter, created ms, id)."""
    return sorted((r["user_state"][-1], r["created"], r["id"]) for r in fake.rows("t_upload_states"))


def listed(page):
    return [u.resource_id for u in page.uploads]


def test_a_create_writes_its_pending_state_row_in_the_same_batch(fake, ledger):
    ledger.ensure_tables()
    create(ledger, at=NOW + 0.0015)

    assert fake.call_count("BatchWriteRow") == 1
    assert states(fake) == [("p", 1_700_000_000_001, "vod:v1")]  # the ms of every backend: created_ms(at)
    assert fake.rows("t_uploads")[0]["created"] == 1_700_000_000_001


def test_a_completion_moves_the_state_row_and_the_first_time_is_kept(fake, ledger):
    create(ledger)
    calls = fake.call_count()

    done = ledger.mark_completed(provider="vod", resource_id="v1", at=NOW + 60)

    assert (done.status, done.completed_at, done.owner) == ("completed", NOW + 60, "alice")
    assert fake.calls[calls:] == [("GetRow", 200, None), ("UpdateRow", 200, None), ("BatchWriteRow", 200, None)]
    assert states(fake) == [("c", NOW * 1000, "vod:v1")]
    assert ledger.find("vod", "v1").completed_at == NOW + 60

    again = ledger.mark_completed(provider="vod", resource_id="v1", at=NOW + 120)

    assert again == done and ledger.find("vod", "v1") == done
    assert states(fake) == [("c", NOW * 1000, "vod:v1")]
    assert listed(ledger.list_uploads("alice", limit=10, status="completed")) == ["v1"]
    assert listed(ledger.list_uploads("alice", limit=10, status="pending")) == []


def test_an_unknown_id_is_completed_with_nothing_written(fake, ledger):
    create(ledger)
    calls = fake.call_count()
    assert ledger.mark_completed(provider="vod", resource_id="nope", at=NOW) is None
    assert fake.calls[calls:] == [("GetRow", 200, None)]
    assert states(fake) == [("p", NOW * 1000, "vod:v1")]


def test_a_completion_that_loses_the_race_returns_the_winners_time(fake, ledger, monkeypatch):
    create(ledger)
    other = TablestoreLedger(fake.ledger_url("t"), credentials=lambda: KEY)
    read = ledger._get

    def read_then_lose(table, key):
        row = read(table, key)
        if table == "resources" and row is not None and row.get("completed_at") is None:
            other.mark_completed(provider="vod", resource_id="v1", at=NOW + 5)  # lands between our read and write
        return row

    monkeypatch.setattr(ledger, "_get", read_then_lose)

    done = ledger.mark_completed(provider="vod", resource_id="v1", at=NOW + 9)

    assert done.completed_at == NOW + 5
    assert ("UpdateRow", 403, "OTSConditionCheckFail") in fake.calls
    assert states(fake) == [("c", NOW * 1000, "vod:v1")]
    other.close()


def test_parallel_completions_agree_on_one_time(fake, ledger):
    create(ledger)
    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(
            lambda n: ledger.mark_completed(provider="vod", resource_id="v1", at=NOW + n), range(10)))
    assert len({r.completed_at for r in results}) == 1
    assert ledger.find("vod", "v1").completed_at == results[0].completed_at
    assert states(fake) == [("c", NOW * 1000, "vod:v1")]


def test_a_move_that_did_not_finish_lists_by_the_resource_row_and_a_repeat_repairs_it(fake, ledger):
    create(ledger)
    fake.inject("BatchWriteRow", code="OTSServerBusy")
    with pytest.raises(LedgerUnavailable):
        ledger.mark_completed(provider="vod", resource_id="v1", at=NOW + 60)
    assert states(fake) == [("p", NOW * 1000, "vod:v1")]  # the index still says pending; the resource row not

    assert listed(ledger.list_uploads("alice", limit=10, status="pending")) == []
    assert ledger.list_uploads("alice", limit=10).uploads[0].status == "completed"

    assert ledger.mark_completed(provider="vod", resource_id="v1", at=NOW + 90).completed_at == NOW + 60
    assert states(fake) == [("c", NOW * 1000, "vod:v1")]
    assert listed(ledger.list_uploads("alice", limit=10, status="completed")) == ["v1"]


def test_a_completion_writes_the_index_rows_that_a_failed_create_did_not(fake, ledger):
    create(ledger)
    for table in ("t_uploads", "t_upload_states"):  # as if the create's index rows had failed
        for row in fake.rows(table):
            key = [(name, row[name]) for name, _, _ in fake.tables[table].pk]
            ledger._client.delete_row(table, Row(key), Condition(RowExistenceExpectation.IGNORE))
    assert ledger.list_uploads("alice", limit=10) == UploadPage([], None)

    ledger.mark_completed(provider="vod", resource_id="v1", at=NOW + 60)

    assert listed(ledger.list_uploads("alice", limit=10)) == ["v1"]
    assert listed(ledger.list_uploads("alice", limit=10, status="completed")) == ["v1"]


def test_an_index_row_whose_claim_lost_is_not_listed(fake, ledger):
    create(ledger, owner="alice")
    create(ledger, owner="mallory", at=NOW + 1)  # the id is alice's; mallory's index rows are written all the same
    assert len(fake.rows("t_uploads")) == 2 and len(fake.rows("t_upload_states")) == 2

    for status in (None, "pending"):
        assert ledger.list_uploads("mallory", limit=10, status=status) == UploadPage([], None)
        assert listed(ledger.list_uploads("alice", limit=10, status=status)) == ["v1"]


def test_a_retried_create_of_one_id_is_listed_once(fake, ledger):
    create(ledger, at=NOW)
    create(ledger, at=NOW + 1)  # the claim fails (the id is alice's already); a second index row is written
    assert len(fake.rows("t_uploads")) == 2

    page = ledger.list_uploads("alice", limit=10)

    assert [(u.resource_id, u.created_at) for u in page.uploads] == [("v1", NOW)]


def test_each_page_is_one_range_read_and_one_batch_read(fake, ledger):
    for n in range(25):
        create(ledger, resource_id=f"v{n:02d}", at=NOW + n)
    ledger.mark_completed(provider="vod", resource_id="v03", at=NOW + 100)
    pages, after = [], None
    before = (fake.call_count("GetRange"), fake.call_count("BatchGetRow"), fake.call_count())

    while True:
        page = ledger.list_uploads("alice", limit=10, after=after)
        pages.append(listed(page))
        if page.next is None:
            break
        assert page.next == page.uploads[-1].position
        after = page.next

    assert [len(p) for p in pages] == [10, 10, 5]
    assert sum(pages, []) == [f"v{n:02d}" for n in range(24, -1, -1)]
    counts = (fake.call_count("GetRange"), fake.call_count("BatchGetRow"), fake.call_count())
    assert [now - then for now, then in zip(counts, before, strict=True)] == [3, 3, 6]
    assert listed(ledger.list_uploads("alice", limit=10, status="completed")) == ["v03"]
    pending = ledger.list_uploads("alice", limit=100, status="pending")
    assert len(pending.uploads) == 24 and pending.next is None and "v03" not in listed(pending)


def test_a_page_whose_rows_were_all_dropped_still_moves_on(fake, ledger):
    create(ledger, resource_id="mine", owner="mallory", at=NOW)
    for n in range(3):
        create(ledger, resource_id=f"a{n}", owner="alice", at=NOW + 1 + n)
        create(ledger, resource_id=f"a{n}", owner="mallory", at=NOW + 10 + n)  # lost claims, newest of all

    first = ledger.list_uploads("mallory", limit=2)
    assert first.uploads == [] and first.next == Position((NOW + 11) * 1000, "vod", "a1")
    second = ledger.list_uploads("mallory", limit=2, after=first.next)
    assert listed(second) == ["mine"] and second.next is None


def test_listing_a_user_with_100000_uploads_reads_one_page(fake, ledger):
    create(ledger, resource_id="seed")  # creates the tables
    user = fake.rows("t_uploads")[0]["user_hash"]
    count = 100_000
    fake.load("t_uploads", ({"user_hash": user, "created": int(NOW * 1000) + n, "id": f"vod:v{n}",
                             "provider": "vod", "resource_id": f"v{n}", "kind": "video"} for n in range(count)))
    fake.load("t_resources", ({"id": f"vod:v{n}", "owner": "alice", "kind": "video", "created_at": NOW + n / 1000,
                               "refresh_count": 0} for n in range(count)))
    before = fake.consumed.get("GetRange", [0, 0])[0]

    started = time.perf_counter()
    page = ledger.list_uploads("alice", limit=100, after=Position(int(NOW * 1000) + 50_000, "vod", "v50000"))
    elapsed = time.perf_counter() - started

    assert listed(page)[0] == "v49999" and listed(page)[-1] == "v49900"
    assert page.next == Position(int(NOW * 1000) + 49_900, "vod", "v49900")
    assert fake.consumed["GetRange"][0] - before <= 4  # 102 rows of ~100 bytes, not 100,000
    assert elapsed < 0.5


def test_a_bad_page_request_is_refused(ledger):
    with pytest.raises(ValueError, match="limit"):
        ledger.list_uploads("alice", limit=0)
    with pytest.raises(ValueError, match="limit"):
        ledger.list_uploads("alice", limit=101)
    with pytest.raises(ValueError, match="status"):
        ledger.list_uploads("alice", limit=10, status="done")


# --- credentials ------------------------------------------------------------------------------------------


def test_the_provider_is_asked_on_every_call_so_rotated_credentials_are_used(fake):
    fake.add_access_key("STS.first", ("first-secret", "first-token"))
    fake.add_access_key("STS.second", ("second-secret", "second-token"))
    current = [Credentials("STS.first", "first-secret", "first-token")]
    ledger = open_ledger(fake.ledger_url(), credentials=lambda: current[0])
    create(ledger)
    fake.add_access_key("STS.first", ("first-secret", "first-token", time.time() - 1))  # expired now
    with pytest.raises(LedgerUnavailable):
        ledger.find("vod", "v1")

    current[0] = Credentials("STS.second", "second-secret", "second-token")  # FC handed out fresh ones

    assert ledger.find("vod", "v1").owner == "alice"
    ledger.close()


def test_without_credentials_it_fails_closed(fake, monkeypatch):
    ledger = open_ledger(fake.ledger_url(), credentials=lambda: None)
    with pytest.raises(LedgerUnavailable):
        ledger.find("vod", "v1")
    assert fake.call_count() == 0
    for name in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(LedgerUnavailable):
        open_ledger(fake.ledger_url()).find("vod", "v1")  # the environment has none either


def test_opened_from_the_url_alone_it_signs_with_the_environments_credentials(fake, monkeypatch):
    ledger_fixtures.use_test_credentials(monkeypatch)
    ledger = open_ledger(fake.ledger_url())
    create(ledger)
    assert ledger.find("vod", "v1").owner == "alice"


# --- bounds: an outage or a hot row never holds a request ---------------------------------------------------


def test_a_dead_endpoint_fails_fast():
    ledger = open_ledger(f"tablestore+http://127.0.0.1:{ledger_fixtures.free_port()}/broker-test",
                         credentials=lambda: KEY)
    started = time.monotonic()
    with pytest.raises(LedgerUnavailable):
        ledger.find("vod", "v1")
    assert time.monotonic() - started < 2
    ledger.close()


def test_timeouts_are_short_and_the_sdks_retries_are_off(ledger):
    pool = ledger._client.connection.pool
    timeout = pool.connection_pool_kw["timeout"]
    assert (timeout.connect_timeout, timeout.read_timeout) == (0.5, 1.0)
    retries = pool.connection_pool_kw["retries"]
    assert (retries.total, retries.connect, retries.read) == (1, 1, False)
    assert type(ledger._client.retry_policy).__name__ == "NoRetryPolicy"


def test_a_row_that_never_stops_changing_gives_up_within_the_budget(fake):
    ledger = TablestoreLedger(fake.ledger_url(), credentials=lambda: KEY, contention_budget=0.3)
    ledger.consume("alice", [Limit("creates", 10, DAY)], at=NOW, event_id="first")
    fake.inject("UpdateRow", code="OTSConditionCheckFail", status=403, message="Condition check failed.",
                count=1000)
    started = time.monotonic()

    with pytest.raises(LedgerUnavailable):
        ledger.consume("alice", [Limit("creates", 10, DAY)], at=NOW, event_id="second")

    assert time.monotonic() - started < 1.5
    assert fake.call_count("UpdateRow") <= backend.MAX_ATTEMPTS
    ledger.close()


def test_parallel_refreshes_count_exactly_up_to_the_limit(ledger):
    create(ledger)
    with ThreadPoolExecutor(20) as pool:
        counted = list(pool.map(
            lambda _: ledger.record_refresh(provider="vod", resource_id="v1", at=NOW, limit=7), range(20)))
    assert counted.count(True) == 7
    assert ledger.find("vod", "v1").refresh_count == 7


def test_a_create_takes_from_every_window_of_its_limits_or_from_none(fake, ledger):
    creates, data = Limit("creates", 3, DAY), Limit("bytes", 100, DAY, amount=60)
    ledger.consume("alice", [creates, data], at=NOW, event_id="a")
    ledger.consume("alice", [Limit("requests", 5, 60)], at=NOW, event_id="r")
    with pytest.raises(LimitExceeded):
        ledger.consume("alice", [creates, data], at=NOW + 1, event_id="b")
    (row,) = fake.rows("t_limits")
    day, minute = "w000086400000_", "w000000060000_"
    assert {k: v for k, v in row.items() if k.startswith(day + "0t")} == {day + "0t_bytes": 60, day + "0t_creates": 1}
    assert len([k for k in row if k.startswith(day + "1")]) == 2  # "a" for creates and for bytes; "b" for neither
    assert row[minute + "0t_requests"] == 1 and minute + "0v" in row and day + "0v" in row


def test_a_check_reads_the_windows_header_and_what_left_it_not_the_events_still_in_it(fake, ledger):
    limit = Limit("creates", 10**6, DAY)
    for n in range(400):
        ledger.consume("alice", [limit], at=NOW + n, event_id=f"e{n}")
    before = fake.consumed["GetRow"][0]

    ledger.consume("alice", [limit], at=NOW + 400, event_id="last")

    assert fake.consumed["GetRow"][0] - before == 1  # one read CU: 400 events of ~60 bytes would be 6
    (row,) = fake.rows("t_limits")
    assert row["w000086400000_0t_creates"] == 401


def test_expired_events_are_pruned_and_uncounted_by_the_next_write(fake, ledger):
    limit = Limit("requests", 2, 60)
    ledger.consume("alice", [limit], at=NOW, event_id="a")
    ledger.consume("alice", [limit], at=NOW + 1, event_id="b")
    ledger.consume("alice", [limit], at=NOW + 120, event_id="c")
    (row,) = fake.rows("t_limits")
    assert len([k for k in row if k.startswith("w000000060000_1")]) == 1
    assert row["w000000060000_0t_requests"] == 1


def test_a_retried_call_counts_its_event_once(ledger):
    limit = Limit("creates", 2, DAY)
    ledger.consume("alice", [limit], at=NOW, event_id="a")
    ledger.consume("alice", [limit], at=NOW, event_id="a")  # the same call again
    ledger.consume("alice", [limit], at=NOW + 1, event_id="b")
    ledger.consume("alice", [limit], at=NOW + 1, event_id="b")  # again, with the window now full
    with pytest.raises(LimitExceeded):
        ledger.consume("alice", [limit], at=NOW + 2, event_id="c")
    ledger.release("alice", [limit], event_id="a")
    ledger.consume("alice", [limit], at=NOW + 3, event_id="c")


# --- TTLs collect what the ledger no longer needs -----------------------------------------------------------


def test_idempotency_entries_are_collected_after_two_days_and_quota_events_by_the_ledger(fake, ledger):
    ledger.complete_idempotency("k", "fp", {"VideoId": "v1"}, at=time.time(), keep_seconds=DAY)
    ledger.consume("alice", [Limit("creates", 1, DAY)], at=time.time(), event_id="a")
    fake.advance(2 * DAY + 1)
    assert fake.rows("t_idempotency") == []
    # Collected or not, the kept answer already lapsed after its 24 h: the ledger checks expires_at itself.
    assert ledger.claim_idempotency("k", "fp", owner="o", at=time.time() + DAY + 1, pending_seconds=30).state == \
        "started"
    # No TTL on quota events: a running total must not outlive an event it counts. The next check prunes them.
    assert len(fake.rows("t_limits")) == 1
    ledger.consume("alice", [Limit("creates", 1, DAY)], at=time.time() + 2 * DAY + 1, event_id="b")
    (row,) = fake.rows("t_limits")
    assert row["w000086400000_0t_creates"] == 1


def test_audit_rows_live_a_year(fake, ledger):
    ledger.append_audit(record("alice", 1))
    fake.advance(364 * DAY)
    assert len(ledger.audit_history("alice")) == 1
    fake.advance(2 * DAY)
    assert ledger.audit_history("alice") == []


def test_anonymous_refusals_are_spread_over_partitions(fake, ledger):
    for n in range(64):
        ledger.append_audit(AuditRecord(at=NOW + n, user=None, operation=None, resource_id=None,
                                        request_id=f"r{n}", upstream_request_id=None, source_ip=None,
                                        user_agent=None, outcome="refused", code="Unauthorized", status=401))
    partitions = {row["user_hash"] for row in fake.rows("t_audit")}
    assert 1 < len(partitions) <= backend.ANONYMOUS_AUDIT_SHARDS
    assert all(p.startswith("-") for p in partitions)


# --- FC python3.12's SDK codec -----------------------------------------------------------------------------


def test_the_sdks_cpp_codec_talks_to_the_fake_without_falling_back(fake):
    """On FC's python3.12 the SDK encodes and decodes in C++ (a build for that CPython); run there, this test
    makes any disagreement with the fake an error instead of a silent fallback to the Python codec."""
    from tablestore import decoder, encoder

    if not (encoder.NATIVE_ENCODER_AVAILABLE and decoder.NATIVE_DECODER_AVAILABLE):
        pytest.skip("the SDK's C++ codec is built for another CPython (python3.12)")
    ledger = open_ledger(fake.ledger_url(), credentials=lambda: KEY)
    ledger._client.protocol.encoder.native_fallback = False
    ledger._client.protocol.decoder.native_fallback = False
    create(ledger)
    assert ledger.record_refresh(provider="vod", resource_id="v1", at=NOW, limit=2)
    limits = [Limit("creates", 1, DAY), Limit("bytes", 10, DAY, amount=10)]
    ledger.consume("alice", limits, at=NOW, event_id="a")
    ledger.release("alice", limits, event_id="a")
    ledger.consume("alice", limits, at=NOW, event_id="b")
    assert ledger.claim_idempotency("k", "fp", owner="o", at=time.time(), pending_seconds=30).state == "started"
    ledger.release_idempotency("k", owner="o")
    ledger.append_audit(record("alice", 1))
    assert [r.request_id for r in ledger.audit_history("alice")] == ["req-1"]
    assert ledger.find("vod", "v1").refresh_count == 1
    assert ledger.mark_completed(provider="vod", resource_id="v1", at=NOW + 60).status == "completed"  # + a delete
    assert [u.resource_id for u in ledger.list_uploads("alice", limit=10, status="completed").uploads] == ["v1"]
    ledger.close()
