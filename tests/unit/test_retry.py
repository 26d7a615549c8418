"""The retry rules every upstream call follows: a budget, at most three attempts, a retry quota."""

from __future__ import annotations

import random

import pytest

from upload_broker.errors import UpstreamError
from upload_broker.retry import Budget, Retrier, Retryable, RetryQuota


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def failing(calls: list[int], *, times: int, retry_after: float | None = None, timed_out: bool = False):
    def attempt(number: int) -> str:
        calls.append(number)
        if len(calls) <= times:
            raise Retryable(UpstreamError("down"), retry_after=retry_after, timed_out=timed_out)
        return "ok"

    return attempt


@pytest.fixture
def clock() -> Clock:
    return Clock()


def retrier(clock: Clock, quota: RetryQuota | None = None) -> Retrier:
    return Retrier(quota or RetryQuota(), sleep=clock.sleep, rng=random.Random(7))


def test_a_transient_failure_is_retried(clock):
    calls: list[int] = []
    assert retrier(clock).run(failing(calls, times=2), budget=Budget.of(8, clock)) == "ok"
    assert calls == [0, 1, 2]


def test_at_most_three_attempts(clock):
    calls: list[int] = []
    with pytest.raises(UpstreamError):
        retrier(clock).run(failing(calls, times=10), budget=Budget.of(8, clock))
    assert calls == [0, 1, 2]


def test_a_non_retryable_error_is_raised_at_once(clock):
    calls: list[int] = []

    def attempt(number: int) -> str:
        calls.append(number)
        raise UpstreamError("refused")

    with pytest.raises(UpstreamError):
        retrier(clock).run(attempt, budget=Budget.of(8, clock))
    assert calls == [0]


def test_no_backoff_runs_past_the_budget(clock):
    calls: list[int] = []
    with pytest.raises(UpstreamError):
        retrier(clock).run(failing(calls, times=10, retry_after=5), budget=Budget.of(8, clock))
    # Retry-After 5 s: one wait fits in 8 s, a second would end past the deadline.
    assert calls == [0, 1] and clock.now == 5


def test_retry_after_is_honoured(clock):
    calls: list[int] = []
    retrier(clock).run(failing(calls, times=1, retry_after=2), budget=Budget.of(8, clock))
    assert clock.now == pytest.approx(2)


def test_an_empty_quota_means_one_attempt_per_call(clock):
    quota = RetryQuota(capacity=10, retry_cost=2)
    calls: list[int] = []
    run = retrier(clock, quota)
    for _ in range(100):
        with pytest.raises(UpstreamError):
            run.run(failing(calls, times=10**6), budget=Budget.of(8, clock))
    # Ten tokens pay for five retries in all; every other call is a single attempt.
    assert len(calls) == 100 + 5 and quota.tokens == 0


def test_a_timeout_costs_more_than_another_failure(clock):
    quota = RetryQuota(capacity=10, retry_cost=2, timeout_cost=4)
    calls: list[int] = []
    run = retrier(clock, quota)
    for _ in range(10):
        with pytest.raises(UpstreamError):
            run.run(failing(calls, times=10**6, timed_out=True), budget=Budget.of(8, clock))
    assert len(calls) == 10 + 2


def test_successes_refill_the_quota(clock):
    quota = RetryQuota(capacity=10, retry_cost=2)
    run = retrier(clock, quota)
    with pytest.raises(UpstreamError):
        run.run(failing([], times=10**6), budget=Budget.of(8, clock))
    assert quota.tokens == 6
    run.run(failing([], times=0), budget=Budget.of(8, clock))
    assert quota.tokens == 7  # a success without retries adds one
    run.run(failing([], times=1), budget=Budget.of(8, clock))
    assert quota.tokens == 7  # a success after one retry gives its cost back
    for _ in range(20):
        run.run(failing([], times=0), budget=Budget.of(8, clock))
    assert quota.tokens == 10  # never past the capacity
