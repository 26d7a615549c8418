"""What the completion check costs a refresh: the status lookup before RefreshUploadVideo, and the lock after it.

    PYTHONPATH=shared:. .venv/bin/python bench/refresh_check.py [--requests 500] [--latency-ms 0] [--json]

Every call is the refresh function's FC 3.0 handler (``fc_handler`` over functions/refresh_upload_video's
operation) with an HTTP-trigger event built before its clock starts (bench/fc.py), against the fake VOD (real
SDK, real signatures) and a SQLite ledger. Three cases take turns call by call:

- ``unfinished``: a video VOD still calls Uploading: GetVideoInfo, then RefreshUploadVideo (a 200);
- ``finished (lookup)``: VOD says UploadSucc and the ledger does not know yet: GetVideoInfo, then the 409;
  each call uses a new video, since the first lookup records the completion;
- ``finished (ledger)``: the ledger already knows (a signed callback said so): the 409 with no upstream call.

``--latency-ms`` adds that much to every fake VOD answer, as a real network would: the lookup costs one
upstream round trip, the lock saves both. Nothing asserts a time.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1] / "shared"), str(Path(__file__).resolve().parents[1])]

from bench.fc import FcContext, Staged, event_bytes  # noqa: E402
from functions.refresh_upload_video.operation import operation  # noqa: E402
from tests.fakes import aliyun_rpc  # noqa: E402
from tests.fakes.aliyun_rpc import FakeVod  # noqa: E402
from upload_broker.config import Config, Credentials  # noqa: E402
from upload_broker.runtime import Broker, fc_handler  # noqa: E402

aliyun_rpc._Handler.disable_nagle_algorithm = True  # as bench/ledger_latency.py: no delayed-ACK stalls

KEY_ID, KEY_SECRET = "LTAI-bench-key", "bench-secret-not-real"
JWT_SECRET = "bench-secret-that-is-at-least-32-bytes-long"
USER = "bench-user"
WARM_UP = 20


def token() -> str:
    import jwt

    now = int(time.time())
    return "Bearer " + jwt.encode({"sub": USER, "iat": now, "exp": now + 3600}, JWT_SECRET, algorithm="HS256")


def new_video(fake: FakeVod, broker: Broker, *, status: str, locked: bool = False) -> str:
    """A video as the broker's create leaves it (VOD has it, the ledger knows its owner), in ``status``."""
    video_id = fake.create_video()["VideoId"]
    fake.set_status(video_id, status)
    broker.ledger.record_creation(provider="vod", resource_id=video_id, owner=USER, kind="video",
                                  operation="CreateUploadVideo", request_id="bench", upstream_request_id=None,
                                  at=time.time())
    if locked:
        broker.ledger.mark_completed(provider="vod", resource_id=video_id, at=time.time())
    return video_id


def refresh(handler, authorization: str, video_id, expected: int) -> Staged:
    """One refresh of ``video_id()`` (a fresh id per call when it is a function that makes one)."""

    def prepare():
        path = f"/v1/videos/{video_id()}/refresh"
        event, request_id = event_bytes("POST", path, b"", {"Authorization": authorization})
        return event, FcContext(request_id, function_name="refresh_upload_video")

    def check(result):
        if result.get("statusCode") != expected:
            raise RuntimeError(f"expected {expected}, the handler answered {str(result)[:300]}")

    return Staged(prepare, lambda prepared: handler(*prepared), check)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.getLogger("upload_broker").setLevel(logging.WARNING)  # keep audit lines out of the timing

    with FakeVod({KEY_ID: KEY_SECRET}, latency=args.latency_ms / 1000) as fake, \
            tempfile.TemporaryDirectory() as tmp:
        config = Config(credentials=Credentials(KEY_ID, KEY_SECRET), vod_endpoint=fake.url, jwt_secret=JWT_SECRET,
                        ledger_url=f"sqlite:///{tmp}/bench.sqlite3", max_refreshes=10**6)
        broker = Broker(config)
        handler = fc_handler(broker, [operation])
        authorization = token()
        unfinished = new_video(fake, broker, status="Uploading")
        locked = new_video(fake, broker, status="Normal", locked=True)
        cases = {
            "unfinished": refresh(handler, authorization, lambda: unfinished, 200),
            "finished (lookup)": refresh(handler, authorization,
                                         lambda: new_video(fake, broker, status="UploadSucc"), 409),
            "finished (ledger)": refresh(handler, authorization, lambda: locked, 409),
        }
        timings: dict[str, list[float]] = {name: [] for name in cases}
        calls_before = {action: fake.call_count(action) for action in ("GetVideoInfo", "RefreshUploadVideo")}
        for i in range(args.requests + WARM_UP):
            for name, case in cases.items():
                elapsed = case.timed() / 1e6
                if i >= WARM_UP:
                    timings[name].append(elapsed)
        calls = {action: fake.call_count(action) - before for action, before in calls_before.items()}
        broker.ledger.close()

    rows = {name: {"p50_ms": round(statistics.median(t), 3),
                   "p99_ms": round(statistics.quantiles(t, n=100)[98], 3)} for name, t in timings.items()}
    rounds = args.requests + WARM_UP
    result = {"requests": args.requests, "latency_ms": args.latency_ms, "cases": rows,
              "upstream_calls_per_round": {action: count / rounds for action, count in calls.items()}}
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"refresh through its FC handler, {args.requests} calls per case, fake VOD latency {args.latency_ms:g} ms")
    print(f"{'case':<20} {'p50 ms':>8} {'p99 ms':>8}")
    for name, row in rows.items():
        print(f"{name:<20} {row['p50_ms']:>8.3f} {row['p99_ms']:>8.3f}")
    print("upstream calls per round of the three cases: "
          + ", ".join(f"{action} {per:g}" for action, per in result["upstream_calls_per_round"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
