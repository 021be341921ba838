"""Usage of the gateway: per application, endpoint and minute, requests, errors by status class,
latency (sum and histogram) and tokens (prompt, completion and their total).

The gateway only increments counters: one Redis pipeline of HINCRBYs per call (or a dict in the
process for the embedded default, which has no Redis). A periodic task copies finished minutes
into `UsageMinute` rows. With Redis a minute's hash holds the minute's complete totals, so rows
are written with absolute values (an upsert) before the hash is deleted: a flush that is
repeated, or interrupted between the two steps, writes the same numbers again instead of adding
them twice. Only minutes that ended `MODELPORT_USAGE_SETTLE_SECONDS` ago are flushed, so calls
still finishing in another process (or on a clock a little behind) are in before the copy.
Queries read the minutes not copied yet from the counters themselves, so usage is current.
"""

import functools
import logging
import math
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import chain

import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.api.params import instant
from core.errors import CoreErrorCode, Invalid
from gateway.errors import GatewayErrorCode
from gateway.models import UsageMinute
from gateway.tokens import Usage
from tenants.models import Tenant

logger = logging.getLogger(__name__)

BUCKETS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500)  # then one bucket for slower calls
METRICS = (
    "requests",
    "errors_4xx",
    "errors_5xx",
    "latency_ms_sum",
    "tokens",
    "prompt_tokens",
    "completion_tokens",
)
# What the usage API sums per period, besides latency.
SUMS = ("requests", "errors", "tokens", "prompt_tokens", "completion_tokens")
PREFIX = "modelport:usage"
NONE = Usage()


def _series(tenant, application, endpoint):
    # Tenant, application and endpoint names are DNS labels: "/" cannot occur in them.
    return f"{tenant}/{application}/{endpoint}"


def observation(status, latency_ms, usage):
    """{counter: increment} for one call; `usage` is its Usage (gateway.tokens)."""
    latency_ms = max(0, int(latency_ms))
    bucket = next((i for i, bound in enumerate(BUCKETS_MS) if latency_ms <= bound), len(BUCKETS_MS))
    counts = {"requests": 1, "latency_ms_sum": latency_ms, f"b{bucket}": 1}
    if 400 <= status < 500:
        counts["errors_4xx"] = 1
    elif status >= 500:
        counts["errors_5xx"] = 1
    for counter, tokens in (
        ("tokens", usage.total),
        ("prompt_tokens", usage.prompt),
        ("completion_tokens", usage.completion),
    ):
        if tokens:
            counts[counter] = int(tokens)
    return counts


