"""The benchmark suite runs end to end (``bench/run.py --quick``) and reports every headline figure.

No timing is asserted: the figures depend on the machine. This only proves the suite still works, so
``make bench`` does not rot while nobody runs it: every figure comes from the functions' FC 3.0 entry point
(``handler(event, context)`` with event bytes), which answered every call with a 200 - the bench raises on
anything else - and the report names each measurement.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEADLINE_KEYS = (
    "inprocess_overhead_p50_ms",
    "inprocess_overhead_p99_ms",
    "overhead_p50_ms",
    "overhead_p99_ms",
    "throughput_ratio",
    "cold_start_ms",
    "import_ms",
    "rss_mb",
    "rss_growth_mb",
    "naive_over_ours_p50",
)


@pytest.mark.timeout(240)
def test_quick_bench_run_writes_every_headline_figure(tmp_path):
    # given a quick run written to a scratch directory
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=230,
    )

    # then it succeeded and wrote both reports
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "latest.json").read_text())
    assert (tmp_path / "latest.md").read_text().startswith("Broker benchmark")

    # and every headline figure is a finite number
    for key in HEADLINE_KEYS:
        value = results[key]
        assert isinstance(value, (int, float)) and not isinstance(value, bool), (key, value)
        assert math.isfinite(value), (key, value)
    assert results["machine"]["cores"] >= 1
    assert len(results["machine"]["loadavg_before"]) == 3

    # and each overhead run timed every round of the broker and of the direct SDK call
    details = results["details"]
    rounds = results["settings"]["rounds"]
    for run in ("overhead_inprocess", "overhead_hs256_sqlite", "overhead_rs256_jwks"):
        assert details[run]["latency"]["broker"]["n"] == rounds, run
        assert details[run]["latency"]["direct"]["n"] == rounds, run

    # and the ledger latency was measured for the no-op and SQLite ledgers, in both scenarios
    measured = {(row["scenario"], row["backend"]) for row in details["ledger_latency"]["rows"]}
    assert {("plain", "none"), ("plain", "sqlite"), ("full", "none"), ("full", "sqlite")} <= measured

    # and the listing was timed on the SQLite and Tablestore-fake ledgers, for both users and every case
    listing = details["list_uploads"]
    timed = {(row["backend"], row["user"], row["case"]) for row in listing["rows"] if row["n"] == listing["rounds"]}
    assert {(backend, user, case) for backend in ("sqlite", "tablestore") for user in ("large", "small")
            for case in ("first", "deep", "pending")} <= timed

    # and a refresh's completion check was timed in its three cases (each call checked for its 200 or 409)
    assert set(details["refresh_check"]["cases"]) == {"unfinished", "finished (lookup)", "finished (ledger)"}
    assert details["refresh_check"]["upstream_calls_per_round"]["GetVideoInfo"] == 2

    # and the cold start's first call went through the function's handler to the fake VOD
    assert details["cold_start"]["first_call_ms"] > 0
    assert "aliyunsdkcore" in details["cold_start"]["heavy_after_first_response"]
