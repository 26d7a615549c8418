"""Print one user's audit history from the configured ledger, newest first, one line per record.

    python -m upload_broker.audit_cli --user alice [--limit N] [--json]

The ledger is ``BROKER_LEDGER_URL`` (validated as the broker validates it), or ``--ledger-url``. Columns:
time (UTC), outcome, status, code, operation, resource id, broker request id, upstream request id,
source IP, user agent. ``--json`` prints each record as one JSON object instead.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import datetime, timezone

from upload_broker.config import ConfigError, ledger_url_setting
from upload_broker.ledger import AuditRecord, LedgerUnavailable, open_ledger

HEADER = ("time", "outcome", "status", "code", "operation", "resource_id", "request_id", "upstream_request_id",
          "source_ip", "user_agent")


def format_record(record: AuditRecord) -> str:
    """One tab-separated line; absent values are ``-``."""
    moment = datetime.fromtimestamp(record.at, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    columns = (moment, record.outcome, str(record.status), record.code, record.operation, record.resource_id,
               record.request_id, record.upstream_request_id, record.source_ip, record.user_agent)
    return "\t".join((value or "-").replace("\t", " ").replace("\n", " ") for value in columns)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m upload_broker.audit_cli", description=__doc__.splitlines()[0])
    parser.add_argument("--user", required=True, help="the user (the token's sub) whose history to print")
    parser.add_argument("--limit", type=int, default=100, help="how many records, newest first (default 100)")
    parser.add_argument("--json", action="store_true", help="print JSON lines instead of columns")
    parser.add_argument("--ledger-url", help="overrides BROKER_LEDGER_URL")
    args = parser.parse_args(argv)
    if args.limit < 1:
        parser.error("--limit must be at least 1")
    try:
        url = ledger_url_setting(args.ledger_url)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        ledger = open_ledger(url)
        try:
            records = ledger.audit_history(args.user, limit=args.limit)
        finally:
            ledger.close()
    except LedgerUnavailable:
        print("error: the ledger (BROKER_LEDGER_URL) cannot be reached", file=sys.stderr)
        return 1
    if not args.json:
        print("\t".join(HEADER))
    for record in records:
        print(json.dumps(record.to_dict(), ensure_ascii=False) if args.json else format_record(record))
    if not records:
        print(f"no audit records for {args.user!r} in this ledger", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
