"""Bounded retries for every upstream: a time budget, at most three attempts, and a retry quota.

A broker must never multiply the load on an upstream that is already failing. Three rules hold for every
VOD and ICE call:

- **A budget.** Every attempt of one call shares the request's deadline (``BROKER_UPSTREAM_BUDGET_SECONDS``);
  no attempt starts, and no backoff sleeps, past it.
- **At most three attempts**, with full-jitter exponential backoff between them (AWS Architecture Blog,
  "Exponential Backoff And Jitter"), and never sooner than the upstream's own ``Retry-After``.
- **A retry quota per upstream action per instance**: a token bucket in the manner of the AWS SDKs' "standard"
  retry mode (AWS SDKs and Tools Reference Guide, "Retry behavior": a retry costs tokens, a timeout costs
  more, a success puts tokens back, and an empty bucket means no retry). Under a sustained failure the
  bucket empties after a few retries, and from then on each request makes one call: the upstream sees
  about one call per request, not three.

What may be retried at all (a create only when the upstream provably did nothing) is each client's
decision; it raises :class:`Retryable` for those failures and any other error for the rest. The VOD and ICE
client (:class:`~upload_broker.upstream_aliyun.AliyunRpc`) runs every call through a :class:`Retrier`. Wangsu's
only call is a create whose token may be issued as soon as the request arrives, so its client never re-sends a
request that may have reached Wangsu and retries at most once a connection that was never made (it loads no
upstream), inside the same budget.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from upload_broker.errors import BrokerError

T = TypeVar("T")

MAX_ATTEMPTS = 3
# No attempt is started with less time than this left in the budget.
MIN_ATTEMPT_SECONDS = 0.1


@dataclass(frozen=True)
class Budget:
    """A deadline shared by every attempt of one upstream call."""

    deadline: float
    clock: Callable[[], float] = time.monotonic

    @classmethod
    def of(cls, seconds: float, clock: Callable[[], float] = time.monotonic) -> Budget:
        return cls(clock() + seconds, clock)

    def remaining(self) -> float:
        return self.deadline - self.clock()


class Retryable(Exception):
    """Raised by an attempt whose failure may be retried: carries the error to raise if it is not."""

    def __init__(self, error: BrokerError, *, retry_after: float | None = None, timed_out: bool = False) -> None:
        super().__init__(error.message)
        self.error = error
        self.retry_after = retry_after
        self.timed_out = timed_out


class RetryQuota:
    """A token bucket shared by every call of one upstream action from one instance.

    The AWS SDKs' standard mode starts at 500 tokens with a retry costing 5 and a timeout 10; a broker
    instance serves far fewer requests than an SDK client's process, so the bucket is small: 10 tokens,
    a retry costs 2 and a retry after a timeout 4, every success adds 1 back (up to the capacity) and a
    success after retries returns what they cost. At most five retries happen in a burst of failures;
    then each request makes one attempt until successes refill the bucket.
    """

    def __init__(self, capacity: int = 10, *, retry_cost: int = 2, timeout_cost: int = 4, refill: int = 1) -> None:
        self.capacity = capacity
        self.retry_cost = retry_cost
        self.timeout_cost = timeout_cost
        self.refill = refill
        self._tokens = capacity
        self._lock = threading.Lock()

    @property
    def tokens(self) -> int:
        return self._tokens

    def acquire(self, *, timed_out: bool) -> int:
        """Take a retry's cost; 0 when the bucket cannot pay it (then there is no retry)."""
        cost = self.timeout_cost if timed_out else self.retry_cost
        with self._lock:
            if self._tokens < cost:
                return 0
            self._tokens -= cost
            return cost

    def succeeded(self, spent: int) -> None:
        """A call succeeded: give back what its retries cost, or one token if it needed none."""
        with self._lock:
            self._tokens = min(self.capacity, self._tokens + (spent or self.refill))


class Retrier:
    """Runs one upstream call's attempts under the three rules above."""

    def __init__(
        self,
        quota: RetryQuota | None = None,
        *,
        max_attempts: int = MAX_ATTEMPTS,
        base_delay: float = 0.1,
        max_delay: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.quota = quota or RetryQuota()
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not secrecy

    def run(self, attempt: Callable[[int], T], *, budget: Budget) -> T:
        """``attempt(n)`` for n = 0, 1, 2 until it returns; raises the last error when retrying stops."""
        spent = 0
        number = 0
        while True:
            try:
                result = attempt(number)
            except Retryable as failure:
                delay = self._delay(number, failure.retry_after)
                if number + 1 >= self.max_attempts or budget.remaining() - delay < MIN_ATTEMPT_SECONDS:
                    raise failure.error from None
                cost = self.quota.acquire(timed_out=failure.timed_out)
                if not cost:
                    raise failure.error from None  # the quota is spent: the upstream is failing for everyone
                spent += cost
                self._sleep(delay)
                number += 1
                continue
            self.quota.succeeded(spent)
            return result

    def _delay(self, number: int, retry_after: float | None) -> float:
        jitter = self._rng.uniform(0, min(self.max_delay, self.base_delay * (2**number)))
        return max(jitter, retry_after or 0.0)
