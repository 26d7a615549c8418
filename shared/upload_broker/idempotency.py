"""Idempotent creates: the same ``Idempotency-Key`` from the same user with the same body gets the first answer.

- The key is at most 128 printable ASCII characters (else 400 ``InvalidParameter``, Field
  ``Idempotency-Key``) and is scoped to the user and the operation: two users (or one user's video and
  image creates) never share a key.
- The first successful answer is kept for 24 hours and replayed without an upstream call: same status,
  same body, the replay's own ``X-Request-Id``, plus ``Idempotent-Replayed: true``.
- The same key with a different body (compared by the SHA-256 of its canonical JSON) is 409
  ``IdempotencyConflict``.
- While the first request is in flight, a second one waits for its answer (polling the ledger) for at
  most the upstream budget, then gets 409 ``IdempotencyConflict`` saying it is still in progress.
- An error answer is not kept: the key is released so the client can retry.

The kept answer holds the ``UploadAuth`` (replaying it is the point). It lives only in the ledger store,
under a hash of the key, for 24 hours; it is never written to the audit trail or a log.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from upload_broker.errors import IdempotencyConflict, InvalidParameter
from upload_broker.http import Answer
from upload_broker.ledger.base import Ledger, LedgerUnavailable

if TYPE_CHECKING:
    from upload_broker.call import Call, Operation
    from upload_broker.http import Request

log = logging.getLogger("upload_broker.idempotency")

HEADER = "Idempotency-Key"
KEEP_SECONDS = 24 * 3600.0
POLL_SECONDS = 0.05
# A claim whose holder died (instance killed mid-call) lapses after the upstream budget plus this.
PENDING_GRACE_SECONDS = 10.0
_VALID_KEY = re.compile(r"^[\x20-\x7e]{1,128}$")


REPLAYED_HEADERS = {"Idempotent-Replayed": "true"}


def key_from(request: Request) -> str | None:
    """The request's ``Idempotency-Key``, checked; None when it sent none."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not _VALID_KEY.match(key):
        raise InvalidParameter(
            "Idempotency-Key must be 1 to 128 printable ASCII characters, such as a UUID.", field=HEADER
        )
    return key


def fingerprint(body: Mapping[str, Any]) -> str:
    """SHA-256 of the body's canonical JSON (sorted keys, no spaces): equal bodies, equal fingerprints."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def scoped_key(user: str, operation: str, key: str) -> str:
    """The store's name for a key: a hash, so neither the key nor the user is stored in the clear."""
    return hashlib.sha256("\0".join((user, operation, key)).encode("utf-8")).hexdigest()


@dataclass
class HeldKey:
    """A key this request holds while it calls the upstream; complete it with the answer or release it."""

    ledger: Ledger
    key: str
    fingerprint: str
    owner: str

    def complete(self, response: Mapping[str, Any], *, at: float) -> None:
        """Keep ``response`` for 24 h (raises :class:`LedgerUnavailable`: then no credential is issued)."""
        self.ledger.complete_idempotency(self.key, self.fingerprint, dict(response), at=at, keep_seconds=KEEP_SECONDS)

    def release(self) -> None:
        """Free the key so the client can retry; never raises (a lapsed claim frees it anyway)."""
        try:
            self.ledger.release_idempotency(self.key, owner=self.owner)
        except LedgerUnavailable:
            log.warning("idempotency key not released; it lapses by itself")


def claim(
    call: Call,
    operation: Operation,
    key: str,
    *,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> HeldKey | Answer:
    """Hold ``key`` for this create, or return the answer kept for it (waiting for one in flight)."""
    ledger = call.broker.ledger
    budget = call.config.upstream_budget_seconds
    store_key = scoped_key(call.user, operation.function, key)
    body_fingerprint = fingerprint(call.body)
    owner = f"{call.request_id}:{uuid.uuid4().hex}"
    deadline = monotonic() + budget
    while True:
        found = ledger.claim_idempotency(
            store_key, body_fingerprint, owner=owner, at=call.broker.clock(),
            pending_seconds=budget + PENDING_GRACE_SECONDS,
        )
        if found.state == "started":
            return HeldKey(ledger, store_key, body_fingerprint, owner)
        if found.state == "done":
            return Answer(dict(found.response or {}), REPLAYED_HEADERS)
        if found.state == "conflict":
            raise IdempotencyConflict()
        if monotonic() >= deadline:
            raise IdempotencyConflict(
                "A request with this Idempotency-Key is still in progress; retry shortly.", retry_after=1
            )
        sleep(POLL_SECONDS)
