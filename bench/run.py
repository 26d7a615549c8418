"""The broker's benchmark suite (issues #5 and #10): what the broker costs on top of the upstream.

    python bench/run.py                  # the full run, about 5 minutes on 2 cores
    python bench/run.py --quick          # a smoke run (seconds); figures are noisy
    python bench/run.py --latency-ms 20  # add 20 ms to every fake upstream call in the overhead runs

Writes ``<out>/latest.json`` and ``<out>/latest.md`` (default ``bench/results/``) and prints the table.
Nothing here asserts a time: targets are reported as met or missed.

Everything goes through the functions' production entry point: ``functions/<op>/index.py``'s
``handler = entry_point(operation)``, which Function Compute 3.0's Python runtime calls as
``handler(event, context)`` with the HTTP-trigger event as JSON bytes (bench/fc.py builds those events:
a fresh one, with its own ``requestContext.requestId``, for every call, before that call's clock starts).

Every server is its own process (bench/serve.py): the fake VOD (tests/fakes/aliyun_rpc.py, the real
wire protocol and signature check), the broker (create_upload_video's handler behind bench/fc.py's
WSGI-to-FC-event front end, under waitress, threads=32, SQLite ledger; ``--app flask`` puts the local Flask
shim in front instead) and the demo-style baseline (bench/naive_broker.py). This process is the client: a
keep-alive ``requests.Session`` per client thread for the brokers, and a pooled ``AcsClient``
(pool_size=32, the broker's own settings) for direct SDK calls.

1. In-process overhead, the function's own cost as FC incurs it (bench/inprocess.py, a fresh interpreter):
   N rounds, each one ``handler(event_bytes, context)`` and one direct SDK call to the same fake, in a
   shuffled order; overhead = the per-round difference, p50 and p99 (targets: 0.5 and 2 ms).
2. Overhead over HTTP: N rounds; each round calls broker, direct SDK and baseline once, in a shuffled
   order, so drift affects all alike. Overhead = the per-round difference (broker - direct), p50 and p99;
   p50(broker) - p50(direct) is reported too. Repeated with an RS256 token checked against a JWKS URL,
   and with the Redis ledger when one answers. These include the local HTTP hop (client, waitress, the
   front end), which the platform's own front end replaces on FC.
3. Ledger latency (bench/ledger_latency.py): median create through the FC handler per ledger backend
   (none, SQLite, Redis when one answers), plain and with every limit on.
   Refresh (bench/refresh_check.py): a refresh's status lookup, and the 409 of a locked upload, 20 ms upstream.
   Listing (bench/list_uploads.py): GET /v1/uploads through list_uploads' FC handler per ledger backend
   (SQLite, Redis when one answers, Tablestore on its fake) for a user with 100,000 uploads (1% pending) and
   one with 100: the first page of 100, 20 consecutive NextToken pages after the newest 50,000, and the first
   page of Status=pending; p50 and p99 per case (quick: 10,000 uploads, 20 calls per case).
4. Concurrency: 32 client threads against one broker (waitress threads=32) with 50 ms upstream latency
   for a fixed time; throughput / (32 / 50 ms). The same load sent straight to the fake through one
   pooled AcsClient gives the ceiling of this machine and harness.
5. Cold start: a fresh interpreter imports functions.create_upload_video.index and calls its handler once
   with a POST /v1/videos event (bench/cold_start.py); and ``python -X importtime`` of the entry module
   (cumulative).
6. Memory: RSS of a broker process after 10,000 requests, and its growth over the next 10,000.
7. Baseline: naive_over_ours_p50 = p50 overhead of the demo-style broker / p50 overhead of ours.

The machine's load average is recorded before and after: on a shared 2-core machine the tails (p99) move
with whatever else runs; compare runs made under similar load.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import gc
import json
import os
import platform
import random
import select
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _entry in (str(ROOT / "shared"), str(ROOT)):
    if _entry not in sys.path:
        sys.path.insert(0, _entry)

from bench.fc import Staged  # noqa: E402
from bench.serve import KEY_ID, KEY_SECRET  # noqa: E402
from tests.ledger_fixtures import delete_prefix  # noqa: E402

PYTHON = sys.executable
BODY = b'{"Title":"bench upload","FileName":"movie.mp4"}'
HS256_SECRET = "bench-secret-that-is-at-least-32-bytes-long!"
SUB = "bench-user"

TARGETS = {
    "inprocess_overhead_p50_ms": ("<=", 0.5),
    "inprocess_overhead_p99_ms": ("<=", 2.0),
    "overhead_p50_ms": ("<=", 1.0),
    "overhead_p99_ms": ("<=", 5.0),
    "throughput_ratio": (">=", 0.9),
    "cold_start_ms": ("<=", 250.0),
    "import_ms": ("<=", 150.0),
    "rss_mb": ("<=", 80.0),
    "rss_growth_mb": ("<=", 2.0),
}


# --- processes -------------------------------------------------------------------------------------


class Server:
    """A bench/serve.py process; ``url`` once it printed READY."""

    def __init__(self, role: str, env: dict[str, str], logdir: Path, *extra: str,
                 wrapper: tuple[str, ...] = ()) -> None:
        self.role = role
        self.log_path = logdir / f"{role}-{time.monotonic_ns()}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [*wrapper, PYTHON, str(ROOT / "bench" / "serve.py"), role, *extra],
            env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=self._log,
        )
        self.url = self._wait_ready(timeout=30)

    def _wait_ready(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        line = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.1)
            if ready:
                line = self.proc.stdout.readline()
                if line.startswith(b"READY "):
                    return line.split()[1].decode()
            if self.proc.poll() is not None:
                break
        self.stop()
        raise RuntimeError(f"{self.role} did not start: {self.log_path.read_text(errors='replace')[-2000:]}")

    @property
    def pid(self) -> int:
        return self.proc.pid

    def rss_mb(self) -> float:
        return _proc_status_kib(self.pid, "VmRSS") / 1024

    def hwm_mb(self) -> float:
        return _proc_status_kib(self.pid, "VmHWM") / 1024

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout:
            self.proc.stdout.close()
        self._log.close()


def _proc_status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def clean_env(**settings: str) -> dict[str, str]:
    """This environment without any broker setting of the caller's, plus ``settings``."""
    prefixes = ("BROKER_", "ALIBABA_CLOUD_", "VOD_", "ICE_", "WANGSU_", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(settings)
    return env


def broker_env(fake_url: str, ledger_url: str, **auth: str) -> dict[str, str]:
    return clean_env(
        ALIBABA_CLOUD_ACCESS_KEY_ID=KEY_ID,
        ALIBABA_CLOUD_ACCESS_KEY_SECRET=KEY_SECRET,
        VOD_ENDPOINT=fake_url,
        BROKER_LEDGER_URL=ledger_url,
        **(auth or {"BROKER_JWT_SECRET": HS256_SECRET}),
    )


# --- clients ---------------------------------------------------------------------------------------


def hs256_token() -> str:
    import jwt

    now = int(time.time())
    return jwt.encode({"sub": SUB, "iat": now, "exp": now + 3600}, HS256_SECRET, algorithm="HS256")


def broker_caller(base_url: str, token: str) -> Callable[[], None]:
    """POST /v1/videos over one keep-alive session; raises on anything but a 200 with a VideoId."""
    import requests

    session = requests.Session()
    url = base_url + "/v1/videos"
    headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}

    def call() -> None:
        response = session.post(url, data=BODY, headers=headers, timeout=10)
        if response.status_code != 200 or b"VideoId" not in response.content:
            raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:300]}")

    return call


