"""Backfill the index behind ``GET /v1/uploads`` for uploads recorded by an older broker; run once after upgrading.

    python -m upload_broker.ledger.reindex [--ledger-url URL] [--batch N]

The ledger is ``BROKER_LEDGER_URL`` (validated as the broker validates it), or ``--ledger-url``. Redis and
Tablestore keep each user's uploads in an index written when an upload is created or completed; uploads
recorded before that index existed are missing from it (:meth:`Ledger.reindex_uploads`). This writes what is
missing, reading the ledger ``--batch`` uploads at a time, and never changes an upload's record. It is safe to
run while the broker serves, to run again, and to run again after an interruption: each run writes only what
is still missing. A SQLite ledger needs nothing (its file is migrated when the broker opens it).

Prints ``reindexed N uploads``. Exit status: 0 done; 1 the ledger cannot be reached (run it again: what was
written stays written); 2 a malformed ledger URL.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from upload_broker.config import ConfigError, ledger_url_setting
from upload_broker.ledger import LedgerUnavailable, open_ledger


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m upload_broker.ledger.reindex",
                                     description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--ledger-url", help="overrides BROKER_LEDGER_URL")
    parser.add_argument("--batch", type=int, default=500, help="uploads read per page (default 500)")
    args = parser.parse_args(argv)
    if not 1 <= args.batch <= 5000:
        parser.error("--batch must be 1-5000")
    try:
        url = ledger_url_setting(args.ledger_url)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if url.startswith("sqlite:"):
        # Not opened: opening would create a missing file, and the broker migrates an existing one itself.
        print("nothing to reindex: a SQLite ledger lists uploads from its own rows (an older file is migrated "
              "when the broker opens it)")
        return 0
    with _operator_logging():
        try:
            ledger = open_ledger(url)
            try:
                reindexed = ledger.reindex_uploads(batch=args.batch)
            finally:
                ledger.close()
        except LedgerUnavailable:
            print("error: the ledger (BROKER_LEDGER_URL) cannot be reached (Tablestore: with the ALIBABA_CLOUD_* "
                  "credentials); run this again when it can be: what was written stays written", file=sys.stderr)
            return 1
    print(f"reindexed {reindexed} uploads")
    return 0


@contextmanager
def _operator_logging() -> Iterator[None]:
    """While the backfill runs: its own warnings (``upload_broker.ledger.reindex``) on stderr as plain lines, and
    not the store's failure warnings (``upload_broker.ledger``): the one-line error says it."""
    reindex, store = logging.getLogger("upload_broker.ledger.reindex"), logging.getLogger("upload_broker.ledger")
    saved = (reindex.level, reindex.propagate, store.level)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("warning: %(message)s"))
    reindex.addHandler(handler)
    reindex.setLevel(logging.WARNING)
    reindex.propagate = False
    store.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        reindex.removeHandler(handler)
        reindex.propagate = saved[1]
        reindex.setLevel(saved[0])
        store.setLevel(saved[2])


if __name__ == "__main__":
    sys.exit(main())
