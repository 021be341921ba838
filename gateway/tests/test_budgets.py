"""Token budgets in Redis (the real server) and in memory: reserve the worst case, settle the real
count, never hold more than a window allows, even when processes race for the last tokens."""

import asyncio
import calendar
import json
import subprocess
import sys
import uuid

import pytest
import redis.asyncio
from django.conf import settings

from gateway.budgets import MemoryBudget, RedisBudget, rate_limit_headers, too_large_for, windows
from gateway.limits import NANO, Decision, Limits
from gateway.tokens import Usage

NOON = 1_800_000_000.0  # UTC 2027-01-15 08:00, far from every window's edge


@pytest.fixture(params=["redis", "memory"])
def budget(request):
    if request.param == "memory":
        yield MemoryBudget()
        return
    client = redis.asyncio.Redis.from_url(settings.REDIS_URL)
    yield RedisBudget(client, prefix=f"test:{uuid.uuid4().hex}")


def run(budget, coroutine):
    async def main():
        try:
            return await coroutine
        finally:
            if isinstance(budget, RedisBudget):
                await budget.redis.aclose()

    return asyncio.run(main())


def test_a_call_gets_what_it_asks_for_or_what_is_left(budget):
    limits = Limits(tokens_per_day=100)

    async def scenario():
        first = await budget.reserve("app", limits, prompt=30, wanted=40, now=NOON)
        second = await budget.reserve("app", limits, prompt=20, wanted=40, now=NOON)
        refused = await budget.reserve("app", limits, prompt=0, wanted=40, now=NOON)
        return first, second, refused

    first, second, refused = run(budget, scenario())
    assert (first.prompt, first.completion) == (30, 40)
    assert (second.prompt, second.completion) == (20, 10)  # 100 - 70 - 20 left
    assert not refused.allowed
    assert refused.refused_by.policy == "tokens-day"
    assert refused.retry_after == 86400 - int(NOON % 86400)


def test_the_prompt_and_one_completion_token_must_fit(budget):
    limits = Limits(tokens_per_minute=50)

    async def scenario():
        return [
            await budget.reserve("app", limits, prompt=49, wanted=10, now=NOON),
            await budget.reserve("other", limits, prompt=50, wanted=10, now=NOON),
        ]

    fits, too_big = run(budget, scenario())
    assert fits.allowed and fits.completion == 1
    assert not too_big.allowed
    assert too_large_for(limits, 50, NOON).policy == "tokens-minute"
    assert too_large_for(limits, 49, NOON) is None


def test_settling_replaces_the_reservation_by_the_real_count(budget):
    limits = Limits(tokens_per_month=100)

    async def scenario():
        held = await budget.reserve("app", limits, prompt=40, wanted=60, now=NOON)
        refused = await budget.reserve("app", limits, prompt=1, wanted=1, now=NOON)
        await budget.settle(held, Usage(prompt=25, completion=5))
        after = await budget.reserve("app", limits, prompt=10, wanted=1000, now=NOON)
        return refused, after

    refused, after = run(budget, scenario())
    assert not refused.allowed
    assert after.completion == 100 - 30 - 10
    assert after.used == [100]


def test_a_call_that_reserved_nothing_is_counted_when_it_settles(budget):
    """The V2 path: nothing reserved, refused once the window is full, counted by its answer."""
    limits = Limits(tokens_per_minute=10)

    async def scenario():
        first = await budget.reserve("app", limits, now=NOON)
        await budget.settle(first, Usage(completion=7))
        second = await budget.reserve("app", limits, now=NOON + 1)
        await budget.settle(second, Usage(completion=7))
        third = await budget.reserve("app", limits, now=NOON + 2)
        next_minute = await budget.reserve("app", limits, now=NOON + 61)
        return first, second, third, next_minute

    first, second, third, next_minute = run(budget, scenario())
    assert first.allowed and second.allowed and next_minute.allowed
    assert (first.prompt, first.completion) == (0, 0)
    assert not third.allowed and third.refused_by.policy == "tokens-minute"


