"""The benchmark suite runs end to end (``bench/run.py --quick``) and reports every headline figure.

No timing is asserted: the figures depend on the machine. This only proves the suite still works, so
``make bench`` does not rot while nobody runs it.
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
