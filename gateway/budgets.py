"""Token budgets that hold: reserve a call's worst case before it is forwarded, settle its real
count when it ends.

A plan's budgets are windows, each a counter in Redis (or in the process, MemoryBudget) that
counts tokens, or money in NANO units of the plan's currency: tokens per UTC minute, per UTC day
and per calendar month, and spend per calendar month (prompt and completion tokens at the plan's
prices). One Lua script reserves in every window at once, so calls racing in any number of
gateway processes never hold more than a window allows:

- the prompt (the gateway's upper estimate) and at least one completion token must fit in every
  window, or the call is refused (429, Retry-After when the refusing window starts over);
- the call is granted as many completion tokens as it asked for (`max_tokens`, or the plan's
  cap) and every window can still hold, and the gateway asks the model server for no more;
- a stream that produces more than it was granted is cut off there (gateway.openai), so what a
  model server does with max_tokens cannot take an application over its budget;
- when the answer ends, the reservation is replaced by the real count (`settle`).

Calls that are not language-model calls (the V2 path) reserve nothing, are refused while a
window is full, and are counted by what their answers report.
"""

import asyncio
import calendar
import time
from dataclasses import dataclass, field

_RESERVE = """
-- KEYS: one counter per window. ARGV: prompt, wanted completion tokens, then per window its
-- limit, prompt weight, completion weight and expiry in seconds.
-- Returns {1, granted completion tokens, used after...} or {0, refusing window, used...}.
local prompt, wanted = tonumber(ARGV[1]), tonumber(ARGV[2])
local granted = wanted
local used = {}
for i, key in ipairs(KEYS) do
  local at = 2 + (i - 1) * 4
  local limit, wp, wc = tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2]), tonumber(ARGV[at + 3])
  used[i] = tonumber(redis.call('GET', key) or '0')
  local left = limit - used[i] - wp * prompt
  if left < math.max(wc, 1) then
    return {0, i, unpack(used)}
  end
  if wc > 0 then granted = math.min(granted, math.floor(left / wc)) end
end
for i, key in ipairs(KEYS) do
  local at = 2 + (i - 1) * 4
  local amount = tonumber(ARGV[at + 2]) * prompt + tonumber(ARGV[at + 3]) * granted
  if amount > 0 then used[i] = redis.call('INCRBY', key, amount) end
  redis.call('EXPIRE', key, tonumber(ARGV[at + 4]))
end
return {1, granted, unpack(used)}
"""

_SETTLE = """
-- KEYS: the counters a reservation holds; ARGV: the change to each (negative gives back), then
-- each one's expiry in seconds, for a counter the reservation did not create.
for i, key in ipairs(KEYS) do
  local change = tonumber(ARGV[i])
  if change ~= 0 then
    redis.call('INCRBY', key, change)
    if redis.call('TTL', key) < 0 then redis.call('EXPIRE', key, tonumber(ARGV[#KEYS + i])) end
  end
end
return 1
"""


@dataclass(frozen=True)
class Window:
    policy: str  # its name in RateLimit-Policy, and in a refusal
    key: str  # its counter, under the subject
    limit: int
    prompt_weight: int
    completion_weight: int
    seconds_left: int  # until it starts over

    def amount(self, prompt, completion):
        return self.prompt_weight * prompt + self.completion_weight * completion

    @property
    def unit(self):
        return "billionths of the currency" if self.policy.startswith("spend") else "tokens"

    def describe(self):
        """`tokens per minute`, `spend per month`, ... for people."""
        return self.policy.replace("-", " per ", 1)