def test_every_window_must_hold_the_call(budget):
    limits = Limits(tokens_per_minute=1000, tokens_per_day=1000, tokens_per_month=25)

    async def scenario():
        held = await budget.reserve("app", limits, prompt=5, wanted=100, now=NOON)
        refused = await budget.reserve("app", limits, prompt=5, wanted=100, now=NOON)
        return held, refused

    held, refused = run(budget, scenario())
    assert held.completion == 20
    assert refused.refused_by.policy == "tokens-month"
    year, month = 2027, 1
    month_end = calendar.timegm((year, month + 1, 1, 0, 0, 0))
    assert refused.retry_after == int(month_end - NOON)


def test_money_is_counted_at_the_plans_prices(budget):
    # 2.00 per 1,000 prompt tokens, 6.00 per 1,000 completion tokens, 0.10 a month.
    limits = Limits(
        spend_per_month=NANO // 10,
        prompt_price=2 * NANO // 1000,
        completion_price=6 * NANO // 1000,
    )

    async def scenario():
        held = await budget.reserve("app", limits, prompt=20, wanted=100, now=NOON)
        await budget.settle(held, Usage(prompt=20, completion=5))
        left = await budget.reserve("app", limits, prompt=0, wanted=100, now=NOON)
        return held, left

    held, left = run(budget, scenario())
    # 0.10 - 20 * 0.002 = 0.06 buys 10 completion tokens at 0.006.
    assert held.completion == 10
    # 0.10 - 0.04 - 0.03 = 0.03: five more.
    assert left.completion == 5


def test_windows_roll_over_and_months_have_their_own_length():
    limits = Limits(tokens_per_minute=1, tokens_per_day=1, tokens_per_month=1)
    feb_end = calendar.timegm((2027, 2, 28, 23, 59, 30))
    found = {w.policy: w for w in windows(limits, feb_end)}
    assert {p: w.seconds_left for p, w in found.items()} == {
        "tokens-minute": 30,
        "tokens-day": 30,
        "tokens-month": 30,
    }
    assert found["tokens-month"].key == "tm:2027-02"
    assert {w.key for w in windows(limits, feb_end + 60)} >= {"tm:2027-03"}


def test_the_ratelimit_fields_name_every_window(budget):
    limits = Limits(requests_per_minute=60, concurrent_requests=2, tokens_per_minute=1000)

    async def scenario():
        return await budget.reserve("app", limits, prompt=100, wanted=50, now=NOON)

    held = run(budget, scenario())
    headers = dict(rate_limit_headers(limits, Decision(True, used_this_minute=1), held))
    assert headers[b"ratelimit-policy"] == (
        b'"requests-minute";q=60;w=60, "concurrency";q=2;qu="concurrent-requests", '
        b'"tokens-minute";q=1000;qu="tokens";w=60'
    )
    assert headers[b"ratelimit"] == b'"requests-minute";r=59, "tokens-minute";r=850;t=60'


_RACE = """
import asyncio, json, sys
import redis.asyncio
from gateway.budgets import RedisBudget
from gateway.limits import Limits

async def main(url, prefix, calls, limit):
    client = redis.asyncio.Redis.from_url(url)
    budget = RedisBudget(client, prefix=prefix)
    limits = Limits(tokens_per_month=limit)
    held = await asyncio.gather(
        *(budget.reserve("app", limits, prompt=3, wanted=10) for _ in range(calls))
    )
    print(json.dumps(sum(r.prompt + r.completion for r in held if r.allowed)))
    await client.aclose()

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
"""


def test_processes_racing_for_the_last_tokens_never_hold_more_than_the_budget():
    limit = 500
    prefix = f"test:{uuid.uuid4().hex}"
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", _RACE, settings.REDIS_URL, prefix, "60", str(limit)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    held = sum(json.loads(p.communicate(timeout=60)[0]) for p in racers)
    # 180 calls of 13 tokens want 2,340: the budget is held to the token.
    assert held == limit