class RedisUsage:
    """Counters in Redis hashes, one per minute: `<tenant>/<app>/<endpoint>|<counter>` fields."""

    def __init__(self, redis, prefix=PREFIX):
        self.redis = redis  # a redis.asyncio.Redis
        self.prefix = prefix

    async def record(self, tenant, application, endpoint, status, latency_ms, usage=NONE, now=None):
        minute = int((time.time() if now is None else now) // 60)
        key = f"{self.prefix}:{minute}"
        series = _series(tenant, application, endpoint)
        async with self.redis.pipeline(transaction=False) as pipe:
            for counter, value in observation(status, latency_ms, usage).items():
                pipe.hincrby(key, f"{series}|{counter}", value)
            pipe.expire(key, 7 * 86400)  # a flusher that never runs must not fill Redis
            pipe.sadd(f"{self.prefix}:minutes", minute)
            await pipe.execute()


class MemoryUsage:
    """The same counters in the process (embedded default); the gateway drains finished minutes.
    The newest instance is `MemoryUsage.current`, which usage queries in this process read."""

    current = None

    def __init__(self):
        self.minutes = defaultdict(Counter)  # minute -> Counter of "<series>|<counter>"
        MemoryUsage.current = self

    async def record(self, tenant, application, endpoint, status, latency_ms, usage=NONE, now=None):
        minute = int((time.time() if now is None else now) // 60)
        series = _series(tenant, application, endpoint)
        counts = self.minutes[minute]
        for counter, value in observation(status, latency_ms, usage).items():
            counts[f"{series}|{counter}"] += value

    def drain(self, before):
        """Remove and return {minute: counters} of the minutes that ended before `before`."""
        finished = [m for m in self.minutes if (m + 1) * 60 <= before]
        return {minute: self.minutes.pop(minute) for minute in finished}


def _rows(minute, counters):
    """{(tenant, application, endpoint): {counter: value}} from a minute's flat counters."""
    rows = defaultdict(lambda: {"latency_buckets": [0] * (len(BUCKETS_MS) + 1)})
    for field, value in counters.items():
        field = field.decode() if isinstance(field, bytes) else field
        series, _, counter = field.rpartition("|")
        row = rows[tuple(series.split("/", 2))]
        if counter.startswith("b") and counter[1:].isdigit():
            row["latency_buckets"][int(counter[1:])] += int(value)
        elif counter in METRICS:
            row[counter] = int(value)
    return rows


def store_minute(minute, counters, add_to_existing=False):
    """Write one minute's counters as UsageMinute rows: their absolute values, or (memory
    counters, drained once) added to what is there. Returns the number of rows written."""
    rows = _rows(minute, counters)
    tenants = dict(
        Tenant.objects.filter(name__in={t for t, _, _ in rows}).values_list("name", "pk")
    )
    at = _minute_start(minute)
    objects = []
    with transaction.atomic():
        existing = {}
        if add_to_existing:
            existing = {
                (u.tenant_id, u.application, u.endpoint): u
                for u in UsageMinute.objects.select_for_update().filter(minute=at)
            }
        for (tenant, application, endpoint), values in rows.items():
            if tenant not in tenants:
                continue  # deleted meanwhile
            row = UsageMinute(
                tenant_id=tenants[tenant], application=application, endpoint=endpoint, minute=at
            )
            old = existing.get((row.tenant_id, application, endpoint))
            for metric in METRICS:
                setattr(row, metric, values.get(metric, 0) + (getattr(old, metric) if old else 0))
            row.latency_buckets = values["latency_buckets"]
            if old:
                row.latency_buckets = [
                    a + b for a, b in zip(row.latency_buckets, old.latency_buckets, strict=False)
                ]
            objects.append(row)
        UsageMinute.objects.bulk_create(
            objects,
            update_conflicts=True,
            unique_fields=["tenant", "application", "endpoint", "minute"],
            update_fields=[*METRICS, "latency_buckets"],
        )
    return len(objects)


def store_drained(drained):
    """Store counters drained from a MemoryUsage (they exist nowhere else: add them)."""
    for minute, counters in sorted(drained.items()):
        store_minute(minute, counters, add_to_existing=True)


def flush_redis(client, before=None, prefix=PREFIX):
    """Copy the minutes that ended before `before` (default: settled ones) from Redis into the
    database, then delete them from Redis. `client` is a synchronous redis.Redis."""
    if before is None:
        before = time.time() - settings.MODELPORT_USAGE_SETTLE_SECONDS
    written = 0
    for raw in client.smembers(f"{prefix}:minutes"):
        minute = int(raw)
        if (minute + 1) * 60 > before:
            continue
        key = f"{prefix}:{minute}"
        counters = client.hgetall(key)
        if counters:
            written += store_minute(minute, counters)
        # Only after the rows are committed: if this step is lost, the next flush writes the
        # same absolute values again.
        with client.pipeline() as pipe:
            pipe.delete(key)
            pipe.srem(f"{prefix}:minutes", raw)
            pipe.execute()
    return written


# --- Reading it back ------------------------------------------------------------------------


def percentile_ms(buckets, fraction):
    """The latency under which `fraction` of the calls finished, interpolated inside the bucket
    it falls in (the slowest bucket has no upper bound: its lower bound is reported)."""
    total = sum(buckets)
    if not total:
        return None
    rank = fraction * total
    seen = 0
    for index, count in enumerate(buckets):
        if count and seen + count >= rank:
            lower = BUCKETS_MS[index - 1] if index else 0
            if index == len(BUCKETS_MS):
                return float(lower)
            upper = BUCKETS_MS[index]
            return round(lower + (upper - lower) * (rank - seen) / count, 1)
        seen += count
    return float(BUCKETS_MS[-1])


GRANULARITY_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


def _periods(rows, step):
    """{period start (epoch seconds): sums} of rows (UsageMinute), one pass."""
    periods = {}
    for row in rows:
        start = int(row.minute.timestamp()) // step * step
        period = periods.setdefault(start, _empty_period())
        period["requests"] += row.requests
        period["errors"] += row.errors_4xx + row.errors_5xx
        for name in ("tokens", "prompt_tokens", "completion_tokens"):
            period[name] += getattr(row, name)
        for index, count in enumerate(row.latency_buckets):
            period["buckets"][index] += count
    return periods


def _empty_period():
    return {**dict.fromkeys(SUMS, 0), "buckets": [0] * (len(BUCKETS_MS) + 1)}


def _summary(period):
    return {
        "requests": period["requests"],
        "errors": period["errors"],
        "p50_ms": percentile_ms(period["buckets"], 0.50),
        "p99_ms": percentile_ms(period["buckets"], 0.99),
        "tokens": period["tokens"],
        "prompt_tokens": period["prompt_tokens"],
        "completion_tokens": period["completion_tokens"],
    }


def _series_of(periods):
    return [
        {
            "time": datetime.fromtimestamp(start, tz=UTC).isoformat().replace("+00:00", "Z"),
            **_summary(period),
        }
        for start, period in sorted(periods.items())
    ]


def _totals_of(periods):
    """One summary of every period; its percentiles come from the summed histograms."""
    total = _empty_period()
    for period in periods.values():
        for name in SUMS:
            total[name] += period[name]
        total["buckets"] = [a + b for a, b in zip(total["buckets"], period["buckets"], strict=True)]
    return _summary(total)


def usage_series(rows, granularity):
    """Rows (UsageMinute) summed per period of `granularity`, oldest first."""
    return _series_of(_periods(rows, GRANULARITY_SECONDS[granularity]))


# The longest range each granularity may ask for, so a request stays a bounded amount of work.
MAX_RANGE = {"minute": timedelta(days=2), "hour": timedelta(days=31), "day": timedelta(days=366)}


@dataclass(frozen=True)
class UsageReport:
    granularity: str
    since: datetime
    until: datetime
    series: list  # periods with calls, oldest first
    totals: dict  # requests, errors, p50_ms, p99_ms and tokens (all, prompt, completion)


def query_usage(tenant, params):
    """The tenant's usage as the API's query parameters ask for it (`granularity`, default hour;
    `since`/`until`, default the last day; optional `application` and `endpoint`). A bad
    parameter is an Invalid error that says which and why."""
    granularity = params.get("granularity", "hour")
    if granularity not in GRANULARITY_SECONDS:
        raise Invalid(
            GatewayErrorCode.INVALID_GRANULARITY,
            f"granularity: use one of {', '.join(GRANULARITY_SECONDS)}.",
            fields={"granularity": ["Unknown granularity."]},
        )
    until = instant(params, "until", timezone.now())
    since = instant(params, "since", None)
    if since is None:
        try:
            since = until - timedelta(days=1)
        except OverflowError:  # until is on the first day of year 1
            raise Invalid(
                CoreErrorCode.INVALID_TIME,
                "until: give a later time, or give since too.",
                fields={"until": ["Too early."]},
            ) from None
    if since >= until:
        raise Invalid(GatewayErrorCode.INVALID_RANGE, "since must be earlier than until.")
    if until - since > MAX_RANGE[granularity]:
        raise Invalid(
            GatewayErrorCode.RANGE_TOO_LARGE,
            f"A {granularity} series covers at most {MAX_RANGE[granularity].days} days; "
            "narrow since/until or use a coarser granularity.",
        )
    wanted = {key: params[key] for key in ("application", "endpoint") if key in params}
    live, replaces = _live_minutes(
        math.ceil(since.timestamp() / 60), math.ceil(until.timestamp() / 60)
    )
    rows = UsageMinute.objects.filter(tenant=tenant, minute__gte=since, minute__lt=until, **wanted)
    if any("\x00" in value for value in wanted.values()):
        rows = rows.none()  # a name with NUL names nothing (and PostgreSQL refuses it)
    if replaces:  # Redis holds those minutes' complete totals: the rows are older copies
        rows = rows.exclude(minute__in=[_minute_start(minute) for minute in live])
    unflushed = _live_rows(live, tenant.name, wanted)
    periods = _periods(chain(rows.iterator(), unflushed), GRANULARITY_SECONDS[granularity])
    return UsageReport(granularity, since, until, _series_of(periods), _totals_of(periods))


def _minute_start(minute):
    return datetime.fromtimestamp(minute * 60, tz=UTC)


@functools.cache
def _redis(url):
    """One client (and connection pool) per Redis URL for this process."""
    return redis.Redis.from_url(url)


def _live_minutes(first, end):
    """({minute: counters}, replaces): what the gateway has counted and not yet copied to the
    database, for minutes in [first, end), so usage shows calls at once rather than after the
    flush. Redis holds each minute's complete totals, which replace the database's rows for the
    minute (a flush may have copied part of it); this process's own counters (no Redis) are
    not in the database yet, so they add to it."""
    if settings.REDIS_URL:
        client = _redis(settings.REDIS_URL)
        try:
            minutes = sorted(
                int(raw) for raw in client.smembers(f"{PREFIX}:minutes") if first <= int(raw) < end
            )
            with client.pipeline(transaction=False) as pipe:
                for minute in minutes:
                    pipe.hgetall(f"{PREFIX}:{minute}")
                counted = pipe.execute()
        except redis.RedisError as exc:
            logger.warning("usage: Redis unavailable, showing flushed minutes only: %s", exc)
            return {}, False
        # A hash a flush deleted meanwhile is empty: its rows are in the database by then.
        return {m: counters for m, counters in zip(minutes, counted, strict=True) if counters}, True
    local = MemoryUsage.current
    if local is None:
        return {}, False
    return {m: dict(c) for m, c in list(local.minutes.items()) if first <= m < end}, False


def _live_rows(live, tenant, wanted):
    """UsageMinute rows (unsaved) of the tenant from live counters, as `wanted` filters them."""
    for minute, counters in live.items():
        for (name, application, endpoint), values in _rows(minute, counters).items():
            row = {"application": application, "endpoint": endpoint}
            if name != tenant or any(row[key] != value for key, value in wanted.items()):
                continue
            yield UsageMinute(
                minute=_minute_start(minute),
                **row,
                **{metric: values.get(metric, 0) for metric in METRICS},
                latency_buckets=values["latency_buckets"],
            )
