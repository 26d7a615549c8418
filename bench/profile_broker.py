"""Where a broker request's time goes: pyinstrument over the function's handler, called in-process.

    python bench/profile_broker.py [--requests 2000] [--out bench/results]
    python bench/profile_broker.py --live [--seconds 8]     # needs py-spy

Starts the fake VOD (bench/serve.py, a process of its own), builds create_upload_video's WSGI handler in
this process (HS256, SQLite ledger), and profiles N calls of ``handler(environ, start_response)`` — the
broker's own work without the HTTP server — then N direct SDK calls for comparison. Also times one
waitress round trip of a trivial WSGI app, to show what the HTTP server adds. Writes
``profile-broker.txt`` and ``profile-direct.txt`` (pyinstrument text, ``show_all``-free) under ``--out``.

``--live`` instead samples a broker *process* under the concurrency load (32 clients, 50 ms upstream,
waitress threads=32) with ``py-spy record --gil`` (only threads holding the GIL, i.e. CPU the
process spends) and ``--idle`` (where every thread waits), and writes ``profile-live-gil.txt`` and
``profile-live-idle.txt``: inclusive and self shares of samples per function.

Needs pyinstrument (and py-spy for ``--live``).
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _entry in (str(ROOT / "shared"), str(ROOT)):
    if _entry not in sys.path:
        sys.path.insert(0, _entry)

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
    args = parser.parse_args()
    if args.live:
        return live(args.out, args.seconds)
    from pyinstrument import Profiler

    args.out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="broker-profile-"))
    fake = Server("fake", clean_env(), workdir, "--latency-ms", "0")
    try:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - the audit log line of every request
        os.environ.update(broker_env(fake.url, f"sqlite:///{workdir / 'ledger.sqlite3'}"))
        from functions.create_upload_video.index import handler

        token = hs256_token()

        def broker_call() -> None:
            environ = {
                "REQUEST_METHOD": "POST", "PATH_INFO": "/v1/videos", "CONTENT_TYPE": "application/json",
                "CONTENT_LENGTH": str(len(BODY)), "HTTP_AUTHORIZATION": "Bearer " + token,
                "HTTP_HOST": "127.0.0.1", "REMOTE_ADDR": "127.0.0.1", "wsgi.input": io.BytesIO(BODY),
            }
            status = []
            handler(environ, lambda s, h, exc_info=None: status.append(s))
            if not status[0].startswith("200"):
                raise RuntimeError(status[0])

        direct_call = direct_caller(fake.url)
        report = []
        for name, call in (("broker", broker_call), ("direct", direct_call)):
            for _ in range(100):
                call()
            times = []
            for _ in range(args.requests):
                started = time.perf_counter()
                call()
                times.append((time.perf_counter() - started) * 1000)
            report.append(f"{name}: p50 {quantile(times, 0.5):.3f} ms, p99 {quantile(times, 0.99):.3f} ms "
                          f"(unprofiled, in-process, {args.requests} calls)")
            profiler = Profiler(interval=0.0001)
            profiler.start()
            for _ in range(args.requests):
                call()
            profiler.stop()
            text = profiler.output_text(unicode=True, color=False, show_all=False, short_mode=False)
            (args.out / f"profile-{name}.txt").write_text(text)
        print("\n".join(report))
        print(f"profiles written to {args.out}/profile-broker.txt and profile-direct.txt")
    finally:
        fake.stop()
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
