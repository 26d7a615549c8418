"""Where a broker request's time goes: the function's FC 3.0 handler, called in-process, profiled.

    python bench/profile_broker.py [--requests 2000] [--out bench/results]
    python bench/profile_broker.py --sampled [--rounds 3000]    # needs py-spy
    python bench/profile_broker.py --live [--seconds 8]         # needs py-spy

Default: starts the fake VOD (bench/serve.py, a process of its own), imports create_upload_video's entry
module in this process (HS256, SQLite ledger) and profiles N calls of ``handler(event, context)`` as
Function Compute 3.0 makes them (the HTTP-trigger event as JSON bytes, a fresh one per call, built before
the call: bench/fc.py) - the broker's own work without any HTTP server - then N direct SDK calls for
comparison. Writes ``profile-broker.txt`` and ``profile-direct.txt`` (pyinstrument text) under ``--out``.
pyinstrument's own overhead inflates Python-heavy code, and back-to-back calls keep every cache warm.

``--sampled`` is the view that matches bench/inprocess.py's figure: it runs bench/inprocess.py itself
(handler and direct SDK calls interleaved, so each runs with caches the other has disturbed) under
``py-spy record`` (sampling, no instrumentation; idle time excluded, so samples are CPU time) and writes
``profile-inprocess-sampled.txt``: the broker's samples outside the SDK call, relative to a whole direct
call, broken down by function (inclusive and self).

``--live`` samples a broker *process* (the handler behind bench/fc.py's WSGI front end) under the
concurrency load (32 clients, 50 ms upstream, waitress threads=32) with ``py-spy record --gil`` (only
threads holding the GIL, i.e. CPU the process spends) and ``--idle`` (where every thread waits), and
writes ``profile-live-gil.txt`` and ``profile-live-idle.txt``: inclusive and self shares per function.

Needs pyinstrument (and py-spy for ``--sampled`` and ``--live``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _entry in (str(ROOT / "shared"), str(ROOT)):
    if _entry not in sys.path:
        sys.path.insert(0, _entry)

from bench.fc import Staged, create_invocation  # noqa: E402
from bench.run import (  # noqa: E402
    BODY,
    Server,
    broker_caller,
    broker_env,
    clean_env,
    direct_caller,
    hs256_token,
    quantile,
)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--live", action="store_true")
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--sampled", action="store_true")
    parser.add_argument("--rounds", type=int, default=3000)
    args = parser.parse_args()
    if args.live:
        return live(args.out, args.seconds)
    if args.sampled:
        return sampled(args.out, args.rounds)
    from pyinstrument import Profiler

    args.out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="broker-profile-"))
    fake = Server("fake", clean_env(), workdir, "--latency-ms", "0")
    try:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - the audit log line of every request
        os.environ.update(broker_env(fake.url, f"sqlite:///{workdir / 'ledger.sqlite3'}"))
        from functions.create_upload_video.index import handler

        broker = create_invocation(handler, "Bearer " + hs256_token(), BODY)
        direct = direct_caller(fake.url)
        report = []
        for name, call in (("broker", broker), ("direct", Staged(lambda: None, lambda _: direct()))):
            for _ in range(100):
                call.timed()
            times = [call.timed() / 1e6 for _ in range(args.requests)]
            report.append(f"{name}: p50 {quantile(times, 0.5):.3f} ms, p99 {quantile(times, 0.99):.3f} ms "
                          f"(unprofiled, in-process, {args.requests} calls)")
            # The events are built first and the answers checked afterwards, so the profile holds the calls alone.
            events = [call.prepare() for _ in range(args.requests)]
            profiler = Profiler(interval=0.0001)
            profiler.start()
            results = [call.run(prepared) for prepared in events]
            profiler.stop()
            for result in results:
                call.check(result)
            text = profiler.output_text(unicode=True, color=False, show_all=False, short_mode=False)
            (args.out / f"profile-{name}.txt").write_text(text)
        print("\n".join(report))
        print(f"profiles written to {args.out}/profile-broker.txt and profile-direct.txt")
    finally:
        fake.stop()
    return 0


def sampled(out: Path, rounds: int) -> int:
    """py-spy over bench/inprocess.py: where the handler's own CPU time goes when calls are interleaved."""
    import collections
    import re
    import shutil
    import subprocess

    from bench.run import PYTHON

    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="broker-profile-"))
    fake = Server("fake", clean_env(), workdir, "--latency-ms", "0")
    raw = workdir / "inprocess.raw"
    try:
        subprocess.run([spy, "record", "--rate", "2000", "--format", "raw", "--output", str(raw), "--",
                        PYTHON, str(ROOT / "bench" / "inprocess.py"), "--fake-url", fake.url,
                        "--ledger-url", f"sqlite:///{workdir / 'ledger.sqlite3'}", "--rounds", str(rounds)],
                       env=clean_env(), cwd=ROOT, capture_output=True, check=True)
    finally:
        fake.stop()
    direct = broker = in_sdk = 0
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        names = [f.split(" (")[0] for f in frames]
        if "paired_rounds" not in names or "warm_up" in names:
            continue  # start-up and warm-up
        if "direct_caller.<locals>.call" in names:
            direct += n
            continue
        if "fc_handler.<locals>.handler" not in names:
            continue
        broker += n
        if "AcsClient.do_action_with_exception" in names:
            in_sdk += n
            continue
        top = names.index("fc_handler.<locals>.handler")
        for frame in set(frames[top:]):
            inclusive[frame] += n
        own[frames[-1]] += n
    rest = max(1, broker - in_sdk)
    lines = [
        f"py-spy over bench/inprocess.py --rounds {rounds} (2000 Hz, CPU samples of the timed rounds)",
        f"direct SDK calls: {direct} samples; FC handler calls: {broker} samples, of which {in_sdk} inside "
        f"AcsClient.do_action_with_exception and {broker - in_sdk} the broker's own "
        f"({(broker - in_sdk) / max(1, direct):.2f} x a whole direct call; the direct call also builds its "
        "request and parses the answer, which the broker does outside do_action_with_exception)",
        "", "inclusive, share of the broker's own samples:",
    ]
    lines += [f"{100 * v / rest:5.1f}%  {k}" for k, v in inclusive.most_common(60)]
    lines += ["", "self (a C call such as sqlite3's execute counts as its Python caller's self time):"]
    lines += [f"{100 * v / rest:5.1f}%  {k}" for k, v in own.most_common(30)]
    (out / "profile-inprocess-sampled.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines[:2]))
    print(f"written to {out}/profile-inprocess-sampled.txt")
    return 0


def live(out: Path, seconds: float) -> int:
    import shutil
    import subprocess
    import threading

    from bench.run import closed_loop

    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="broker-profile-"))
    token = hs256_token()
    for mode in ("gil", "idle"):
        fake = Server("fake", clean_env(), workdir, "--latency-ms", "50")
        broker = Server("broker", broker_env(fake.url, f"sqlite:///{workdir / (mode + '.sqlite3')}"), workdir,
                        "--threads", "32")
        raw = workdir / f"{mode}.raw"

        def record(pid: int = broker.pid, raw: Path = raw, mode: str = mode) -> None:
            time.sleep(1.5)  # past the warm-up, into the steady load
            subprocess.run([spy, "record", "--pid", str(pid), "--rate", "250", "--duration", str(int(seconds - 2)),
                            "--format", "raw", "--output", str(raw), "--nonblocking", f"--{mode}"],
                           capture_output=True, check=False)

        recorder = threading.Thread(target=record)
        recorder.start()
        try:
            load = closed_loop(lambda url=broker.url: broker_caller(url, token), 32, seconds,
                               {"broker": broker, "fake": fake})
        finally:
            recorder.join()
            broker.stop()
            fake.stop()
        header = (f"py-spy --{mode}, broker under 32 clients / 50 ms upstream: {load['rps']} rps, "
                  f"p50 {load['latency'].get('p50_ms')} ms; CPU ms per request {load['cpu_ms_per_request']}")
        text = header + "\n" + summarise_raw(raw) if raw.exists() else header + "\n(py-spy wrote nothing)"
        (out / f"profile-live-{mode}.txt").write_text(text)
        print(header)
    print(f"written to {out}/profile-live-gil.txt and profile-live-idle.txt")
    return 0


def summarise_raw(raw: Path, top: int = 45) -> str:
    """Inclusive and self sample shares per function from py-spy's raw (collapsed stack) output."""
    import collections
    import re

    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        n = int(count)
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        total += n
        own[frames[-1]] += n
        for frame in set(frames):
            inclusive[frame] += n
    lines = [f"samples: {total}", "", "inclusive:"]
    lines += [f"{100 * v / total:5.1f}%  {k}" for k, v in inclusive.most_common(top)]
    lines += ["", "self:"]
    lines += [f"{100 * v / total:5.1f}%  {k}" for k, v in own.most_common(25)]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