def windows(limits, now):
    """The budget windows `limits` sets, at time `now` (UTC)."""
    minute, day = int(now // 60), int(now // 86400)
    year, month = time.gmtime(now)[:2]
    month_end = calendar.timegm((year + month // 12, month % 12 + 1, 1, 0, 0, 0))
    month_left = int(month_end - now)
    found = [
        ("tokens-minute", f"t:{minute}", limits.tokens_per_minute, 1, 1, 60 - int(now % 60)),
        ("tokens-day", f"td:{day}", limits.tokens_per_day, 1, 1, 86400 - int(now % 86400)),
        ("tokens-month", f"tm:{year}-{month:02d}", limits.tokens_per_month, 1, 1, month_left),
        (
            "spend-month",
            f"sm:{year}-{month:02d}",
            limits.spend_per_month,
            limits.prompt_price,
            limits.completion_price,
            month_left,
        ),
    ]
    return [Window(*w) for w in found if w[2] is not None]


@dataclass
class Reservation:
    """What a call holds: `prompt` and `completion` tokens in each of `windows`; or, refused,
    the window that refused it. `used` is each window's count once reserved (or when refused)."""

    subject: str
    windows: list
    prompt: int = 0
    completion: int = 0
    wanted: int = 0  # the completion tokens the call asked for
    refused_by: Window | None = None
    used: list = field(default_factory=list)

    @property
    def allowed(self):
        return self.refused_by is None

    @property
    def retry_after(self):
        return max(1, self.refused_by.seconds_left) if self.refused_by else 0

    def status(self):
        """(policy, limit, remaining, seconds until it starts over) per window."""
        return [
            (w.policy, w.limit, max(0, w.limit - used), w.seconds_left)
            for w, used in zip(self.windows, self.used, strict=True)
        ]


def too_large_for(limits, prompt, now):
    """The window that could never hold a call with this prompt (and one completion token),
    however long the caller waits, or None."""
    return next(
        (w for w in windows(limits, now) if w.amount(prompt, 1) > w.limit),
        None,
    )


class _Budget:
    """What both budgets share: the windows of a subject and the reservation's bookkeeping."""

    def _windows(self, limits, now):
        return windows(limits, time.time() if now is None else now)

    @staticmethod
    def _changes(reservation, usage):
        return [
            w.amount(usage.prompt, usage.completion)
            - w.amount(reservation.prompt, reservation.completion)
            for w in reservation.windows
        ]


class RedisBudget(_Budget):
    def __init__(self, redis, prefix="modelport:rl"):
        self.redis = redis
        self.prefix = prefix
        self.reserve_script = redis.register_script(_RESERVE)
        self.settle_script = redis.register_script(_SETTLE)

    def _key(self, subject, window):
        return f"{self.prefix}:{subject}:{window.key}"

    async def reserve(self, subject, limits, prompt=0, wanted=0, now=None):
        """Hold `prompt` tokens and up to `wanted` completion tokens in every window."""
        found = self._windows(limits, now)
        if not found:
            return Reservation(subject, [], prompt, wanted, wanted)
        allowed, value, *used = await self._run_reserve(subject, found, prompt, wanted)
        used = [int(u) for u in used]
        if not allowed:
            return Reservation(subject, found, refused_by=found[int(value) - 1], used=used)
        return Reservation(subject, found, prompt, int(value), wanted, used=used)

    def _run_reserve(self, subject, found, prompt, wanted):
        args = [prompt, wanted]
        for w in found:
            args += [w.limit, w.prompt_weight, w.completion_weight, w.seconds_left + 3600]
        return self.reserve_script(keys=[self._key(subject, w) for w in found], args=args)

    async def settle(self, reservation, usage):
        """Replace what `reservation` holds by what the call used."""
        if reservation.windows:
            await self.settle_script(
                keys=[self._key(reservation.subject, w) for w in reservation.windows],
                args=self._changes(reservation, usage)
                + [w.seconds_left + 3600 for w in reservation.windows],
            )


class MemoryBudget(_Budget):
    """The same rules inside one process, for the embedded default (no Redis)."""

    def __init__(self):
        self.counts = {}  # (subject, window key) -> amount
        self.expiry = {}  # (subject, window key) -> when its window is over
        self.lock = asyncio.Lock()

    async def reserve(self, subject, limits, prompt=0, wanted=0, now=None):
        now = time.time() if now is None else now
        found = self._windows(limits, now)
        async with self.lock:
            self._forget_finished_windows(now)
            for w in found:
                self.expiry[(subject, w.key)] = now + w.seconds_left
            granted, used = self._fit(subject, found, prompt, wanted)
            if isinstance(granted, Window):
                return Reservation(subject, found, refused_by=granted, used=used)
            for i, w in enumerate(found):
                self.counts[(subject, w.key)] = used[i] = used[i] + w.amount(prompt, granted)
        return Reservation(subject, found, prompt, granted, wanted, used=used)

    def _forget_finished_windows(self, now):
        if len(self.expiry) > 10000:
            for key in [k for k, at in self.expiry.items() if at < now]:
                self.counts.pop(key, None)
                del self.expiry[key]

    def _fit(self, subject, found, prompt, wanted):
        """The completion tokens every window can still hold (up to `wanted`), or the window
        that cannot hold the prompt and one more token; with each window's count."""
        used = [self.counts.get((subject, w.key), 0) for w in found]
        granted = wanted
        for w, count in zip(found, used, strict=True):
            left = w.limit - count - w.prompt_weight * prompt
            if left < max(w.completion_weight, 1):
                return w, used
            if w.completion_weight:
                granted = min(granted, left // w.completion_weight)
        return granted, used

    async def settle(self, reservation, usage):
        async with self.lock:
            changes = self._changes(reservation, usage)
            for w, change in zip(reservation.windows, changes, strict=True):
                key = (reservation.subject, w.key)
                self.counts[key] = self.counts.get(key, 0) + change


def _item(name, **parameters):
    """One member of a structured-field list (RFC 9651): `"name";key=value;...`."""
    rendered = "".join(
        f";{key}={value}" if isinstance(value, int) else f';{key}="{value}"'
        for key, value in parameters.items()
        if value is not None
    )
    return f'"{name}"{rendered}'


def rate_limit_headers(limits, decision, reservation=None):
    """The plan and what is left of it, for the caller: `X-RateLimit-Limit`/`-Remaining` (the
    requests per minute), and the IETF httpapi draft's `RateLimit-Policy` and `RateLimit` fields
    for every request and token window the plan sets (spend is not shown: its quota is not a
    whole number of anything a client counts). `Retry-After` on a refusal."""
    headers = decision.headers(limits)
    policies, state = [], []
    if limits.requests_per_minute is not None:
        policies.append(_item("requests-minute", q=limits.requests_per_minute, w=60))
        remaining = max(0, limits.requests_per_minute - decision.used_this_minute)
        state.append(_item("requests-minute", r=remaining))
    if limits.requests_per_day is not None:
        policies.append(_item("requests-day", q=limits.requests_per_day, w=86400))
    if limits.concurrent_requests is not None:
        policies.append(
            _item("concurrency", q=limits.concurrent_requests, qu="concurrent-requests")
        )
    if reservation is not None:
        for policy, limit, remaining, seconds_left in reservation.status():
            if policy.startswith("tokens"):
                window = {"tokens-minute": 60, "tokens-day": 86400}.get(policy)
                policies.append(_item(policy, q=limit, qu="tokens", w=window))
                state.append(_item(policy, r=remaining, t=seconds_left))
        if not reservation.allowed:
            headers.append((b"retry-after", str(reservation.retry_after).encode()))
    if policies:
        headers.append((b"ratelimit-policy", ", ".join(policies).encode()))
    if state:
        headers.append((b"ratelimit", ", ".join(state).encode()))
    return headers
