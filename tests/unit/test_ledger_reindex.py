"""``reindex_uploads`` and ``python -m upload_broker.ledger.reindex``: the backfill of the uploads index for uploads
recorded before it existed, on Redis (a real server) and Tablestore (its fake); SQLite needs none.

Pre-upgrade data is made by recording uploads with the ledger, then deleting their index entries: Redis's
``up:*`` sets; Tablestore's ``upload_states`` rows (what an older broker never wrote) or the rows of both index
tables (a create that failed half-way).
"""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from tests import ledger_fixtures
from tests.unit.test_ledger_uploads import create, list_all
from upload_broker.ledger import COMPLETED, PENDING, open_ledger
from upload_broker.ledger.reindex import main

# Fixtures used here (module attributes, so pytest finds them).
redis_ledger_url = ledger_fixtures.redis_ledger_url
tablestore_ledger_url = ledger_fixtures.tablestore_ledger_url

ROOT = Path(__file__).resolve().parents[2]
NOW = 1_700_000_000.0
STATUSES = (None, PENDING, COMPLETED)


@pytest.fixture(params=["redis", "tablestore"])
def url(request):
    """A Redis or a Tablestore ledger URL of its own: the backends whose index needs a backfill."""
    return request.getfixturevalue(f"{request.param}_ledger_url")


@pytest.fixture
def ledger(url):
    opened = open_ledger(url)
    yield opened
    opened.close()


def complete(ledger, resource_id, at=NOW + 600, provider="vod"):
    return ledger.mark_completed(provider=provider, resource_id=resource_id, at=at)



def listings(ledger, owners=("alice", "bob")):
    """{(owner, status): (page sizes, uploads)} for every owner and status (None: all)."""
    return {(owner, status): list_all(ledger, owner, limit=4, status=status) for owner in owners for status in STATUSES}


def listed_ids(ledger, owner="alice", status=None):
    return [u.resource_id for u in list_all(ledger, owner, status=status, limit=100)[1]]


# --- the stores underneath ---------------------------------------------------------------------------------


def _redis(url):
    """A client of the test Redis, and the ledger's key prefix as a SCAN pattern (glob characters escaped)."""
    import redis

    from upload_broker.ledger.redis import _glob_escape

    base, _, query = url.partition("?")
    return redis.Redis.from_url(base, decode_responses=True), _glob_escape(query.split("prefix=", 1)[1])


def _fake():
    return ledger_fixtures.shared_fake_tablestore()


def resource_rows(ledger, url):
    """Every resource record as stored, every column: what the backfill must not change."""
    if url.startswith("redis"):
        client, pattern = _redis(url)
        try:
            return {key: client.hgetall(key) for key in client.scan_iter(match=pattern + "res:*")}
        finally:
            client.close()
    return _fake().rows(ledger.tables["resources"])


def index_entries(ledger, url):
    """Every index entry as stored: Redis set members, Tablestore index rows."""
    if url.startswith("redis"):
        client, pattern = _redis(url)
        try:
            return {key: sorted(client.zrange(key, 0, -1)) for key in client.scan_iter(match=pattern + "up:*")}
        finally:
            client.close()
    return {table: _fake().rows(ledger.tables[table]) for table in ("uploads", "upload_states")}


def delete_rows(ledger, table):
    """Delete every row of a Tablestore table through the SDK: a forward GetRange, then a DeleteRow each."""
    from tablestore import INF_MAX, INF_MIN, Condition, Row, RowExistenceExpectation

    from upload_broker.ledger.tablestore import TABLES

    name = ledger.tables[table]
    (spec,) = [spec for spec in TABLES if spec.suffix == table]
    start = [(column[0], INF_MIN) for column in spec.primary_key]
    end = [(column[0], INF_MAX) for column in spec.primary_key]
    while start is not None:
        _, start, rows, _ = ledger._client.get_range(name, "FORWARD", start, end, max_version=1)
        for row in rows:
            ledger._client.delete_row(name, Row(row.primary_key), Condition(RowExistenceExpectation.IGNORE))


