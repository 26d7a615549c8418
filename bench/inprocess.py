"""The function's own cost, without any HTTP hop: its FC 3.0 handler called in-process vs a direct SDK call.

On Function Compute 3.0 the Python runtime calls ``handler(event, context)`` with the HTTP-trigger event as
JSON bytes, so this is what the broker adds there: decoding and checking the event, the token check,
validation, the ledger, the audit record and the response struct, around the same pooled SDK call a
direct caller makes. Each broker call gets an event of its own (a fresh ``requestContext.requestId``,
fresh bytes serialised from a fresh dict: bench/fc.py), built before its clock starts, since building it
is the platform's work. Broker and direct calls alternate in shuffled order, round by round
(``bench.run.paired_rounds``); overhead = the per-round difference.

Run by ``bench/run.py`` in a fresh interpreter (the handler reads its configuration from the environment at
import, as on FC); prints one JSON object.

    python bench/inprocess.py --fake-url http://127.0.0.1:PORT --ledger-url sqlite:///... --rounds 2000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for _entry in (str(ROOT / "shared"), str(ROOT)):
    if _entry not in sys.path:
        sys.path.insert(0, _entry)

from bench.fc import create_invocation  # noqa: E402
from bench.run import BODY, broker_env, direct_caller, hs256_token, overhead_run  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--fake-url", required=True)
    parser.add_argument("--ledger-url", required=True)
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=100)
    args = parser.parse_args()
    os.environ.update(broker_env(args.fake_url, args.ledger_url))
    # The broker writes one JSON audit line per request to stderr, as on FC (where Log Service collects
    # it); here it goes to /dev/null: formatting it is timed, the terminal is not.
    real_stderr, sys.stderr = sys.stderr, open(os.devnull, "w")  # noqa: SIM115
    try:
        from functions.create_upload_video.index import handler

        broker = create_invocation(handler, "Bearer " + hs256_token(), BODY)
        result = overhead_run("in-process FC handler", {"broker": broker, "direct": direct_caller(args.fake_url)},
                              args.rounds, args.warmup)
    except Exception:
        import traceback

        traceback.print_exc(file=real_stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