def sdk_client():
    """A pooled AcsClient with the broker's settings (upstream_aliyun.AliyunRpc.client_for)."""
    from aliyunsdkcore.client import AcsClient

    return AcsClient(KEY_ID, KEY_SECRET, region_id="cn-shanghai", auto_retry=False, max_retry_time=0,
                     connect_timeout=3.0, timeout=5.0, pool_size=32)


def direct_caller(fake_url: str, client=None) -> Callable[[], None]:
    """CreateUploadVideo straight to the fake, built as the broker builds it (AliyunRpc._request)."""
    from aliyunsdkvod.request.v20170321.CreateUploadVideoRequest import CreateUploadVideoRequest

    client = client or sdk_client()
    protocol, host = fake_url.split("://", 1)

    def call() -> None:
        request = CreateUploadVideoRequest()
        request.set_endpoint(host)
        request.set_protocol_type(protocol)
        request.set_accept_format("JSON")
        request.add_query_param("Title", "bench upload")
        request.add_query_param("FileName", "movie.mp4")
        request.set_connect_timeout(3.0)
        request.set_read_timeout(5.0)
        answer = json.loads(client.do_action_with_exception(request))
        if not answer.get("VideoId"):
            raise RuntimeError(f"the fake answered without a VideoId: {answer}")

    return call


# --- statistics ------------------------------------------------------------------------------------


