"""Usage counters (real Redis, and in memory) and their flush into UsageMinute rows: totals
are exact, and flushing again never counts a call twice."""

import asyncio
import time
import uuid
from unittest import mock

import pytest
import redis
import redis.asyncio
from django.conf import settings

from gateway.models import UsageMinute
from gateway.tasks import flush_usage
from gateway.tokens import Usage
from gateway.usage import (
    MemoryUsage,
    RedisUsage,
    flush_redis,
    observation,
    percentile_ms,
    store_drained,
)
from tenants.models import Tenant

pytestmark = pytest.mark.django_db

NOON = 1_800_000_000.0  # 2027-01-15 08:00 UTC, a minute boundary


@pytest.fixture
def tenant():
    return Tenant.objects.create(name="demo", scope="team")


@pytest.fixture
def prefix():
    """Keys of this test alone; removed afterwards."""
    name = f"test-usage:{uuid.uuid4().hex}"
    yield name
    with redis.Redis.from_url(settings.REDIS_URL) as client:
        keys = list(client.scan_iter(f"{name}:*"))
        if keys:
            client.delete(*keys)


def record_calls(prefix, calls):
    async def main():
        client = redis.asyncio.Redis.from_url(settings.REDIS_URL)
        usage = RedisUsage(client, prefix=prefix)
        try:
            for call in calls:
                await usage.record(*call)
        finally:
            await client.aclose()

    asyncio.run(main())


CALLS = [
    # tenant, application, endpoint, status, latency ms, tokens (prompt, completion), time
    ("demo", "scorer", "iris", 200, 3, Usage(), NOON + 1),
    ("demo", "scorer", "iris", 200, 40, Usage(5, 7), NOON + 2),
    ("demo", "scorer", "iris", 429, 1, Usage(), NOON + 3),
    ("demo", "scorer", "iris", 502, 3000, Usage(), NOON + 61),
    ("demo", "", "iris", 200, 8, Usage(), NOON + 4),
    ("gone", "x", "y", 200, 1, Usage(), NOON + 5),
]


def test_flushed_minutes_hold_what_the_gateway_counted(tenant, prefix):
    record_calls(prefix, CALLS)
    with redis.Redis.from_url(settings.REDIS_URL) as client:
        assert flush_redis(client, before=NOON + 120, prefix=prefix) == 3
    rows = {(r.application, r.minute.timestamp()): r for r in UsageMinute.objects.all()}
    first = rows[("scorer", NOON)]
    assert (first.requests, first.errors_4xx, first.errors_5xx) == (3, 1, 0)
    assert (first.latency_ms_sum, first.tokens) == (44, 12)
    assert (first.prompt_tokens, first.completion_tokens) == (5, 7)
    assert first.latency_buckets == [2, 0, 0, 1, 0, 0, 0, 0, 0, 0]
    second = rows[("scorer", NOON + 60)]
    assert (second.requests, second.errors_5xx, second.latency_buckets[-1]) == (1, 1, 1)
    assert rows[("", NOON)].requests == 1  # a member's own call


def test_only_finished_minutes_are_flushed(tenant, prefix):
    record_calls(prefix, CALLS)
    with redis.Redis.from_url(settings.REDIS_URL) as client:
        flush_redis(client, before=NOON + 90, prefix=prefix)
        assert UsageMinute.objects.filter(minute__gte="2027-01-15T08:01Z").count() == 0
        assert client.exists(f"{prefix}:{int(NOON // 60) + 1}")


def test_a_flush_interrupted_before_redis_forgets_the_minute_does_not_count_twice(tenant, prefix):
    record_calls(prefix, CALLS)
    with redis.Redis.from_url(settings.REDIS_URL) as client:
        with (
            mock.patch.object(redis.client.Pipeline, "execute", side_effect=redis.ConnectionError),
            pytest.raises(redis.ConnectionError),
        ):
            flush_redis(client, before=NOON + 120, prefix=prefix)
        assert UsageMinute.objects.exists()  # one minute's rows were committed
        flush_redis(client, before=NOON + 120, prefix=prefix)
        assert flush_redis(client, before=NOON + 120, prefix=prefix) == 0
    assert sorted(UsageMinute.objects.values_list("requests", flat=True)) == [1, 1, 3]


def test_memory_counters_are_drained_once_and_added_to_what_is_stored(tenant):
    usage = MemoryUsage()

    async def calls():
        for call in CALLS:
            await usage.record(*call)

    asyncio.run(calls())
    assert usage.drain(before=NOON + 59) == {}
    store_drained(usage.drain(before=NOON + 60))
    assert usage.drain(before=NOON + 60) == {}
    asyncio.run(usage.record("demo", "scorer", "iris", 200, 3, Usage(), NOON + 30))  # a late call
    store_drained(usage.drain(before=NOON + 60))
    assert (
        UsageMinute.objects.get(application="scorer", minute__lt="2027-01-15T08:01Z").requests == 4
    )


def test_the_periodic_task_flushes_settled_minutes(tenant, settings):
    settings.MODELPORT_USAGE_SETTLE_SECONDS = 0
    assert settings.CELERY_BEAT_SCHEDULE["flush-usage"]["task"] == "gateway.tasks.flush_usage"
    earlier = time.time() - 120
    record_calls("modelport:usage", [("demo", "app", "iris", 200, 5, Usage(), earlier)])
    flush_usage.delay()
    assert UsageMinute.objects.get(application="app").requests == 1


@pytest.mark.parametrize(
    ("status", "latency", "expected"),
    [
        (200, 0, {"requests": 1, "latency_ms_sum": 0, "b0": 1}),
        (404, 7, {"requests": 1, "latency_ms_sum": 7, "b1": 1, "errors_4xx": 1}),
        (503, 99999, {"requests": 1, "latency_ms_sum": 99999, "b9": 1, "errors_5xx": 1}),
    ],
)
def test_one_call_is_one_request_in_one_bucket(status, latency, expected):
    assert observation(status, latency, Usage()) == expected


def test_percentiles_come_from_the_buckets():
    assert percentile_ms([0] * 10, 0.5) is None
    assert percentile_ms([10] + [0] * 9, 0.5) == 2.5
    assert percentile_ms([0] * 9 + [4], 0.99) == 2500.0


@pytest.mark.parametrize(
    "query",
    [
        "since=2026-02-30T00:00:00Z",  # well formed, but no such day
        "until=0001-01-01T00:00:00Z",  # a day before it is before year 1
    ],
)
def test_a_time_that_is_no_time_is_a_400(admin_api, tenant, query):
    # Both were a 500.
    response = admin_api.get(f"/tenants/demo/usage?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] in ("invalid_time", "invalid_range")


def test_a_filter_with_a_nul_character_matches_nothing(admin_api, tenant):
    # PostgreSQL refuses NUL in a query, which was a 500.
    response = admin_api.get("/tenants/demo/usage?application=a%00&endpoint=e%00")
    assert response.status_code == 200
    assert response.json()["data"] == {"series": []}
