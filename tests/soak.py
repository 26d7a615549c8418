"""Load and soak: the broker under its production WSGI server, driven by 32 concurrent clients.

``python -m tests.soak --seconds 60`` (``make soak``) starts the fake upstreams in this process, the broker in
a child process under waitress (threads=32, 127.0.0.1 only, ``create_app(config)`` against the fakes), and then
32 client threads that, for the given time (and at most ``--max-requests``), send a mix of:

- valid requests: create a video, refresh one's own video, create an image, ICE create and refresh, a Wangsu
  token, ``/healthz`` -- each must answer 200;
- bad requests: a bad token (401), a bad body (400), another user's refresh (404), an oversize body (413) --
  each must get exactly that 4xx.

It reports the number of requests, the statuses, p50/p99 latency, and the broker process's resident memory and
open file descriptors (``/proc/<pid>/fd``) after a warm-up and after the run, and exits non-zero when a valid
request got a 5xx (or anything but 200) or a bad request got anything but its 4xx.
``tests/functional/test_soak_short.py`` runs 10 seconds of it inside ``make test``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEY_ID, KEY_SECRET = "LTAI-soak-key-id-not-real", "soak-secret-not-real-0000"
WANGSU_KEY, WANGSU_SECRET = "ws-soak-access-key", "ws-soak-secret-not-real"
JWT_SECRET = "soak-jwt-secret-that-is-at-least-32-bytes!"

# (name, weight). Valid requests must answer 200; each bad one has its one expected status.
MIX = [
    ("create_video", 14), ("refresh_video", 14), ("create_image", 8), ("create_media", 10), ("refresh_media", 10),
    ("wangsu_token", 8), ("healthz", 8),
    ("bad_token", 7), ("bad_body", 7), ("others_refresh", 7), ("oversize_body", 7),
]
EXPECTED_BAD = {"bad_token": 401, "bad_body": 400, "others_refresh": 404, "oversize_body": 413}


# --- the broker, in its own process ----------------------------------------------------------------------


def serve(settings: dict) -> None:
    """Child process: the broker under waitress on 127.0.0.1:0; prints its port on stdout."""
    sys.path[:0] = [str(ROOT / "shared"), str(ROOT)]
    import waitress

    from upload_broker.config import Config, Credentials
    from upload_broker.local import create_app
    from upload_broker.runtime import configure_logging

    configure_logging(level=30)  # warnings and errors only: a soak's refusals would flood stderr
    credentials = Credentials(*settings.pop("credentials"))
    settings["allowed_origins"] = tuple(settings.get("allowed_origins", ()))
    app = create_app(Config(credentials=credentials, **settings))
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=32, connection_limit=256,
                                    channel_timeout=30)
    print(json.dumps({"port": server.effective_port, "pid": os.getpid()}), flush=True)
    server.run()


def resources(pid: int) -> tuple[int, int]:
    """(resident memory in KiB, open file descriptors) of a process, from /proc."""
    rss = 0
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


# --- the clients -----------------------------------------------------------------------------------------


def bearer(sub: str, secret: str = JWT_SECRET) -> str:
    import jwt

    now = int(time.time())
    return "Bearer " + jwt.encode({"sub": sub, "iat": now, "exp": now + 3600}, secret, algorithm="HS256")


@dataclass
class Tally:
    """What every client saw; merged under a lock."""

    requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    valid_5xx: int = 0
    valid_not_ok: list[tuple[str, int, str]] = field(default_factory=list)
    bad_wrong: list[tuple[str, int, str]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, status: int, elapsed: float, text: str) -> None:
        with self.lock:
            self.requests += 1
            self.statuses[(kind, status)] += 1
            self.latencies.append(elapsed)
            if kind in EXPECTED_BAD:
                if status != EXPECTED_BAD[kind]:
                    self.bad_wrong.append((kind, status, text[:200]))
            elif status != 200:
                self.valid_not_ok.append((kind, status, text[:200]))
                if status >= 500:
                    self.valid_5xx += 1


class Client(threading.Thread):
    def __init__(self, index: int, base: str, tally: Tally, deadline: float, budget: list[int], seed: int) -> None:
        super().__init__(name=f"soak-client-{index}", daemon=True)
        import requests

        self.user = f"soak-user-{index}"
        self.auth = {"Authorization": bearer(self.user)}
        self.other = {"Authorization": bearer(f"soak-intruder-{index}")}
        self.base, self.tally, self.deadline, self.budget = base, tally, deadline, budget
        self.rng = random.Random(seed)
        self.session = requests.Session()
        self.videos: list[str] = []
        self.media: list[str] = []
        self.kinds = [name for name, weight in MIX for _ in range(weight)]

    def take(self) -> bool:
        with self.tally.lock:
            if self.budget[0] <= 0:
                return False
            self.budget[0] -= 1
            return True

    def run(self) -> None:
        try:
            while time.monotonic() < self.deadline and self.take():
                self.one(self.rng.choice(self.kinds))
        except Exception as error:  # a client bug must be reported, not swallowed with the thread
            with self.tally.lock:
                self.tally.errors.append(f"{self.name}: {type(error).__name__}: {error}")
        finally:
            self.session.close()

    def one(self, kind: str) -> None:
        post, n = self.session.post, self.rng.randrange(10**6)
        if kind in ("refresh_video", "others_refresh") and not self.videos:
            kind = "create_video"
        if kind == "refresh_media" and not self.media:
            kind = "create_media"
        url, body, headers, method, data = self.base, None, self.auth, post, None
        if kind == "create_video":
            url += "/v1/videos"
            body = {"Title": f"Soak 视频 {n}", "FileName": f"soak-{n}.mp4", "Tags": ["soak", "load"]}
        elif kind == "refresh_video":
            url += f"/v1/videos/{self.rng.choice(self.videos)}/refresh"
        elif kind == "create_image":
            url += "/v1/images"
            body = {"ImageType": "default", "OriginalFileName": f"p{n}.JPG"}
        elif kind == "create_media":
            url += "/v1/media"
            body = {"FileInfo": {"Type": "video", "Name": f"m{n}", "Ext": "mp4"}, "MediaMetaData": {"Title": "t"}}
        elif kind == "refresh_media":
            url += f"/v1/media/{self.rng.choice(self.media)}/refresh"
        elif kind == "wangsu_token":
            url += "/v1/wangsu/upload-tokens"
            body = {"originFileName": f"w{n}.mp4"}
        elif kind == "healthz":
            url, method = url + "/healthz", self.session.get
        elif kind == "bad_token":
            url += "/v1/videos"
            body, headers = {"Title": "t", "FileName": "a.mp4"}, {"Authorization": bearer(self.user, "x" * 40)}
        elif kind == "bad_body":
            url += "/v1/videos"
            body = {"Title": "t" * 200, "FileName": "a.exe"}
        elif kind == "others_refresh":
            url += f"/v1/videos/{self.rng.choice(self.videos)}/refresh"
            headers = self.other
        elif kind == "oversize_body":
            url += "/v1/videos"
            data = json.dumps({"Title": "t", "FileName": "a.mp4", "Description": "x" * (65 * 1024)})
            headers = {**self.auth, "Content-Type": "application/json"}
        started = time.monotonic()
        if data is not None:
            response = method(url, data=data, headers=headers, timeout=30)
        else:
            response = method(url, json=body, headers=headers, timeout=30)
        elapsed = time.monotonic() - started
        self.tally.add(kind, response.status_code, elapsed, response.text)
        if response.status_code == 200 and kind == "create_video":
            self.videos.append(response.json()["VideoId"])
        if response.status_code == 200 and kind == "create_media":
            self.media.append(response.json()["MediaId"])


def drive(base: str, seconds: float, clients: int, max_requests: int, seed: int) -> tuple[Tally, float]:
    tally = Tally()
    budget = [max_requests]
    deadline = time.monotonic() + seconds
    threads = [Client(i, base, tally, deadline, budget, seed + i) for i in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 60)
    return tally, time.monotonic() - started


# --- the run ---------------------------------------------------------------------------------------------


@dataclass
class Report:
    requests: int
    seconds: float
    statuses: dict[str, int]
    p50_ms: float
    p99_ms: float
    rss_kib_before: int
    rss_kib_after: int
    fds_before: int
    fds_after: int
    valid_5xx: int
    valid_not_ok: list
    bad_wrong: list
    client_errors: list
    bad_requests: int

    @property
    def ok(self) -> bool:
        return not (self.valid_5xx or self.valid_not_ok or self.bad_wrong or self.client_errors)

    def text(self) -> str:
        lines = [
            f"requests        {self.requests} in {self.seconds:.1f} s ({self.requests / self.seconds:.0f}/s), "
            f"{self.bad_requests} of them bad on purpose",
            f"latency         p50 {self.p50_ms:.1f} ms, p99 {self.p99_ms:.1f} ms",
            f"broker RSS      {self.rss_kib_before / 1024:.1f} MiB -> {self.rss_kib_after / 1024:.1f} MiB",
            f"broker open FDs {self.fds_before} -> {self.fds_after}",
            f"valid 5xx       {self.valid_5xx}",
            f"valid not 200   {len(self.valid_not_ok)} {self.valid_not_ok[:3]}",
            f"bad, wrong 4xx  {len(self.bad_wrong)} {self.bad_wrong[:3]}",
            "statuses        " + ", ".join(f"{k} {v}" for k, v in sorted(self.statuses.items())),
        ]
        if self.client_errors:
            lines.append(f"client errors   {self.client_errors[:3]}")
        return "\n".join(lines)


def run(seconds: float = 60.0, clients: int = 32, max_requests: int = 200_000, seed: int = 1) -> Report:
    """Start the fakes and the broker, warm up, drive the mix for ``seconds``, and measure."""
    sys.path[:0] = [str(ROOT / "shared"), str(ROOT)]
    from tests.fakes.aliyun_rpc import FakeIce, FakeVod
    from tests.fakes.wangsu import FakeWangsu

    with tempfile.TemporaryDirectory(prefix="broker-soak-") as tmp, \
            FakeVod({KEY_ID: KEY_SECRET}) as vod, FakeIce({KEY_ID: KEY_SECRET}) as ice, \
            FakeWangsu({WANGSU_KEY: WANGSU_SECRET}) as wangsu:
        settings = dict(
            credentials=[KEY_ID, KEY_SECRET],
            vod_endpoint=vod.url, ice_endpoint=ice.url,
            wangsu_access_key=WANGSU_KEY, wangsu_secret_key=WANGSU_SECRET, wangsu_endpoint=wangsu.url,
            jwt_secret=JWT_SECRET,
            ledger_url=f"sqlite:///{Path(tmp) / 'ledger.sqlite3'}",
            max_refreshes=1_000_000,  # the soak refreshes the same uploads again and again
        )
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "shared"), str(ROOT)])}
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.soak", "--serve", json.dumps(settings)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=open(Path(tmp) / "broker.log", "wb"), text=True,
        )
        try:
            line = child.stdout.readline()
            if not line:
                raise RuntimeError("the broker did not start: " + (Path(tmp) / "broker.log").read_text()[-2000:])
            started = json.loads(line)
            base = f"http://127.0.0.1:{started['port']}"
            # Warm up at full concurrency so that every keep-alive pool is as full as it will get.
            warm, _ = drive(base, min(2.0, seconds / 5), clients, max_requests, seed + 1000)
            time.sleep(0.5)
            rss_before, fds_before = resources(child.pid)
            tally, elapsed = drive(base, seconds, clients, max_requests, seed)
            time.sleep(1.0)  # let the server close the clients' keep-alive connections
            rss_after, fds_after = resources(child.pid)
        finally:
            child.terminate()
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
            child.stdout.close()
        latencies = sorted(tally.latencies) or [0.0]
        return Report(
            requests=tally.requests,
            seconds=elapsed,
            statuses={f"{kind} {status}": count for (kind, status), count in tally.statuses.items()},
            p50_ms=statistics.median(latencies) * 1000,
            p99_ms=latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
            rss_kib_before=rss_before, rss_kib_after=rss_after,
            fds_before=fds_before, fds_after=fds_after,
            valid_5xx=tally.valid_5xx + warm.valid_5xx,
            valid_not_ok=tally.valid_not_ok + warm.valid_not_ok,
            bad_wrong=tally.bad_wrong + warm.bad_wrong,
            client_errors=tally.errors + warm.errors,
            bad_requests=sum(c for (kind, _), c in tally.statuses.items() if kind in EXPECTED_BAD),
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Soak the broker under waitress with 32 concurrent clients.")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(json.loads(args.serve))
        return 0
    report = run(args.seconds, args.clients, args.max_requests, args.seed)
    print(report.text())
    return 0 if report.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