def quantile(values: list[float], q: float) -> float:
    """Nearest-rank quantile."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(-(-q * len(ordered) // 1)) - 1))
    return ordered[index]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50_ms": round(quantile(values, 0.50), 3),
        "p90_ms": round(quantile(values, 0.90), 3),
        "p99_ms": round(quantile(values, 0.99), 3),
        "mean_ms": round(statistics.fmean(values), 3),
        "max_ms": round(max(values), 3),
    }


# --- 1 and 5: overhead -----------------------------------------------------------------------------


Caller = Callable[[], None] | Staged


def warm_up(callers: dict[str, Caller], calls: int) -> None:
    """``calls`` untimed calls of each caller (imports, connections, caches); a function of its own so
    that profiles can leave it out."""
    for _ in range(calls):
        for call in callers.values():
            call.timed() if isinstance(call, Staged) else call()


def paired_rounds(callers: dict[str, Caller], rounds: int, warmup: int, seed: int = 5):
    """Latency (ms) of each caller, one call of each per round, in a shuffled order per round.

    A :class:`~bench.fc.Staged` caller's ``prepare()`` (an FC event's bytes) runs before its clock starts
    and its ``check()`` (is the answer a 200 with a VideoId?) after it stops.
    """
    warm_up(callers, warmup)
    rng = random.Random(seed)
    names = list(callers)
    times: dict[str, list[float]] = {name: [] for name in names}
    gc.collect()
    clock = time.perf_counter_ns
    for _ in range(rounds):
        rng.shuffle(names)
        for name in names:
            call = callers[name]
            if isinstance(call, Staged):
                elapsed = call.timed(clock)
            else:
                started = clock()
                call()
                elapsed = clock() - started
            times[name].append(elapsed / 1e6)
    return times


def overhead_of(times: dict[str, list[float]], name: str) -> dict[str, float]:
    pairs = [b - d for b, d in zip(times[name], times["direct"], strict=True)]
    return {
        "per_pair_p50_ms": round(quantile(pairs, 0.50), 3),
        "per_pair_p90_ms": round(quantile(pairs, 0.90), 3),
        "per_pair_p99_ms": round(quantile(pairs, 0.99), 3),
        "p50_minus_p50_ms": round(quantile(times[name], 0.5) - quantile(times["direct"], 0.5), 3),
        "p99_minus_p99_ms": round(quantile(times[name], 0.99) - quantile(times["direct"], 0.99), 3),
    }


def overhead_run(label: str, callers: dict[str, Caller], rounds: int, warmup: int) -> dict:
    started = time.monotonic()
    times = paired_rounds(callers, rounds, warmup)
    result = {"label": label, "rounds": rounds, "latency": {n: summary(v) for n, v in times.items()}}
    for name in callers:
        if name != "direct":
            result[f"{name}_overhead"] = overhead_of(times, name)
    result["seconds"] = round(time.monotonic() - started, 1)
    return result


def inprocess_runs_of(fake_url: str, workdir: Path, runs: int, rounds: int, warmup: int) -> dict:
    """bench/inprocess.py ``runs`` times (each a fresh interpreter and ledger); the median run's figures.

    The headline p50 / p99 are the medians over the runs of each run's per-round p50 / p99, so that one
    run disturbed by the rest of the machine does not decide them; every run's figures are kept.
    """
    samples = []
    for index in range(runs):
        done = subprocess.run(
            [PYTHON, str(ROOT / "bench" / "inprocess.py"), "--fake-url", fake_url,
             "--ledger-url", f"sqlite:///{workdir / f'inprocess-{index}.sqlite3'}", "--rounds", str(rounds),
             "--warmup", str(warmup)],
            env=clean_env(), cwd=ROOT, capture_output=True, text=True, timeout=600,
        )
        if done.returncode != 0:
            raise RuntimeError(f"bench/inprocess.py failed: {done.stderr[-3000:]}")
        samples.append(json.loads(done.stdout))
    keys = ("per_pair_p50_ms", "per_pair_p90_ms", "per_pair_p99_ms", "p50_minus_p50_ms", "p99_minus_p99_ms")
    # The run whose p50 overhead is the median one supplies the latency table.
    middle = sorted(samples, key=lambda r: r["broker_overhead"]["per_pair_p50_ms"])[len(samples) // 2]
    return {
        "label": "in-process FC handler",
        "runs": runs,
        "rounds": rounds,
        "broker_overhead": {k: round(statistics.median(r["broker_overhead"][k] for r in samples), 3) for k in keys},
        "per_run": [{**r["broker_overhead"], "broker_p50_ms": r["latency"]["broker"]["p50_ms"],
                     "direct_p50_ms": r["latency"]["direct"]["p50_ms"]} for r in samples],
        "latency": middle["latency"],
    }


def redis_available() -> str | None:
    """Why the Redis run is skipped, or None when it can run."""
    if not (ROOT / "shared" / "upload_broker" / "ledger" / "redis.py").exists():
        return "shared/upload_broker/ledger/redis.py does not exist"
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            if not sock.recv(64).startswith(b"+PONG"):
                return "127.0.0.1:6379 did not answer PING with PONG"
    except OSError as error:
        return f"no Redis on 127.0.0.1:6379 ({error.__class__.__name__})"
    return None


# --- 2: concurrency --------------------------------------------------------------------------------


def closed_loop(make_call: Callable[[], Callable[[], None]], clients: int, seconds: float,
                watch: dict[str, Server]) -> dict:
    """``clients`` threads each calling in a loop for ``seconds``; completed calls per second."""
    barrier = threading.Barrier(clients + 1)
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []
    window: dict[str, float] = {}

    def client() -> None:
        call = make_call()
        try:
            for _ in range(3):  # opens this client's connection and the broker's pooled upstream one
                call()
        except Exception as error:  # noqa: BLE001 - reported, not raised, so the barrier is not broken
            errors.append(repr(error)[:300])
        barrier.wait()
        mine: list[float] = []
        deadline = window["end"]
        while True:
            started = time.perf_counter()
            if started >= deadline:
                break
            try:
                call()
            except Exception as error:  # noqa: BLE001
                errors.append(repr(error)[:300])
                continue
            finished = time.perf_counter()
            if finished <= deadline:
                mine.append((finished - started) * 1000)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    window["end"] = float("inf")
    for thread in threads:
        thread.start()
    # Warm-up runs before the barrier; the window starts once every client is through it.
    while barrier.n_waiting < clients:
        time.sleep(0.01)
    cpu_before = {name: proc.cpu_seconds() for name, proc in watch.items()}
    own_before = sum(os.times()[:2])
    window["end"] = time.perf_counter() + seconds
    barrier.wait()
    for thread in threads:
        thread.join(seconds + 15)
    cpu = {name: round(proc.cpu_seconds() - cpu_before[name], 2) for name, proc in watch.items()}
    cpu["bench_client"] = round(sum(os.times()[:2]) - own_before, 2)
    rps = len(latencies) / seconds
    return {
        "clients": clients,
        "seconds": seconds,
        "completed": len(latencies),
        "errors": len(errors),
        "first_errors": errors[:3],
        "rps": round(rps, 1),
        "latency": summary(latencies) if latencies else {},
        "cpu_seconds": cpu,
        "cpu_ms_per_request": {k: round(v * 1000 / max(1, len(latencies)), 3) for k, v in cpu.items()},
    }


# --- 3: cold start ---------------------------------------------------------------------------------


def cold_start(fake_url: str, workdir: Path, runs: int) -> dict:
    token = hs256_token()
    samples = []
    for index in range(runs + 1):  # the first run compiles .pyc files if any are stale; not counted
        ledger = workdir / f"cold-{index}.sqlite3"
        env = broker_env(fake_url, f"sqlite:///{ledger}")
        env.update(PYTHONPATH=str(ROOT), BENCH_TOKEN=token, BENCH_SPAWN_AT=repr(time.time()))
        done = subprocess.run([PYTHON, str(ROOT / "bench" / "cold_start.py")], env=env, cwd=ROOT,
                              capture_output=True, timeout=60)
        if done.returncode != 0:
            raise RuntimeError(f"cold start failed: {done.stderr.decode(errors='replace')[-2000:]}")
        sample = json.loads(done.stdout.decode().strip().splitlines()[-1])
        if not sample["ok"]:
            raise RuntimeError(f"cold start answered {sample['status']}")
        if index:
            samples.append(sample)
    median = {key: round(statistics.median(s[key] for s in samples), 1)
              for key in ("spawn_to_first_response_ms", "interpreter_start_ms", "import_ms", "first_call_ms")}
    return {
        "runs": runs,
        **median,
        "heavy_after_import": samples[-1]["heavy_after_import"],
        "heavy_after_first_response": samples[-1]["heavy_after_first_response"],
        "heavy_checked": samples[-1]["heavy_checked"],
        "modules_loaded": samples[-1]["modules_loaded"],
        "event_build_ms": round(statistics.median(s["event_build_ms"] for s in samples), 2),
    }


def import_time(fake_url: str, workdir: Path, runs: int, out: Path) -> dict:
    """``-X importtime`` cumulative µs of the entry module, median of ``runs``; keeps one raw log."""
    module = "functions.create_upload_video.index"
    values = []
    raw = ""
    for index in range(runs + 1):
        env = broker_env(fake_url, f"sqlite:///{workdir / f'import-{index}.sqlite3'}")
        env["PYTHONPATH"] = str(ROOT)
        done = subprocess.run([PYTHON, "-X", "importtime", "-c", f"import {module}"], env=env, cwd=ROOT,
                              capture_output=True, timeout=60)
        raw = done.stderr.decode(errors="replace")
        found = [line for line in raw.splitlines() if line.split("|")[-1].strip() == module]
        if done.returncode != 0 or not found:
            raise RuntimeError(f"-X importtime failed: {raw[-2000:]}")
        if index:
            values.append(int(found[-1].split("|")[1]) / 1000)
    (out / "importtime-create_upload_video.txt").write_text(raw)
    rows = []
    for line in raw.splitlines():
        parts = line.removeprefix("import time:").split("|")
        if len(parts) == 3 and parts[0].strip().isdigit():
            rows.append((int(parts[1]), int(parts[0]), parts[2].rstrip()))
    top_level = [(c, n.strip()) for c, s, n in rows if not n.startswith("  ")]
    top_level.sort(reverse=True)
    return {
        "runs": runs,
        "import_ms": round(statistics.median(values), 1),
        "samples_ms": [round(v, 1) for v in values],
        "slowest_top_level_imports_ms": {n: round(c / 1000, 1) for c, n in top_level[:8]},
    }


# --- 4: memory -------------------------------------------------------------------------------------


def memory_run(broker: Server, token: str, first: int, second: int, clients: int = 4) -> dict:
    def send(count: int) -> None:
        shares = [count // clients + (1 if i < count % clients else 0) for i in range(clients)]
        failures: list[BaseException] = []

        def worker(share: int) -> None:
            try:
                call = broker_caller(broker.url, token)
                for _ in range(share):
                    call()
            except BaseException as error:  # noqa: BLE001 - re-raised below
                failures.append(error)

        threads = [threading.Thread(target=worker, args=(s,)) for s in shares]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failures:
            raise failures[0]

    started = time.monotonic()
    send(100)
    rss_warm = broker.rss_mb()
    send(first - 100)
    rss_first = broker.rss_mb()
    send(second)
    rss_second = broker.rss_mb()
    return {
        "requests": [first, first + second],
        "client_threads": clients,
        "rss_after_100_mb": round(rss_warm, 2),
        f"rss_after_{first}_mb": round(rss_first, 2),
        f"rss_after_{first + second}_mb": round(rss_second, 2),
        "rss_growth_mb": round(rss_second - rss_first, 2),
        "peak_rss_mb": round(broker.hwm_mb(), 2),
        "seconds": round(time.monotonic() - started, 1),
    }


# --- report ----------------------------------------------------------------------------------------


def machine_info() -> dict:
    cpu = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    versions = {}
    for dist in ("waitress", "aliyun-python-sdk-core", "requests", "PyJWT", "redis"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions[dist] = version(dist)
    return {
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": commit.stdout.strip() or None,
        "versions": versions,
    }


def verdict(key: str, value: float) -> str:
    if key not in TARGETS:
        return ""
    op, limit = TARGETS[key]
    met = value <= limit if op == "<=" else value >= limit
    return "met" if met else "**missed**"


def markdown(results: dict) -> str:
    r = results
    d = r["details"]
    m = r["machine"]
    hs = d["overhead_hs256_sqlite"]
    ip = d["overhead_inprocess"]
    front = ("the local Flask shim (upload_broker.local)" if r["settings"]["app"] == "flask"
             else "bench/fc.py's WSGI-to-FC-event front end")
    lines = [
        f"Broker benchmark — {m['date']}, commit {m['commit']}, {m['cpu_model']} ({m['cores']} cores), "
        f"Python {m['python']}, waitress {m['versions'].get('waitress', '?')}"
        + (" — QUICK run (smoke only, figures not meaningful)" if r["quick"] else ""),
        "",
        f"Load average (1/5/15 min) before the run: {' / '.join(f'{x:.2f}' for x in m['loadavg_before'])}; "
        f"at its end: {' / '.join(f'{x:.2f}' for x in m['loadavg_after'])} (this includes the run's own "
        "32-client concurrency stage). The direct SDK call's p50 below is the yardstick of the machine's speed "
        "during the run: the broker's own cost moves with it.",
        "",
        "Every figure goes through create_upload_video's FC 3.0 entry point, `handler(event, context)`, with "
        "the HTTP-trigger event as JSON bytes (a fresh one per call, built before its clock starts). "
        f"Fake VOD upstream with {r['settings']['latency_ms']:g} ms added latency for the overhead runs. "
        f"In-process: {ip['runs']} run(s) of {ip['rounds']} rounds, each round one handler call and one direct "
        "SDK call (shuffled); the figure is the median over the runs. Over HTTP: "
        f"{hs['rounds']} rounds, each one broker call (the handler behind {front}, under waitress), one direct "
        "SDK call and one baseline call (shuffled). Overhead = per-round difference broker − direct.",
        "",
        "| measure | result | target | |",
        "| --- | --- | --- | --- |",
    ]

    def row(label: str, key: str, text: str, target: str) -> None:
        lines.append(f"| {label} | {text} | {target} | {verdict(key, r[key]) if key in r else ''} |")

    runs = ", ".join(f"{x['per_pair_p50_ms']:.3f}/{x['per_pair_p99_ms']:.3f}" for x in ip["per_run"])
    row("in-process overhead p50 (FC handler with event bytes − direct SDK, HS256, SQLite)",
        "inprocess_overhead_p50_ms", f"{r['inprocess_overhead_p50_ms']:.3f} ms", "≤ 0.5 ms")
    row("in-process overhead p99", "inprocess_overhead_p99_ms",
        f"{r['inprocess_overhead_p99_ms']:.3f} ms (per run p50/p99: {runs})", "≤ 2 ms")
    row("overhead p50 over HTTP (HS256, SQLite ledger)", "overhead_p50_ms", f"{r['overhead_p50_ms']:.3f} ms", "≤ 1 ms")
    row("overhead p99 over HTTP (HS256, SQLite ledger)", "overhead_p99_ms", f"{r['overhead_p99_ms']:.3f} ms", "≤ 5 ms")
    for key, label in (("overhead_rs256_jwks", "over HTTP, RS256 via JWKS"),
                       ("overhead_hs256_redis", "over HTTP, HS256, Redis ledger")):
        run = d.get(key)
        if run and "broker_overhead" in run:
            o = run["broker_overhead"]
            lines.append(f"| overhead p50 / p99 ({label}) | {o['per_pair_p50_ms']:.3f} / {o['per_pair_p99_ms']:.3f} ms "
                         f"| ≤ 1 / ≤ 5 ms | {_both(o)} |")
        elif run:
            lines.append(f"| overhead ({label}) | skipped: {run.get('skipped')} | | |")
    c = d["concurrency"]
    row("throughput over HTTP, 32 clients, 50 ms upstream", "throughput_ratio",
        f"{r['throughput_ratio']:.3f} of ideal ({c['broker']['rps']:.0f} of {c['ideal_rps']:.0f} rps)", "≥ 0.9")
    lines.append(f"| same load, direct SDK → fake (harness ceiling) | {c['direct_ratio']:.3f} of ideal "
                 f"({c['direct']['rps']:.0f} rps) | | info |")
    cs = d["cold_start"]
    row("cold start: spawn → first response (import + first handler call)", "cold_start_ms",
        f"{r['cold_start_ms']:.0f} ms (interpreter {cs['interpreter_start_ms']:.0f}, import {cs['import_ms']:.0f}, "
        f"first call {cs['first_call_ms']:.0f})", "≤ 250 ms")
    row("import of the entry module (-X importtime, cumulative)", "import_ms", f"{r['import_ms']:.0f} ms", "≤ 150 ms")
    mem = d["memory"]
    n1, n2 = mem["requests"]
    row(f"RSS after {n1:,} requests over HTTP", "rss_mb", f"{r['rss_mb']:.1f} MB", "≤ 80 MB")
    row(f"RSS growth {n1:,} → {n2:,}", "rss_growth_mb", f"{r['rss_growth_mb']:+.2f} MB", "≤ 2 MB")
    nv = hs["naive_overhead"]
    lines.append(f"| demo-style broker's overhead ÷ ours (p50, over HTTP) | {r['naive_over_ours_p50']:.1f}× "
                 f"({nv['per_pair_p50_ms']:.2f} ms vs {r['overhead_p50_ms']:.2f} ms) | | info |")
    lines += ["", "Latency of each series (ms):", "", "| run | series | p50 | p90 | p99 | max |",
              "| --- | --- | --- | --- | --- | --- |"]
    for key in ("overhead_inprocess", "overhead_hs256_sqlite", "overhead_rs256_jwks", "overhead_hs256_redis"):
        run = d.get(key)
        if not run or "latency" not in run:
            continue
        for name, s in run["latency"].items():
            lines.append(f"| {key.removeprefix('overhead_')} | {name} | {s['p50_ms']:.2f} | {s['p90_ms']:.2f} "
                         f"| {s['p99_ms']:.2f} | {s['max_ms']:.2f} |")
    for name in ("broker", "direct"):
        s = c[name]["latency"]
        lines.append(f"| concurrency (32 clients, 50 ms) | {name} | {s['p50_ms']:.2f} | {s['p90_ms']:.2f} "
                     f"| {s['p99_ms']:.2f} | {s['max_ms']:.2f} |")
    ledger = d.get("ledger_latency")
    if ledger:
        lines += ["", f"Ledger latency: median create through the FC handler, {ledger['requests']} per backend, "
                  "backends in turn (ms; added = median − median of the no-op ledger):", "",
                  "| scenario | backend | median | p10 | p90 | added |", "| --- | --- | --- | --- | --- | --- |"]
        for x in ledger["rows"]:
            lines.append(f"| {x['scenario']} | {x['backend']} | {x['median_ms']:.3f} | {x['p10_ms']:.3f} "
                         f"| {x['p90_ms']:.3f} | {x['added_ms']:+.3f} |")
        if ledger.get("redis_skipped"):
            lines.append(f"\nRedis skipped: {ledger['redis_skipped']}.")
    listing = d.get("list_uploads")
    if listing:
        lines += ["", f"Listing (bench/list_uploads.py): GET /v1/uploads through list_uploads' FC handler, "
                  f"{listing['rounds']} calls per case, cases in turn (ms). first = MaxResults=100; deep = "
                  f"{listing['deep_pages']} consecutive NextToken pages after the newest {listing['deep_skip']:,} "
                  "(small user: the page after its newest); pending = Status=pending, first page:", "",
                  "| backend | user | uploads | case | p50 | p99 | max |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        for x in listing["rows"]:
            lines.append(f"| {x['backend']} | {x['user']} | {x['uploads']:,} | {x['case']} | {x['p50_ms']:.2f} "
                         f"| {x['p99_ms']:.2f} | {x['max_ms']:.2f} |")
        lines.append("")
        for b in listing["backends"]:
            lines.append(f"- {b['backend']}: filled in {b['populate_seconds']:.1f} s: {b['populate']}.")
        for name, why in listing.get("skipped", {}).items():
            lines.append(f"- {name}: skipped ({why}).")
    check = d.get("refresh_check")
    if check:
        lines += ["", f"Refresh and its completion check (bench/refresh_check.py): through the refresh handler, "
                  f"{check['requests']} calls per case, fake VOD latency {check['latency_ms']:g} ms (ms):", "",
                  "| case | p50 | p99 |", "| --- | --- | --- |"]
        for name, row in check["cases"].items():
            lines.append(f"| {name} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} |")
    lines += [
        "",
        f"CPU per request under the concurrency load (ms): {json.dumps(c['broker']['cpu_ms_per_request'])}",
        "",
        f"Modules loaded by the function (after import / after first response): "
        f"{', '.join(cs['heavy_after_import']) or 'none'} / {', '.join(cs['heavy_after_first_response']) or 'none'} "
        f"(checked: {', '.join(cs.get('heavy_checked', []))})",
        "",
        "Command: `python bench/run.py" + (" --quick" if r["quick"] else "")
        + (f" --latency-ms {r['settings']['latency_ms']:g}" if r["settings"]["latency_ms"] else "")
        + (" --app flask" if r["settings"]["app"] == "flask" else "") + "`",
    ]
    return "\n".join(lines) + "\n"


def _both(o: dict, p50: float = 1.0, p99: float = 5.0) -> str:
    return "met" if o["per_pair_p50_ms"] <= p50 and o["per_pair_p99_ms"] <= p99 else "**missed**"


# --- main ------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/run.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small smoke run (figures are noisy)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results", help="where latest.* go")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added upstream latency, overhead runs")
    parser.add_argument("--rounds", type=int, help="overhead rounds (default 2000; quick 100)")
    parser.add_argument("--concurrency-seconds", type=float, help="default 10; quick 2")
    parser.add_argument("--memory-requests", type=int, help="per half (default 10000; quick 500)")
    parser.add_argument("--app", choices=("function", "flask"), default="function",
                        help="serve the function's handler (default) or the local Flask shim")
    args = parser.parse_args(argv)
    quick = args.quick
    rounds = args.rounds or (100 if quick else 2000)
    warmup = 10 if quick else 100
    seconds = args.concurrency_seconds or (2.0 if quick else 10.0)
    half = args.memory_requests or (500 if quick else 10_000)
    cold_runs = 2 if quick else 7
    inprocess_runs = 1 if quick else 3
    ledger_requests = 30 if quick else 1000
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="broker-bench-"))
    started = time.monotonic()
    servers: list[Server] = []

    def start(role: str, env: dict[str, str], *extra: str) -> Server:
        server = Server(role, env, workdir, *extra)
        servers.append(server)
        return server

    def stop(server: Server) -> None:
        server.stop()
        servers.remove(server)

    def note(text: str) -> None:
        print(f"[{time.monotonic() - started:6.1f}s] {text}", file=sys.stderr, flush=True)

    details: dict = {}
    app_args = ("--app", args.app)
    load_before = os.getloadavg()
    try:
        fake = start("fake", clean_env(), "--latency-ms", str(args.latency_ms))
        token = hs256_token()

        note(f"overhead in-process: the FC handler called with event bytes vs direct SDK, "
             f"{inprocess_runs} x {rounds} rounds")
        details["overhead_inprocess"] = inprocess_runs_of(fake.url, workdir, inprocess_runs, rounds, warmup)

        note(f"overhead over HTTP: broker (HS256, SQLite) vs direct SDK vs demo-style broker, {rounds} rounds")
        broker = start("broker", broker_env(fake.url, f"sqlite:///{workdir / 'hs256.sqlite3'}"), *app_args)
        naive = start("naive", broker_env(fake.url, "sqlite:///unused"))
        direct = direct_caller(fake.url)
        details["overhead_hs256_sqlite"] = overhead_run(
            "HS256, SQLite", {"broker": broker_caller(broker.url, token), "direct": direct,
                              "naive": broker_caller(naive.url, token)}, rounds, warmup)
        stop(naive)
        stop(broker)

        note("overhead: RS256 token, keys from a JWKS URL")
        from tests.jwt_helpers import JwksServer, claims, rsa_key

        key = rsa_key()
        with JwksServer(key) as jwks:
            broker = start("broker", broker_env(fake.url, f"sqlite:///{workdir / 'rs256.sqlite3'}",
                                                BROKER_JWKS_URL=jwks.url), *app_args)
            rs_token = key.sign(claims(SUB, now=time.time(), ttl=3600))
            details["overhead_rs256_jwks"] = overhead_run(
                "RS256 via JWKS", {"broker": broker_caller(broker.url, rs_token), "direct": direct}, rounds, warmup)
            details["overhead_rs256_jwks"]["jwks_fetches"] = jwks.fetches
            stop(broker)

        why_not = redis_available()
        if why_not:
            note(f"overhead with the Redis ledger: skipped ({why_not})")
            details["overhead_hs256_redis"] = {"skipped": why_not}
        else:
            note("overhead: HS256, Redis ledger (db 15, a prefix of its own, deleted afterwards)")
            prefix = f"broker-bench-{os.getpid()}:"
            broker = start("broker", broker_env(fake.url, f"redis://127.0.0.1:6379/15?prefix={prefix}"), *app_args)
            try:
                details["overhead_hs256_redis"] = overhead_run(
                    "HS256, Redis", {"broker": broker_caller(broker.url, token), "direct": direct}, rounds, warmup)
            finally:
                stop(broker)
                details["overhead_hs256_redis_keys_deleted"] = delete_prefix("redis://127.0.0.1:6379/15", prefix)

        note(f"ledger latency: {ledger_requests} creates per backend through the FC handler (bench/ledger_latency.py)")
        details["ledger_latency"] = json.loads(subprocess.run(
            [PYTHON, str(ROOT / "bench" / "ledger_latency.py"), "--requests", str(ledger_requests), "--json"],
            env=clean_env(), cwd=ROOT, capture_output=True, text=True, timeout=900, check=True,
        ).stdout)

        note("listing: GET /v1/uploads for a user with " + ("10,000" if quick else "100,000")
             + " uploads per backend through the FC handler (bench/list_uploads.py)")
        details["list_uploads"] = json.loads(subprocess.run(
            [PYTHON, str(ROOT / "bench" / "list_uploads.py"), "--json", *(["--quick"] if quick else [])],
            env=clean_env(), cwd=ROOT, capture_output=True, text=True, timeout=900, check=True,
        ).stdout)

        refresh_requests = 50 if quick else 300
        note(f"refresh completion check: {refresh_requests} refreshes per case, 20 ms upstream latency "
             "(bench/refresh_check.py)")
        details["refresh_check"] = json.loads(subprocess.run(
            [PYTHON, str(ROOT / "bench" / "refresh_check.py"), "--requests", str(refresh_requests),
             "--latency-ms", "20", "--json"],
            env=clean_env(), cwd=ROOT, capture_output=True, text=True, timeout=900, check=True,
        ).stdout)

        note(f"concurrency: 32 clients, 50 ms upstream latency, {seconds:g} s each (broker, then direct)")
        slow_fake = start("fake", clean_env(), "--latency-ms", "50")
        broker = start("broker", broker_env(slow_fake.url, f"sqlite:///{workdir / 'concurrency.sqlite3'}"),
                       "--threads", "32", *app_args)
        ideal = 32 / 0.050
        on_broker = closed_loop(lambda: broker_caller(broker.url, token), 32, seconds,
                                {"broker": broker, "fake": slow_fake})
        stop(broker)
        shared_client = sdk_client()
        on_direct = closed_loop(lambda: direct_caller(slow_fake.url, shared_client), 32, seconds,
                                {"fake": slow_fake})
        stop(slow_fake)
        details["concurrency"] = {
            "ideal_rps": ideal, "upstream_latency_ms": 50, "waitress_threads": 32,
            "broker": on_broker, "direct": on_direct,
            "broker_ratio": round(on_broker["rps"] / ideal, 3), "direct_ratio": round(on_direct["rps"] / ideal, 3),
        }

        note(f"memory: RSS of a broker process over {2 * half:,} requests")
        broker = start("broker", broker_env(fake.url, f"sqlite:///{workdir / 'memory.sqlite3'}"), *app_args)
        details["memory"] = memory_run(broker, token, half, half)
        stop(broker)

        note(f"cold start: {cold_runs} fresh interpreters, and -X importtime")
        details["cold_start"] = cold_start(fake.url, workdir, cold_runs)
        details["import_time"] = import_time(fake.url, workdir, cold_runs, out)
    finally:
        for server in list(servers):
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    load_after = os.getloadavg()
    hs = details["overhead_hs256_sqlite"]
    inproc = details["overhead_inprocess"]
    results = {
        "overhead_p50_ms": hs["broker_overhead"]["per_pair_p50_ms"],
        "overhead_p99_ms": hs["broker_overhead"]["per_pair_p99_ms"],
        "throughput_ratio": details["concurrency"]["broker_ratio"],
        "cold_start_ms": details["cold_start"]["spawn_to_first_response_ms"],
        "import_ms": details["import_time"]["import_ms"],
        "rss_mb": details["memory"][f"rss_after_{half}_mb"],
        "rss_growth_mb": details["memory"]["rss_growth_mb"],
        "inprocess_overhead_p50_ms": inproc["broker_overhead"]["per_pair_p50_ms"],
        "inprocess_overhead_p99_ms": inproc["broker_overhead"]["per_pair_p99_ms"],
        "naive_over_ours_p50": round(hs["naive_overhead"]["per_pair_p50_ms"]
                                     / max(hs["broker_overhead"]["per_pair_p50_ms"], 0.001), 2),
        "naive_over_ours_end_to_end_p50": round(hs["latency"]["naive"]["p50_ms"]
                                                / hs["latency"]["broker"]["p50_ms"], 2),
        "quick": quick,
        "settings": {"latency_ms": args.latency_ms, "rounds": rounds, "inprocess_runs": inprocess_runs,
                     "concurrency_seconds": seconds, "memory_requests_per_half": half, "cold_start_runs": cold_runs,
                     "ledger_requests": ledger_requests, "app": args.app,
                     "list_uploads": details["list_uploads"]["uploads"],
                     "overhead_definition": "per-round difference broker - direct; p50/p99 of those differences",
                     "inprocess_definition": "median over the runs of each run's per-round p50 / p99"},
        "targets": {k: f"{op} {v:g}" for k, (op, v) in TARGETS.items()},
        "machine": {**machine_info(), "loadavg_before": [round(x, 2) for x in load_before],
                    "loadavg_after": [round(x, 2) for x in load_after]},
        "wall_seconds": round(time.monotonic() - started, 1),
        "details": details,
    }
    results["met"] = {k: verdict(k, results[k]) == "met" for k in TARGETS}
    (out / "latest.json").write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    table = markdown(results)
    (out / "latest.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
