"""Plan limits in Redis (the real server) and in memory: the same rules, and exact counts when
two processes race for the same plan."""

import asyncio
import json
import subprocess
import sys
import uuid

import pytest
import redis.asyncio
from django.conf import settings

from gateway.limits import Limits, MemoryLimiter, RedisLimiter

NOON = 1_800_000_000.0  # a fixed instant, far from a day boundary (UTC 2027-01-15 08:00)


@pytest.fixture(params=["redis", "memory"])
def limiter(request):
    if request.param == "memory":
        yield MemoryLimiter()
        return
    client = redis.asyncio.Redis.from_url(settings.REDIS_URL)
    yield RedisLimiter(client, prefix=f"test:{uuid.uuid4().hex}")


def run(limiter, coroutine):
    """Run a scenario in one event loop; a Redis client is closed in the loop that used it."""

    async def main():
        try:
            return await coroutine
        finally:
            if isinstance(limiter, RedisLimiter):
                await limiter.redis.aclose()

    return asyncio.run(main())


def test_requests_per_minute_is_a_sliding_window(limiter):
    limits = Limits(requests_per_minute=3)

    async def scenario():
        decisions = [await limiter.acquire("app", limits, now=NOON + i) for i in range(4)]
        # the first admission leaves the window 60 s after it was made
        later = await limiter.acquire("app", limits, now=NOON + 60.5)
        return decisions, later

    decisions, later = run(limiter, scenario())
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert decisions[3].limit == "requestsPerMinute"
    assert decisions[3].retry_after == 57
    assert later.allowed


def test_requests_per_day_is_counted_per_utc_day(limiter):
    limits = Limits(requests_per_day=2)

    async def scenario():
        first = [await limiter.acquire("app", limits, now=NOON + i * 100) for i in range(3)]
        next_day = await limiter.acquire("app", limits, now=NOON + 86400)
        return first, next_day

    first, next_day = run(limiter, scenario())
    assert [d.allowed for d in first] == [True, True, False]
    assert first[2].limit == "requestsPerDay"
    assert next_day.allowed


def test_concurrent_requests_are_released_when_done(limiter):
    limits = Limits(concurrent_requests=1)

    async def scenario():
        first = await limiter.acquire("app", limits, now=NOON)
        refused = await limiter.acquire("app", limits, now=NOON)
        await limiter.release("app", limits)
        again = await limiter.acquire("app", limits, now=NOON)
        return first, refused, again

    first, refused, again = run(limiter, scenario())
    assert first.allowed and not refused.allowed and again.allowed
    assert refused.limit == "concurrentRequests"


def test_subjects_do_not_share_limits(limiter):
    limits = Limits(requests_per_minute=1)

    async def scenario():
        return [
            (await limiter.acquire(subject, limits, now=NOON)).allowed
            for subject in ("a", "b", "a")
        ]

    assert run(limiter, scenario()) == [True, True, False]


def test_headers_tell_the_limit_and_what_is_left(limiter):
    limits = Limits(requests_per_minute=2)

    async def scenario():
        return [await limiter.acquire("app", limits, now=NOON) for _ in range(3)]

    allowed, _, refused = run(limiter, scenario())
    assert dict(allowed.headers(limits)) == {
        b"x-ratelimit-limit": b"2",
        b"x-ratelimit-remaining": b"1",
    }
    assert dict(refused.headers(limits))[b"retry-after"] == b"60"


_RACE = """
import asyncio, json, sys
import redis.asyncio
from gateway.limits import Limits, RedisLimiter

async def main(url, prefix, calls):
    client = redis.asyncio.Redis.from_url(url)
    limiter = RedisLimiter(client, prefix=prefix)
    limits = Limits(requests_per_minute=int(sys.argv[4]))
    decisions = await asyncio.gather(*(limiter.acquire("app", limits) for _ in range(calls)))
    print(json.dumps(sum(d.allowed for d in decisions)))
    await client.aclose()

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


def test_two_processes_racing_let_exactly_n_through():
    n = 50
    prefix = f"test:{uuid.uuid4().hex}"
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", _RACE, settings.REDIS_URL, prefix, str(n), str(n)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    allowed = [json.loads(p.communicate(timeout=60)[0]) for p in racers]
    assert sum(allowed) == n
