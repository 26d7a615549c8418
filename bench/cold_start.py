"""One cold start of functions/create_upload_video, as Function Compute does it; prints one JSON line.

Run by bench/run.py in a fresh interpreter with the function's environment set, ``PYTHONPATH`` = the
code root (as on FC) and ``BENCH_SPAWN_AT`` = the parent's ``time.time()`` just before it started this
process. Imports the entry module, calls ``handler(environ, start_response)`` once for POST /v1/videos,
and reports: spawn → first response (wall), import time, first-call time, and which heavy modules the
function pulled in.
"""

import time

_STARTED = time.time()

import io  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402

HEAVY = ("flask", "werkzeug", "redis", "requests", "waitress", "upload_broker.upstream_wangsu",
         "upload_broker.media_operations", "oss2", "cryptography", "jwt", "aliyunsdkcore")


def main() -> None:
    spawn_at = float(os.environ["BENCH_SPAWN_AT"])
    t0 = time.perf_counter()
    from functions.create_upload_video.index import handler

    t1 = time.perf_counter()
    after_import = [m for m in HEAVY if m in sys.modules]
    body = json.dumps({"Title": "cold start", "FileName": "movie.mp4"}).encode()
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/v1/videos",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_AUTHORIZATION": "Bearer " + os.environ["BENCH_TOKEN"],
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.input": io.BytesIO(body),
    }
    status: list[str] = []
    chunks = handler(environ, lambda s, headers, exc_info=None: status.append(s))
    answer = json.loads(b"".join(chunks))
    t2 = time.perf_counter()
    done = time.time()
    print(json.dumps({
        "status": status[0],
        "ok": status[0].startswith("200") and bool(answer.get("VideoId")),
        "spawn_to_first_response_ms": (done - spawn_at) * 1000,
        "interpreter_start_ms": (_STARTED - spawn_at) * 1000,
        "import_ms": (t1 - t0) * 1000,
        "first_call_ms": (t2 - t1) * 1000,
        "heavy_after_import": after_import,
        "heavy_after_first_response": [m for m in HEAVY if m in sys.modules],
        "modules_loaded": len(sys.modules),
    }))


if __name__ == "__main__":
    main()
