"""Plan limits, enforced atomically across gateway processes.

One Lua script per call decides everything in Redis, so two gateway processes can never let
more through than a plan allows:
- requests per minute: a sliding window (a sorted set of the last minute's admissions), exact
  for any 60 seconds;
- requests per day: a fixed window per UTC day;
- concurrent requests: a counter, released when the response is done.

Tokens (per minute, day and month, and money per month) are budgets, reserved before a call and
settled after it: gateway.budgets.

A limit of None means no limit. Without Redis (the embedded default has one gateway process)
`MemoryLimiter` applies the same rules in the process.
"""

import asyncio
import math
import time
import uuid
from dataclasses import dataclass

_ACQUIRE = """
local minute_key, day_key, busy_key = KEYS[1], KEYS[2], KEYS[3]
local now_ms = tonumber(ARGV[1])
local per_minute, per_day = tonumber(ARGV[2]), tonumber(ARGV[3])
local concurrent = tonumber(ARGV[4])
local member, day_left_s = ARGV[5], tonumber(ARGV[6])

redis.call('ZREMRANGEBYSCORE', minute_key, '-inf', now_ms - 60000)
local in_minute = redis.call('ZCARD', minute_key)
if per_minute >= 0 and in_minute >= per_minute then
  local oldest = redis.call('ZRANGE', minute_key, 0, 0, 'WITHSCORES')
  local wait_ms = 60000 - (now_ms - tonumber(oldest[2]))
  return {0, 'requestsPerMinute', wait_ms, in_minute}
end
local in_day = tonumber(redis.call('GET', day_key) or '0')
if per_day >= 0 and in_day >= per_day then
  return {0, 'requestsPerDay', day_left_s * 1000, in_minute}
end
local busy = tonumber(redis.call('GET', busy_key) or '0')
if concurrent >= 0 and busy >= concurrent then
  return {0, 'concurrentRequests', 1000, in_minute}
end
redis.call('ZADD', minute_key, now_ms, member)
redis.call('PEXPIRE', minute_key, 61000)
redis.call('INCR', day_key)
redis.call('EXPIRE', day_key, day_left_s + 3600)
if concurrent >= 0 then
  redis.call('INCR', busy_key)
  redis.call('EXPIRE', busy_key, 3600)
end
return {1, '', 0, in_minute + 1}
"""

_RELEASE = """
if tonumber(redis.call('GET', KEYS[1]) or '0') > 0 then redis.call('DECR', KEYS[1]) end
return 1
"""


# Money is counted in billionths of the plan's currency: a price per 1,000 tokens with six
# decimals is a whole number of them per token.
NANO = 10**9
# The completion tokens a language-model call is held to when it names no max_tokens and its
# plan sets no cap.
DEFAULT_MAX_TOKENS = 1024


@dataclass(frozen=True)
class Limits:
    requests_per_minute: int | None = None
    requests_per_day: int | None = None
    concurrent_requests: int | None = None
    tokens_per_minute: int | None = None
    tokens_per_day: int | None = None
    tokens_per_month: int | None = None
    spend_per_month: int | None = None  # in NANO units of the currency
    prompt_price: int = 0  # NANO units per prompt token
    completion_price: int = 0  # NANO units per completion token
    max_tokens: int | None = None  # the most completion tokens one call may ask for

    def completion_tokens(self, asked):
        """The completion tokens a call may have: what it `asked` for (None: it did not say),
        within the plan's cap."""
        if asked is None:
            return self.max_tokens or DEFAULT_MAX_TOKENS
        return min(asked, self.max_tokens) if self.max_tokens else asked

    @property
    def has_budgets(self):
        """Whether calls under these limits reserve tokens (gateway.budgets)."""
        return any(
            limit is not None
            for limit in (
                self.tokens_per_minute,
                self.tokens_per_day,
                self.tokens_per_month,
                self.spend_per_month,
            )
        )


