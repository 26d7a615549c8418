"""Processes the benchmark starts, one role each: ``fake``, ``broker`` or ``naive``.

Each prints ``READY <url>`` on stdout once it accepts connections and serves until it is terminated.
They run as separate processes so the client, the broker and the fake upstream never share a GIL, and so
the broker's RSS can be read from ``/proc/<pid>/status`` alone.

- ``fake --latency-ms N``: the project's FakeVod (tests/fakes/aliyun_rpc.py) with N ms added per call.
- ``broker [--app function|flask]``: one function's production entry point,
  ``functions.create_upload_video.index.handler`` (``runtime.entry_point``: FC 3.0's
  ``handler(event, context)``), behind bench/fc.py's ``wsgi_front_end`` — a few lines that play FC's HTTP
  trigger: each request becomes an HTTP-trigger event (JSON bytes, a fresh request id) and the response
  struct becomes the HTTP answer. That wrapper, not the Flask shim, is the default because it is the
  smallest faithful stand-in for the platform's front end: the figures are the function's own work plus
  the local HTTP server, with no framework the platform does not run. ``--app flask`` serves the local
  shim (``upload_broker.local.create_app``: Werkzeug, routing to every function, then the same event and
  handler) instead, to measure what ``make run`` adds. Either way under waitress, configured from the
  environment like a deployed function.
- ``naive``: bench/naive_broker.py, the demo-style broker, under waitress.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for entry in (str(ROOT / "shared"), str(ROOT)):
    if entry not in sys.path:
        sys.path.insert(0, entry)

KEY_ID = "LTAI-bench-key-not-real"
KEY_SECRET = "bench-secret-not-real-0000"


def serve_fake(latency_ms: float) -> None:
    import socket

    from tests.fakes import aliyun_rpc
    from tests.fakes.aliyun_rpc import FakeVod

    # The fake's handler writes the status line and headers, then the body, in two send() calls on a
    # socket with Nagle's algorithm on: the body waits for the client's delayed ACK (40 ms on Linux) on
    # a kept-alive connection. A real gateway answers in one segment; TCP_NODELAY makes the fake do so.
    setup = aliyun_rpc._Handler.setup

    def setup_nodelay(handler) -> None:
        handler.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        setup(handler)

    aliyun_rpc._Handler.setup = setup_nodelay
    fake = FakeVod({KEY_ID: KEY_SECRET}, latency=latency_ms / 1000.0)
    fake.start()
    threading.Thread(target=_keep_fake_state_small, args=(fake,), daemon=True).start()
    print(f"READY {fake.url}", flush=True)
    threading.Event().wait()


def _keep_fake_state_small(fake) -> None:
    # The fake checks replayed nonces by scanning every nonce of its 15-minute window on each call, and
    # keeps every call and resource for test assertions. Over 20,000 calls that makes the fake itself
    # slower and bigger as the run goes on; trimming its bookkeeping keeps its cost flat, so what
    # changes between measurements is the broker. Replays within the last few seconds are still refused.
    while True:
        time.sleep(1.0)
        with fake._lock:
            horizon = time.time() - 5.0
            fake._nonces = {n: seen for n, seen in fake._nonces.items() if seen >= horizon}
            del fake.calls[:-100]
            del fake.results[:-100]
            if len(fake.resources) > 1000:
                fake.resources.clear()
                fake.issued_credentials.clear()


def serve_wsgi(app, threads: int) -> None:
    from waitress import create_server

    server = create_server(app, host="127.0.0.1", port=0, threads=threads, ident="upload-broker",
                           channel_timeout=60, connection_limit=256, backlog=1024)
    print(f"READY http://127.0.0.1:{server.effective_port}", flush=True)
    server.run()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=("fake", "broker", "naive"))
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--threads", type=int, default=32)
    parser.add_argument("--app", choices=("function", "flask"), default="function")
    args = parser.parse_args()
    if args.role == "fake":
        serve_fake(args.latency_ms)
    elif args.role == "broker":
        if args.app == "flask":
            from upload_broker.local import create_app

            app = create_app()
        else:
            from bench.fc import wsgi_front_end
            from functions.create_upload_video.index import handler

            app = wsgi_front_end(handler)
        serve_wsgi(app, args.threads)
    else:
        from bench.naive_broker import create_app as create_naive

        serve_wsgi(create_naive(), args.threads)


if __name__ == "__main__":
    main()
