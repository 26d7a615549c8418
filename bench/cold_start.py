"""One cold start of functions/create_upload_video, as Function Compute 3.0 does it; prints one JSON line.

Run by bench/run.py in a fresh interpreter with the function's environment set, ``PYTHONPATH`` = the
code root (as on FC) and ``BENCH_SPAWN_AT`` = the parent's ``time.time()`` just before it started this
process. Imports the entry module (``handler = entry_point(operation)``: the broker is built here), then
calls ``handler(event, context)`` once, as the FC 3.0 Python runtime does: ``event`` = the JSON bytes of an
HTTP-trigger request for POST /v1/videos (bench/fc.py), answered through the fake VOD. Reports spawn →
first response (wall), import time, first-call time, and which heavy modules the function pulled in.
"""

import time

_STARTED = time.time()

import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

HEAVY = ("flask", "werkzeug", "redis", "requests", "waitress", "upload_broker.upstream_wangsu",
         "upload_broker.media_operations", "oss2", "cryptography", "jwt", "aliyunsdkcore", "tablestore")


def main() -> None:
    spawn_at = float(os.environ["BENCH_SPAWN_AT"])
    t0 = time.perf_counter()
    from functions.create_upload_video.index import handler

    t1 = time.perf_counter()
    after_import = [m for m in HEAVY if m in sys.modules]
    # What the platform hands over (its work, not the function's): built outside the timed import and
    # call. bench.fc (on PYTHONPATH, the code root) is imported only now, so its import is not counted.
    from bench.fc import FcContext, event_bytes

    body = json.dumps({"Title": "cold start", "FileName": "movie.mp4"}).encode()
    headers = {"Authorization": "Bearer " + os.environ["BENCH_TOKEN"], "Content-Type": "application/json",
               "User-Agent": "bench/1.0"}
    event, request_id = event_bytes("POST", "/v1/videos", body, headers)
    context = FcContext(request_id)
    t2 = time.perf_counter()
    result = handler(event, context)
    t3 = time.perf_counter()
    done = time.time()
    prepared_ms = (t2 - t1) * 1000
    status = result.get("statusCode") if isinstance(result, dict) else None
    answer = json.loads(result["body"]) if status == 200 else {}
    print(json.dumps({
        "status": status,
        "ok": status == 200 and bool(answer.get("VideoId")),
        # The event's construction (the platform's part) is left out of the wall figure.
        "spawn_to_first_response_ms": (done - spawn_at) * 1000 - prepared_ms,
        "interpreter_start_ms": (_STARTED - spawn_at) * 1000,
        "import_ms": (t1 - t0) * 1000,
        "first_call_ms": (t3 - t2) * 1000,
        "event_build_ms": prepared_ms,
        "heavy_after_import": after_import,
        "heavy_after_first_response": [m for m in HEAVY if m in sys.modules],
        "heavy_checked": list(HEAVY),
        "modules_loaded": len(sys.modules),
    }))


if __name__ == "__main__":
    main()