def _nano_per_token(price_per_1k):
    return 0 if price_per_1k is None else int(price_per_1k * NANO // 1000)


def plan_limits(plan):
    return Limits(
        requests_per_minute=plan.requests_per_minute,
        requests_per_day=plan.requests_per_day,
        concurrent_requests=plan.concurrent_requests,
        tokens_per_minute=plan.tokens_per_minute,
        tokens_per_day=plan.tokens_per_day,
        tokens_per_month=plan.tokens_per_month,
        spend_per_month=None if plan.spend_per_month is None else int(plan.spend_per_month * NANO),
        prompt_price=_nano_per_token(plan.prompt_price_per_1k),
        completion_price=_nano_per_token(plan.completion_price_per_1k),
        max_tokens=plan.max_tokens_per_call,
    )


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: str = ""  # which limit refused the call
    retry_after: int = 0  # whole seconds, for the Retry-After header
    used_this_minute: int = 0

    @property
    def reason(self):
        """For metrics: "allowed", or the limit that refused the call."""
        return "allowed" if self.allowed else self.limit

    def headers(self, limits):
        """RateLimit headers for the caller: the per-minute limit and what is left of it."""
        if limits.requests_per_minute is None:
            return []
        remaining = max(0, limits.requests_per_minute - self.used_this_minute)
        headers = [
            (b"x-ratelimit-limit", str(limits.requests_per_minute).encode()),
            (b"x-ratelimit-remaining", str(remaining).encode()),
        ]
        if not self.allowed:
            headers.append((b"retry-after", str(self.retry_after).encode()))
        return headers


def _arg(limit):
    return -1 if limit is None else int(limit)


def _windows(now):
    minute = int(now // 60)
    day = int(now // 86400)
    day_left = 86400 - int(now % 86400)
    return minute, day, day_left


class RedisLimiter:
    def __init__(self, redis, prefix="modelport:rl"):
        self.redis = redis  # a redis.asyncio.Redis
        self.prefix = prefix
        self.acquire_script = redis.register_script(_ACQUIRE)
        self.release_script = redis.register_script(_RELEASE)

    def _keys(self, subject, now):
        _, day, _ = _windows(now)
        base = f"{self.prefix}:{subject}"
        return [f"{base}:m", f"{base}:d:{day}", f"{base}:busy"]

    async def acquire(self, subject, limits, now=None):
        now = time.time() if now is None else now
        _, _, day_left = _windows(now)
        allowed, limit, wait_ms, used = await self.acquire_script(
            keys=self._keys(subject, now),
            args=[
                int(now * 1000),
                _arg(limits.requests_per_minute),
                _arg(limits.requests_per_day),
                _arg(limits.concurrent_requests),
                uuid.uuid4().hex,
                day_left,
            ],
        )
        limit = limit.decode() if isinstance(limit, bytes) else limit
        return Decision(bool(allowed), limit, max(1, math.ceil(int(wait_ms) / 1000)), int(used))

    async def release(self, subject, limits):
        if limits.concurrent_requests is not None:
            await self.release_script(keys=[f"{self.prefix}:{subject}:busy"])


class MemoryLimiter:
    """The same rules inside one process, for the embedded default (no Redis)."""

    def __init__(self):
        self.admissions = {}  # subject -> list of admission times in the last minute
        self.days = {}  # (subject, day) -> count
        self.busy = {}
        self.lock = asyncio.Lock()

    async def acquire(self, subject, limits, now=None):
        now = time.time() if now is None else now
        _, day, day_left = _windows(now)
        async with self.lock:
            recent = [t for t in self.admissions.get(subject, []) if t > now - 60]
            self.admissions[subject] = recent
            if limits.requests_per_minute is not None and len(recent) >= limits.requests_per_minute:
                wait = 60 - (now - recent[0])
                return Decision(False, "requestsPerMinute", max(1, math.ceil(wait)), len(recent))
            if (
                limits.requests_per_day is not None
                and self.days.get((subject, day), 0) >= limits.requests_per_day
            ):
                return Decision(False, "requestsPerDay", day_left, len(recent))
            if (
                limits.concurrent_requests is not None
                and self.busy.get(subject, 0) >= limits.concurrent_requests
            ):
                return Decision(False, "concurrentRequests", 1, len(recent))
            recent.append(now)
            self.days[(subject, day)] = self.days.get((subject, day), 0) + 1
            if limits.concurrent_requests is not None:
                self.busy[subject] = self.busy.get(subject, 0) + 1
            return Decision(True, "", 0, len(recent))

    async def release(self, subject, limits):
        if limits.concurrent_requests is not None:
            async with self.lock:
                self.busy[subject] = max(0, self.busy.get(subject, 0) - 1)
