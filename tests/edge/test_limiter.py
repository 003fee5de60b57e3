"""The GCRA limiter on its own, with a clock the test moves."""

import tracemalloc

from app.domain.ratelimit import Limit, RateLimiter, header_seconds


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_refusal_then_refill():
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    limit = Limit(3, period=60)  # one every 20 s, three at once
    decisions = [limiter.hit("k", limit) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions[:3]] == [2, 1, 0]
    refused = decisions[3]
    assert refused.retry_after == 20 and refused.reset_after == 60
    clock.now += 19.9
    assert not limiter.hit("k", limit).allowed
    clock.now += 0.1  # exactly Retry-After later
    assert limiter.hit("k", limit).allowed


def test_retry_after_is_honest_at_whole_seconds():
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    limit = Limit(7, period=10)  # interval 1.428... s
    while limiter.hit("k", limit).allowed:
        pass
    refused = limiter.hit("k", limit)
    clock.now += header_seconds(refused.retry_after)  # what the header tells the client
    assert limiter.hit("k", limit).allowed


def test_keys_are_independent():
    limiter = RateLimiter(clock=Clock())
    limit = Limit(1)
    assert limiter.hit("a", limit).allowed
    assert not limiter.hit("a", limit).allowed
    assert limiter.hit("b", limit).allowed


def test_first_rejection_once_per_window():
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    limit = Limit(1, period=10)
    limiter.hit("k", limit)
    flags = [limiter.hit("k", limit).first_rejection for _ in range(20)]
    assert flags == [True] + [False] * 19
    clock.now += 10.5  # the window has passed: a new flood is worth one new line
    limiter.hit("k", limit)
    assert limiter.hit("k", limit).first_rejection


def test_expired_keys_are_dropped_when_room_is_needed():
    clock = Clock()
    limiter = RateLimiter(max_keys=100, clock=clock)
    for n in range(100):
        limiter.hit(f"old{n}", Limit(10, period=1))
    clock.now += 2  # all of them have refilled
    limiter.hit("new", Limit(10, period=1))
    assert len(limiter) == 1


def test_memory_stays_flat_under_a_flood_of_distinct_addresses():
    clock = Clock()
    limiter = RateLimiter(max_keys=10_000, clock=clock)
    limit = Limit(100)

    def flood(start: int) -> None:
        for n in range(start, start + 100_000):
            limiter.hit(f"ip:10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}", limit)

    tracemalloc.start()
    flood(0)
    after_first, _ = tracemalloc.get_traced_memory()
    flood(100_000)
    after_second, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(limiter) <= 10_000
    # The second flood of 100,000 new addresses adds nothing that stays.
    assert after_second <= after_first * 1.1


def test_peek_looks_without_spending_and_charge_always_spends():
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    limit = Limit(3, 90.0)
    for _ in range(10):
        assert limiter.peek("k", limit).allowed  # looking is free
    for _ in range(5):  # two more failures than the budget, as concurrent requests would
        limiter.charge("k", limit)
    refused = limiter.peek("k", limit)
    assert not refused.allowed and refused.first_rejection
    assert not limiter.peek("k", limit).first_rejection  # noted once a window
    # The overrun lengthens the refusal, but never past one period.
    assert 60.0 < refused.retry_after <= 90.0
    for _ in range(100):
        limiter.charge("k", limit)
    assert limiter.peek("k", limit).retry_after <= 90.0
    now[0] += 90.0
    assert limiter.peek("k", limit).allowed
