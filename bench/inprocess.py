"""The function's own cost, without the local HTTP hop: its WSGI handler called in-process vs a direct SDK call.

On Function Compute the platform's front end calls ``handler(environ, start_response)`` directly, so this is
what the broker adds there: token check, validation, ledger, audit and the response, around the same pooled
SDK call a direct caller makes. Run by ``bench/run.py`` in a fresh interpreter (the handler reads its
configuration from the environment at import); prints one JSON object.

    python bench/inprocess.py --fake-url http://127.0.0.1:PORT --ledger-url sqlite:///... --rounds 2000
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _entry in (str(ROOT / "shared"), str(ROOT)):
    if _entry not in sys.path:
        sys.path.insert(0, _entry)

from bench.run import BODY, broker_env, direct_caller, hs256_token, overhead_run  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fake-url", required=True)
    parser.add_argument("--ledger-url", required=True)
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=100)
    args = parser.parse_args()
    os.environ.update(broker_env(args.fake_url, args.ledger_url))
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - the audit log line of every request
    from functions.create_upload_video.index import handler

    authorization = "Bearer " + hs256_token()

    def broker_call() -> None:
        environ = {
            "REQUEST_METHOD": "POST", "PATH_INFO": "/v1/videos", "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(BODY)), "HTTP_AUTHORIZATION": authorization,
            "REMOTE_ADDR": "127.0.0.1", "wsgi.input": io.BytesIO(BODY),
        }
        status: list[str] = []
        handler(environ, lambda s, h, exc_info=None: status.append(s))
        if not status[0].startswith("200"):
            raise RuntimeError(status[0])

    result = overhead_run("in-process handler", {"broker": broker_call, "direct": direct_caller(args.fake_url)},
                          args.rounds, args.warmup)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