def forget_index(ledger, url, *, tables=("uploads", "upload_states")):
    """Make the ledger look as an older broker left it: its uploads recorded, their index entries not."""
    if url.startswith("redis"):
        client, pattern = _redis(url)
        try:
            keys = list(client.scan_iter(match=pattern + "up:*"))
            if keys:
                client.delete(*keys)
        finally:
            client.close()
    else:
        for table in tables:
            delete_rows(ledger, table)


def record_history(ledger):
    """Uploads of two owners, some completed, some refreshed, several in one millisecond: 15 in all."""
    for i in range(12):
        create(ledger, f"a{i:02d}", at=NOW + i // 3 + (i % 3) * 0.0002)  # three in each millisecond
    for i in range(3):
        create(ledger, f"b{i}", owner="bob", at=NOW + i)
    for resource_id in ("a01", "a05", "a06", "a11"):
        complete(ledger, resource_id)
    complete(ledger, "b1")
    assert ledger.record_refresh(provider="vod", resource_id="a02", at=NOW + 60)
    assert ledger.record_refresh(provider="vod", resource_id="a05", at=NOW + 60)


# --- the backfill --------------------------------------------------------------------------------------------


def check_backfill(ledger, url, *, tables=("uploads", "upload_states")):
    """Record a history, forget its index (``tables``: the Tablestore tables whose rows go), and check what the
    listings miss before the backfill and that they are exactly as before after it, and after a second run."""
    record_history(ledger)
    expected = listings(ledger)
    assert len(expected[("alice", None)][1]) == 12 and len(expected[("bob", None)][1]) == 3
    assert [u.resource_id for u in expected[("alice", COMPLETED)][1]] == ["a11", "a06", "a05", "a01"]
    assert sum(expected[("alice", PENDING)][0]) == 8 and expected[("alice", None)][0][:3] == [4, 4, 4]
    records = resource_rows(ledger, url)
    found = {resource_id: ledger.find("vod", resource_id) for resource_id in [f"a{i:02d}" for i in range(12)]}

    forget_index(ledger, url, tables=tables)
    for owner in ("alice", "bob"):
        for status in (PENDING, COMPLETED):
            assert ledger.list_uploads(owner, limit=100, status=status).uploads == []
        everything = ledger.list_uploads(owner, limit=100).uploads
        if "uploads" in tables:
            assert everything == []  # as on Redis: not listed at all until they complete
        else:
            assert len(everything) == len(expected[(owner, None)][1])  # the older broker's uploads rows

    assert ledger.reindex_uploads(batch=5) == 15
    assert listings(ledger) == expected  # the same pages, in the same order, with the same records

    # A second run writes nothing and lists nothing twice.
    entries = index_entries(ledger, url)
    assert ledger.reindex_uploads(batch=5) == 0
    assert index_entries(ledger, url) == entries
    assert listings(ledger) == expected
    # The records themselves were only read.
    assert resource_rows(ledger, url) == records
    assert {resource_id: ledger.find("vod", resource_id) for resource_id in found} == found


def test_reindex_lists_uploads_recorded_before_the_index(ledger, url):
    check_backfill(ledger, url)


def test_tablestore_reindex_adds_the_state_rows_an_older_broker_did_not_write(tablestore_ledger_url):
    ledger = open_ledger(tablestore_ledger_url)
    check_backfill(ledger, tablestore_ledger_url, tables=("upload_states",))
    ledger.close()


def test_reindex_writes_only_what_is_missing(ledger, url):
    record_history(ledger)
    entries = index_entries(ledger, url)
    assert ledger.reindex_uploads() == 0  # a ledger written by this broker needs nothing
    assert index_entries(ledger, url) == entries
    if url.startswith("tablestore"):
        before = _fake().call_count("BatchWriteRow")
        assert ledger.reindex_uploads(batch=1) == 0
        assert _fake().call_count("BatchWriteRow") == before


def test_reindex_moves_a_completed_upload_out_of_pending(ledger, url):
    # A completion whose move did not happen: the upload is still pending in the index, not completed.
    create(ledger, "v1", at=NOW)
    create(ledger, "v2", at=NOW + 1)
    entries_while_pending = index_entries(ledger, url)
    complete(ledger, "v1")
    forget_index(ledger, url)
    if url.startswith("redis"):
        client, _ = _redis(url)
        for key, members in entries_while_pending.items():
            client.zadd(key, dict.fromkeys(members, 0))
        client.close()
    else:
        from tablestore import Condition, Row, RowExistenceExpectation

        for table, rows in entries_while_pending.items():
            for row in rows:
                key = [(name, row[name]) for name in ("user_state" if table == "upload_states" else "user_hash",
                                                      "created", "id")]
                columns = [(name, row[name]) for name in ("provider", "resource_id", "kind")]
                ledger._client.put_row(ledger.tables[table], Row(key, columns),
                                       Condition(RowExistenceExpectation.IGNORE))
    assert listed_ids(ledger) == ["v2", "v1"]
    assert listed_ids(ledger, status=PENDING) == ["v2"]  # the record says completed: left out, not fixed
    assert listed_ids(ledger, status=COMPLETED) == []

    assert ledger.reindex_uploads() == 1  # v1; v2 was indexed already
    assert listed_ids(ledger, status=COMPLETED) == ["v1"]
    assert listed_ids(ledger, status=PENDING) == ["v2"]
    # Gone from the pending index itself, not only from the listing.
    if url.startswith("redis"):
        client, pattern = _redis(url)
        pending = [key for key in client.scan_iter(match=pattern + "up:*:pending")]
        assert [m.split("|")[-1] for key in pending for m in client.zrange(key, 0, -1)] == ["v2"]
        client.close()
    else:
        states = index_entries(ledger, url)["upload_states"]
        assert sorted((row["user_state"][-1], row["resource_id"]) for row in states) == [("c", "v1"), ("p", "v2")]


def test_reindex_pages_past_one_batch_request(ledger, url):
    # 130 uploads on one page: Tablestore reads 260+ index rows (BatchGetRow: 100 a call) and writes as many
    # (BatchWriteRow: 200 a call).
    for i in range(130):
        create(ledger, f"v{i:03d}", at=NOW + i)
    for i in range(0, 130, 10):
        complete(ledger, f"v{i:03d}")
    expected = listings(ledger, owners=("alice",))
    forget_index(ledger, url)
    assert ledger.reindex_uploads(batch=500) == 130
    assert listings(ledger, owners=("alice",)) == expected
    assert len(listed_ids(ledger, status=COMPLETED)) == 13


def test_reindex_with_an_upload_completed_meanwhile(ledger, url, monkeypatch):
    # The backfill reads v1 as pending; before it writes v1's pending entry, the upload completes. The listing
    # must not show v1 as pending afterwards, nor keep a pending entry for it.
    create(ledger, "v1", at=NOW)
    create(ledger, "v2", at=NOW + 1)
    forget_index(ledger, url)
    other = open_ledger(url)
    if url.startswith("redis"):
        # The creation script is queued for v1 (read as pending); v1 completes before the pipeline runs it.
        real = ledger._index_creation

        def index_creation(*args, **kwargs):
            if kwargs["args"][0].endswith("|v1"):
                complete(other, "v1")
            return real(*args, **kwargs)

        monkeypatch.setattr(ledger, "_index_creation", index_creation)
    else:
        real = ledger._write_rows

        def write_rows(writes):
            complete(other, "v1")
            return real(writes)

        monkeypatch.setattr(ledger, "_write_rows", write_rows)
    assert ledger.reindex_uploads() == 2
    other.close()
    assert listed_ids(ledger, status=PENDING) == ["v2"]
    assert listed_ids(ledger, status=COMPLETED) == ["v1"]
    assert listed_ids(ledger) == ["v2", "v1"]
    entries = index_entries(ledger, url)
    if url.startswith("redis"):
        pending = [members for key, members in entries.items() if key.endswith(":pending")]
        assert [[m.split("|")[-1] for m in members] for members in pending] == [["v2"]]
    else:
        assert sorted((row["user_state"][-1], row["resource_id"]) for row in entries["upload_states"]) == [
            ("c", "v1"), ("p", "v2")]


def test_redis_reindex_scans_and_never_lists_every_key(redis_ledger_url, monkeypatch):
    ledger = open_ledger(redis_ledger_url)
    for i in range(7):
        create(ledger, f"v{i}", at=NOW + i)
    forget_index(ledger, redis_ledger_url)
    scans = []
    real_scan = ledger._client.scan

    def scan(*args, **kwargs):
        scans.append(kwargs)
        return real_scan(*args, **kwargs)

    def keys(*args, **kwargs):
        raise AssertionError("KEYS blocks Redis: the backfill must SCAN")

    monkeypatch.setattr(ledger._client, "scan", scan)
    monkeypatch.setattr(ledger._client, "keys", keys)
    assert ledger.reindex_uploads(batch=3) == 7
    prefix = redis_ledger_url.split("prefix=")[1]
    assert scans and all(s == {"match": prefix + "res:*", "count": 3} for s in scans)
    assert listed_ids(ledger) == [f"v{i}" for i in reversed(range(7))]
    ledger.close()


def test_redis_reindex_matches_a_prefix_with_glob_characters_literally():
    ledger_fixtures.require_redis()
    url = f"{ledger_fixtures.REDIS_TEST_URL}?prefix=test:[glob]*?:"
    other = f"{ledger_fixtures.REDIS_TEST_URL}?prefix=test:g*:"  # what the unescaped pattern would also match
    try:
        ledger, neighbour = open_ledger(url), open_ledger(other)
        create(ledger, "mine")
        create(neighbour, "theirs")
        forget_index(ledger, url)
        forget_index(neighbour, other)
        assert ledger.reindex_uploads() == 1
        assert listed_ids(ledger) == ["mine"]
        assert listed_ids(neighbour) == []
        ledger.close()
        neighbour.close()
    finally:
        for prefix in ("test:[glob]*?:", "test:g*:"):
            client, pattern = _redis(f"{ledger_fixtures.REDIS_TEST_URL}?prefix={prefix}")
            keys = list(client.scan_iter(match=pattern + "*"))
            if keys:
                client.delete(*keys)
            client.close()


def test_tablestore_reindex_recovers_a_hashed_id_from_its_uploads_row(tablestore_ledger_url, caplog):
    ledger = open_ledger(tablestore_ledger_url)
    long_id = "x" * 1100  # over a primary key's 1 KB: its resource row's key is a hash
    create(ledger, long_id, at=NOW)
    create(ledger, "short", at=NOW + 1)
    assert ledger._resource_key("vod", long_id).startswith("vod:#")
    forget_index(ledger, tablestore_ledger_url, tables=("upload_states",))
    assert ledger.reindex_uploads() == 2
    assert listed_ids(ledger, status=PENDING) == ["short", long_id]

    # With the uploads row gone too, nothing says which id the hash was made from: skipped, and said so.
    forget_index(ledger, tablestore_ledger_url)
    with caplog.at_level(logging.WARNING, logger="upload_broker.ledger.reindex"):
        assert ledger.reindex_uploads() == 1
    assert listed_ids(ledger) == ["short"]
    (record,) = [r for r in caplog.records if r.name == "upload_broker.ledger.reindex"]
    assert record.skipped == 1 and "1 resource rows skipped" in record.getMessage()
    ledger.close()


def test_tablestore_reindex_interrupted_is_finished_by_the_next_run(tablestore_ledger_url):
    from upload_broker.ledger import LedgerUnavailable

    ledger = open_ledger(tablestore_ledger_url)
    for i in range(6):
        create(ledger, f"v{i}", at=NOW + i)
    complete(ledger, "v2")
    expected = listings(ledger, owners=("alice",))
    forget_index(ledger, tablestore_ledger_url)
    _fake().inject("BatchWriteRow", code="OTSServerBusy")
    with pytest.raises(LedgerUnavailable):
        ledger.reindex_uploads(batch=3)  # the first page's writes fail
    assert ledger.reindex_uploads(batch=3) == 6
    assert listings(ledger, owners=("alice",)) == expected
    ledger.close()


def test_sqlite_needs_no_reindex(tmp_path):
    ledger = open_ledger(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    create(ledger, "v1", at=NOW)
    create(ledger, "v2", at=NOW + 1)
    complete(ledger, "v1")
    assert ledger.reindex_uploads() == 0
    assert listed_ids(ledger) == ["v2", "v1"] and listed_ids(ledger, status=PENDING) == ["v2"]
    with pytest.raises(ValueError):
        ledger.reindex_uploads(batch=0)
    ledger.close()


# --- python -m upload_broker.ledger.reindex --------------------------------------------------------------------


def test_cli_reindexes_and_says_how_many(url, capsys):
    ledger = open_ledger(url)
    record_history(ledger)
    expected = listings(ledger)
    forget_index(ledger, url)
    assert main(["--ledger-url", url, "--batch", "4"]) == 0
    assert capsys.readouterr().out == "reindexed 15 uploads\n"
    assert listings(ledger) == expected
    assert main(["--ledger-url", url]) == 0
    assert capsys.readouterr().out == "reindexed 0 uploads\n"
    ledger.close()


def test_cli_reads_broker_ledger_url(redis_ledger_url, monkeypatch, capsys):
    ledger = open_ledger(redis_ledger_url)
    create(ledger, "v1")
    forget_index(ledger, redis_ledger_url)
    monkeypatch.setenv("BROKER_LEDGER_URL", redis_ledger_url)
    assert main([]) == 0
    assert capsys.readouterr().out == "reindexed 1 uploads\n"
    ledger.close()


def test_cli_says_which_rows_it_skipped(tablestore_ledger_url, capsys):
    ledger = open_ledger(tablestore_ledger_url)
    create(ledger, "y" * 1100)
    create(ledger, "v1")
    forget_index(ledger, tablestore_ledger_url)
    assert main(["--ledger-url", tablestore_ledger_url]) == 0
    captured = capsys.readouterr()
    assert captured.out == "reindexed 1 uploads\n"
    assert captured.err.startswith("warning: 1 resource rows skipped") and captured.err.count("\n") == 1
    ledger.close()


@pytest.mark.parametrize("bad", ["redis://127.0.0.1:notaport/0", "redis://127.0.0.1:6379/db", "mysql://x/y",
                                 "tablestore://nodots"])
def test_cli_refuses_a_malformed_url_with_2(bad, capsys):
    assert main(["--ledger-url", bad]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("error: BROKER_LEDGER_URL") and captured.err.count("\n") == 1


def test_cli_exits_1_with_one_line_when_the_ledger_cannot_be_reached(capsys):
    unreachable = f"redis://127.0.0.1:{ledger_fixtures.free_port()}/0"
    assert main(["--ledger-url", unreachable]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: the ledger (BROKER_LEDGER_URL) cannot be reached")
    assert captured.err.count("\n") == 1


def test_cli_on_sqlite_says_nothing_is_needed_and_creates_no_file(tmp_path, capsys):
    path = tmp_path / "absent.sqlite3"
    assert main(["--ledger-url", f"sqlite:///{path}"]) == 0
    assert capsys.readouterr().out.startswith("nothing to reindex: a SQLite ledger")
    assert not path.exists()


def _run_module(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "upload_broker.ledger.reindex", *args], cwd=ROOT, capture_output=True, text=True,
        timeout=60, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{ROOT / 'shared'}:{ROOT}", **(env or {})})


def test_the_module_runs_with_its_exit_codes(redis_ledger_url):
    ledger = open_ledger(redis_ledger_url)
    create(ledger, "v1")
    complete(ledger, "v1")
    create(ledger, "v2", at=NOW + 1)
    forget_index(ledger, redis_ledger_url)
    done = _run_module(env={"BROKER_LEDGER_URL": redis_ledger_url})
    assert (done.returncode, done.stdout, done.stderr) == (0, "reindexed 2 uploads\n", "")
    assert listed_ids(ledger, status=COMPLETED) == ["v1"]
    ledger.close()

    bad = _run_module("--ledger-url", "redis://127.0.0.1:notaport/0")
    assert bad.returncode == 2 and bad.stdout == "" and bad.stderr.count("\n") == 1

    down = _run_module("--ledger-url", f"redis://127.0.0.1:{ledger_fixtures.free_port()}/0")
    assert down.returncode == 1 and down.stdout == "" and down.stderr.count("\n") == 1
    assert "Traceback" not in down.stderr and down.stderr.startswith("error: the ledger")
