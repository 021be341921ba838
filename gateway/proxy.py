"""The inference gateway: `/gateway/<tenant>/<endpoint>/<path>` forwarded to one replica.

A plain ASGI application in front of Django, so an inference call pays for neither Django's
middleware nor its request objects: it checks the caller's credential, picks a replica of the
endpoint, and streams the request and the response through a pooled HTTP client. Who the caller
is and where an endpoint runs are cached for a second, so a busy endpoint costs the database at
most one query per credential per second, and a revoked credential stops working within a
second.

A caller is either a tenant member (no limits) or an application (an API key): an application
calls only the endpoints it subscribes to, within its plan's limits, enforced by the limiter
(Redis when REDIS_URL is set, so every gateway process shares the counts). Every call that gets
as far as an endpoint is counted for usage, without a database write (gateway.usage).
"""

import asyncio
import itertools
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote

import aiohttp
import redis.asyncio
import yarl
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DatabaseError
from redis.exceptions import RedisError

from core import metrics
from gateway.budgets import MemoryBudget, RedisBudget, rate_limit_headers, too_large_for
from gateway.headers import answered_response_headers, forwarded_request_headers
from gateway.limits import Limits, MemoryLimiter, RedisLimiter
from gateway.tokens import TokenScan, Usage, readable_accept_encoding
from gateway.usage import MemoryUsage, RedisUsage

logger = logging.getLogger(__name__)
# One line per call that reached an endpoint (INFO), with its request id (core.logs).
access_logger = logging.getLogger("gateway.access")

CACHE_SECONDS = 1.0
# Every answer is served on the portal's origin, to callers that may be signed in to the portal,
# but is written by a tenant's model server (which runs the tenant's code): in a browser it is
# never a page of the portal's. `sandbox` gives it an origin of its own with no scripts, forms or
# plugins; `nosniff` keeps a JSON answer from being read as HTML.
PROTECTIVE_RESPONSE_HEADERS = [
    (b"content-security-policy", b"sandbox"),
    (b"x-content-type-options", b"nosniff"),
]


class GatewayError(Exception):
    def __init__(self, status, code, message, headers=()):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = list(headers)


@dataclass(frozen=True)
class Grant:
    """What `authorize` found out about a caller: a tenant member (everything, no limits) or an
    application (its name, limiter subject, subscribed endpoints and plan)."""

    application: str = ""
    subject: str = ""
    endpoints: frozenset | None = None
    limits: Limits | None = None

    def allows(self, endpoint):
        """Whether the caller may call `endpoint` of the tenant: what the gateway enforces and
        what /v1/models lists."""
        return self.endpoints is None or endpoint in self.endpoints

    def refusal(self, endpoint):
        return GatewayError(
            403,
            "endpoint_not_subscribed",
            f"Application {self.application!r} does not subscribe to endpoint {endpoint!r}; a "
            "tenant admin can add it to the application.",
        )


MEMBER = Grant()


class V2Surface:
    """/gateway/: requests and answers pass as they are (tokens read from a copy of the answer);
    errors are the portal's envelope. A call reserves no tokens: it is counted by what its
    answer reports."""

    @staticmethod
    def error_body(error):
        return json.dumps(
            {
                "status": "ERROR",
                "error": {"code": error.code, "message": error.message, "fields": {}},
            }
        ).encode()

    @staticmethod
    def tokens_wanted(limits):
        return 0, 0

    @staticmethod
    def request(scope, receive, limits, reservation):
        return scope, receive

    @staticmethod
    def scan(headers, reservation):
        return TokenScan(headers)


V2 = V2Surface()


# The OpenAI API's model calls. Through /gateway/ their tokens could not be reserved (gateway.openai
# does that for /v1/), so an application with token budgets may not make them there.
LANGUAGE_MODEL_CALLS = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings")


def _language_model_call(path):
    """Whether `path` (as the caller encoded it) reaches a model call on a server that decodes
    percent-escapes and ignores a trailing slash, as the OpenAI-compatible servers do."""
    return unquote(path.split("?", 1)[0]).rstrip("/") in LANGUAGE_MODEL_CALLS


def credential(headers):
    """What `authorize` goes by: the Authorization and Cookie headers (a grant is cached under
    both)."""
    return tuple(
        next((v for k, v in headers if k == name), b"") for name in (b"authorization", b"cookie")
    )


class TtlCache:
    """A tiny per-process cache with expiry, for answers that may be a second old. When an entry
    expires under load, one caller computes it again and the others wait for that answer,
    instead of every request in flight doing the same lookups at once."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.entries = {}
        self.inflight = {}

    async def get(self, key, compute: Callable):
        hit = self.entries.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        pending = self.inflight.get(key)
        if pending is None:
            pending = self.inflight[key] = asyncio.ensure_future(compute())
            pending.add_done_callback(lambda _: self.inflight.pop(key, None))
        value = await asyncio.shield(pending)
        if len(self.entries) > 10000:
            self.entries.clear()
        self.entries[key] = (time.monotonic() + self.seconds, value)
        return value


class Gateway:
    """Wraps the Django ASGI application; serves /gateway/ itself.

    `check_csrf(scope)` raises GatewayError if the request is a cross-site forgery candidate (a
    portal session's call without the CSRF token); it is about this request, not the credential,
    so it runs on every request, before the cached grant is looked up.
    `authorize(headers, tenant)` returns a Grant if the caller may call the tenant's endpoints,
    or raises GatewayError; `backends(tenant, endpoint)` returns the replica base URLs (empty: not
    running) or raises GatewayError (404 for an unknown endpoint). Both are synchronous (they
    may use the ORM) and run in a thread; their answers are cached for CACHE_SECONDS. Without
    Redis, usage counted in this process is handed to `store_usage({minute: counters})` (in a
    thread, in the background) once its minutes are over.
    """

    prefix = "/gateway/"

    def __init__(self, app, authorize, backends, store_usage, check_csrf):
        self.app = app
        self.check_csrf = check_csrf
        self.authorize = sync_to_async(authorize, thread_sensitive=False)
        self.backends = sync_to_async(backends, thread_sensitive=False)
        self.store_usage = sync_to_async(store_usage, thread_sensitive=False)
        self.auth_cache = TtlCache(CACHE_SECONDS)
        self.backend_cache = TtlCache(CACHE_SECONDS)
        self.round_robin = {}
        self.session = None
        self.limiter = None
        self.budget = None
        self.usage = None
        self.usage_flusher = None
        # Other surfaces served by this gateway, by path prefix (the OpenAI-compatible /v1/).
        self.mounts = {}

    def mount(self, prefix, app):
        self.mounts[prefix] = app

    @property
    def max_body(self):
        return settings.MODELPORT_GATEWAY_MAX_BODY_BYTES

    def reset(self):
        """Forget cached answers and pooled connections (tests; a new event loop)."""
        for cache in (self.auth_cache, self.backend_cache):
            cache.entries.clear()
            cache.inflight.clear()
        self.session = None
        self.limiter = None
        self.budget = None
        if MemoryUsage.current is self.usage:
            MemoryUsage.current = None
        self.usage = None
        if self.usage_flusher is not None:
            loop = self.usage_flusher.get_loop()  # may be another thread's: cancel it there
            if not loop.is_closed():
                loop.call_soon_threadsafe(self.usage_flusher.cancel)
            self.usage_flusher = None

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith(self.prefix):
            await self.handle(scope, receive, send)
        elif scope["type"] == "http" and (mounted := self._mounted(scope["path"])):
            await mounted(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self.lifespan(receive, send)
        else:
            await self.app(scope, receive, send)

    async def grant(self, headers, tenant):
        """The caller's Grant for `tenant`, cached under its credential."""
        return await self.auth_cache.get(
            (credential(headers), tenant), lambda: self.authorize(headers, tenant)
        )

    def _mounted(self, path):
        return next((app for prefix, app in self.mounts.items() if path.startswith(prefix)), None)

    async def lifespan(self, receive, send):
        """Django speaks no lifespan protocol; the gateway uses it to close its pooled
        connections when the server stops."""
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.session is not None:
                    await self.session.close()
                    self.session = None
                await self._store_counted_usage()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _session(self):
        # Created inside the running loop, once; connections to replicas are reused.
        if self.session is None or self.session.closed:
            connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=30, ttl_dns_cache=60)
            timeout = aiohttp.ClientTimeout(
                total=None, connect=5, sock_read=settings.MODELPORT_GATEWAY_TIMEOUT
            )
            self.session = aiohttp.ClientSession(
                connector=connector, timeout=timeout, auto_decompress=False
            )
        return self.session

    def _counters(self):
        """The limiter, the token budgets and the usage counters, created inside the running
        loop, once: in Redis when REDIS_URL is set (shared by every gateway process), else in
        this process."""
        if self.limiter is None:
            if settings.REDIS_URL:
                client = redis.asyncio.Redis.from_url(settings.REDIS_URL)
                self.limiter, self.budget = RedisLimiter(client), RedisBudget(client)
                self.usage = RedisUsage(client)
            else:
                self.limiter, self.budget = MemoryLimiter(), MemoryBudget()
                self.usage = MemoryUsage()
                self.usage_flusher = asyncio.get_running_loop().create_task(
                    self._flush_memory_usage(self.usage)
                )
        return self.limiter, self.usage

    async def _store_counted_usage(self):
        """On shutdown, without Redis: every minute counted in this process so far, finished or
        not, is added to the database now (it would be lost with the process)."""
        if not isinstance(self.usage, MemoryUsage):
            return
        if self.usage_flusher is not None:
            self.usage_flusher.cancel()
            self.usage_flusher = None
        await self._store_drained(self.usage, before=float("inf"))

    async def _flush_memory_usage(self, usage):
        while True:
            await asyncio.sleep(settings.MODELPORT_USAGE_FLUSH_SECONDS)
            await self._store_drained(
                usage, before=time.time() - settings.MODELPORT_USAGE_SETTLE_SECONDS
            )

    async def _store_drained(self, usage, before):
        drained = usage.drain(before=before)
        if drained:
            try:
                await self.store_usage(drained)
            except DatabaseError:  # the flusher must outlive a database hiccup
                logger.exception("gateway: could not store usage; those minutes are lost")

    async def handle(self, scope, receive, send):
        try:
            tenant, endpoint, path = self._split(scope)
            self.check_csrf(scope)
            grant = await self.grant(scope["headers"], tenant)
            if not grant.allows(endpoint):
                raise grant.refusal(endpoint)
            if grant.limits is not None and grant.limits.has_budgets and _language_model_call(path):
                raise GatewayError(
                    400,
                    "use_openai_api",
                    "An application with token budgets calls language models through /v1/ "
                    f"(model {tenant}/{endpoint}), where "
                    "its tokens are reserved.",
                )
            urls = await self.backend_cache.get(
                (tenant, endpoint), lambda: self.backends(tenant, endpoint)
            )
        except GatewayError as error:
            await self._error(send, error)
            return
        await self._call(scope, receive, send, (tenant, endpoint, path), grant, urls)

    async def _call(self, scope, receive, send, target, grant, urls, surface=V2):
        """A call to a known endpoint by an authorized caller: within the plan's limits, and
        counted for usage however it ends. `surface` shapes errors and reads the answer."""
        tenant, endpoint, path = target
        limiter, usage = self._counters()
        started = time.monotonic()
        # 499: the caller went away first. `forwarded`: when the call left for the model server.
        outcome = {"status": 499, "usage": Usage(), "forwarded": None, "reservation": None}
        acquired = False
        try:
            rate_headers = []
            if grant.limits is not None:
                try:
                    decision = await limiter.acquire(grant.subject, grant.limits)
                    metrics.GATEWAY_LIMITER.labels(decision.reason).inc()
                    if not decision.allowed:
                        raise GatewayError(
                            429,
                            "rate_limited",
                            f"The application's plan allows no more calls right now "
                            f"({decision.limit}); retry in {decision.retry_after} s.",
                            rate_limit_headers(grant.limits, decision),
                        )
                    acquired = True
                    reservation = await self._reserve(grant, surface, decision)
                except RedisError:
                    metrics.GATEWAY_LIMITER.labels("unavailable").inc()
                    logger.exception("gateway: the limiter is unavailable")
                    raise GatewayError(
                        503,
                        "limits_unavailable",
                        "The gateway cannot check the application's plan right now; try again.",
                    ) from None
                outcome["reservation"] = reservation
                rate_headers = rate_limit_headers(grant.limits, decision, reservation)
            scope, receive = surface.request(scope, receive, grant.limits, outcome["reservation"])
            if not urls:
                raise GatewayError(
                    503,
                    "endpoint_not_running",
                    f"Endpoint {endpoint!r} has no running replica right now; check its status "
                    "and replicas.",
                    rate_headers,
                )
            length = dict(scope["headers"]).get(b"content-length", b"0")
            if not length.isdigit():
                raise GatewayError(
                    400, "malformed_request", "Content-Length is not a number.", rate_headers
                )
            if int(length) > self.max_body:
                raise GatewayError(413, "request_too_large", self._too_large(), rate_headers)
            url = self._pick(tenant, endpoint, urls) + path
            if scope.get("query_string"):
                url += "?" + scope["query_string"].decode("latin-1")
            outcome["forwarded"] = time.monotonic()
            await self._forward(scope, receive, send, target, url, rate_headers, outcome, surface)
        except GatewayError as error:
            outcome["status"] = error.status
            await self._error(send, error, surface)
        finally:
            # Shielded: a caller who hangs up must not leave a concurrency slot taken.
            await asyncio.shield(
                self._finish(grant, target, outcome, started, acquired, limiter, usage)
            )

    async def _reserve(self, grant, surface, decision):
        """The call's tokens held in its plan's budgets (gateway.budgets), or a 400 (it could
        never fit) or a 429 (not now). None when the plan has no budgets."""
        limits = grant.limits
        if not limits.has_budgets:
            return None
        prompt, wanted = surface.tokens_wanted(limits)
        now = time.time()
        blocked = too_large_for(limits, prompt, now)
        if blocked is not None:
            raise GatewayError(
                400,
                "exceeds_plan",
                f"This call needs at least {blocked.amount(prompt, 1)} {blocked.unit} of its "
                f"plan's {blocked.describe()} budget of {blocked.limit}: shorten the prompt, or "
                "ask a tenant admin for a larger plan.",
            )
        reservation = await self.budget.reserve(grant.subject, limits, prompt, wanted, now)
        if not reservation.allowed:
            window = reservation.refused_by
            # (An admitted call was counted "allowed" once, by the limiter.)
            metrics.GATEWAY_LIMITER.labels(window.policy).inc()
            raise GatewayError(
                429,
                "token_budget_exhausted",
                f"The application's {window.describe()} budget is used up; it starts over in "
                f"{reservation.retry_after} s.",
                rate_limit_headers(limits, decision, reservation),
            )
        return reservation

    async def _finish(self, grant, target, outcome, started, acquired, limiter, usage):
        tenant, endpoint, _ = target
        try:
            if acquired:
                await limiter.release(grant.subject, grant.limits)
            if outcome["reservation"] is not None:
                await self.budget.settle(outcome["reservation"], outcome["usage"])
            seconds = time.monotonic() - started
            _count(grant, target, outcome, started, seconds)
            latency_ms = seconds * 1000
            await usage.record(
                tenant,
                grant.application,
                endpoint,
                outcome["status"],
                latency_ms,
                outcome["usage"],
            )
        except RedisError:  # counting must never turn an answered call into an error
            logger.exception("gateway: could not release or count a call to %s/%s", *target[:2])

    def _split(self, scope):
        """(tenant, endpoint, the rest of the path as the caller encoded it): `%3F` in a path
        stays `%3F`, never a query."""
        parts = scope["path"][len(self.prefix) :].split("/", 2)
        if len(parts) < 2 or not parts[0] or not parts[1]:
            raise GatewayError(
                404, "not_found", "Gateway addresses look like /gateway/<tenant>/<endpoint>/<path>."
            )
        raw = scope.get("raw_path") or scope["path"].encode()
        rest = raw[len(self.prefix) :].split(b"/", 2)
        return parts[0], parts[1], "/" + (rest[2].decode("latin-1") if len(rest) == 3 else "")

    def _pick(self, tenant, endpoint, urls):
        counter = self.round_robin.setdefault((tenant, endpoint), itertools.count())
        return urls[next(counter) % len(urls)]

    def _too_large(self):
        return f"The request body is larger than the gateway's limit of {self.max_body} bytes."

    async def _forward(self, scope, receive, send, target, url, extra_headers, outcome, surface):
        headers, skip_defaults = forwarded_request_headers(scope)
        headers = [
            (name, readable_accept_encoding(value) if name.lower() == "accept-encoding" else value)
            for name, value in headers
        ]
        exceeded = False

        async def body():
            # Streamed as it arrives; a body without Content-Length is sent chunked.
            nonlocal exceeded
            size, more = 0, True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise asyncio.CancelledError
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > self.max_body:
                    exceeded = True
                    raise GatewayError(413, "request_too_large", self._too_large())
                if chunk:
                    yield chunk
                more = message.get("more_body", False)

        sent = dict(scope["headers"])
        # A request without a body is sent without one (not as an empty chunked body).
        has_body = int(sent.get(b"content-length", b"0")) > 0 or b"transfer-encoding" in sent
        started = False
        try:
            async with self._session().request(
                scope["method"],
                yarl.URL(url, encoded=True),
                headers=headers,
                skip_auto_headers=skip_defaults,
                data=body() if has_body else None,
                allow_redirects=False,
            ) as response:
                await send(
                    {
                        "type": "http.response.start",
                        "status": response.status,
                        "headers": answered_response_headers(response.headers.items())
                        + PROTECTIVE_RESPONSE_HEADERS
                        + extra_headers,
                    }
                )
                started = True
                outcome["status"] = response.status
                scan = surface.scan(response.headers, outcome["reservation"])
                with metrics.GATEWAY_OPEN_STREAMS.labels(*target[:2]).track_inprogress():
                    async for chunk in response.content.iter_chunked(65536):
                        passed = scan.feed(chunk)
                        if passed:
                            await send(
                                {"type": "http.response.body", "body": passed, "more_body": True}
                            )
                        if scan.cut:
                            # Over budget: the rest of the answer is not read (closing the
                            # connection stops the model server's work).
                            metrics.GATEWAY_LIMITER.labels("streamCutOff").inc()
                            response.close()
                            break
                await send(
                    {"type": "http.response.body", "body": scan.finish(), "more_body": False}
                )
                outcome["usage"] = scan.usage
        except GatewayError:
            raise
        except (aiohttp.ClientError, TimeoutError) as exc:
            if started:
                metrics.GATEWAY_BACKEND_ERRORS.labels(*target[:2], "cut").inc()
                raise  # the status line is out: all we can do is cut the response short
            if exceeded:
                raise GatewayError(413, "request_too_large", self._too_large()) from None
            reason = "timeout" if isinstance(exc, TimeoutError) else "error"
            metrics.GATEWAY_BACKEND_ERRORS.labels(*target[:2], reason).inc()
            if isinstance(exc, TimeoutError):
                raise GatewayError(
                    504, "backend_timeout", "The model server took too long to answer."
                ) from None
            logger.warning("gateway: backend %s failed: %s", url, exc)
            raise GatewayError(
                502, "backend_error", "The model server did not answer properly; try again."
            ) from None

    async def _error(self, send, error, surface=V2):
        body = surface.error_body(error)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *PROTECTIVE_RESPONSE_HEADERS,
        ]
        if error.status == 401:
            headers.append((b"www-authenticate", b'Bearer realm="modelport"'))
        headers += error.headers
        await send({"type": "http.response.start", "status": error.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _count(grant, target, outcome, started, seconds):
    """The call in the gateway's metrics (core.metrics) and its access log line."""
    tenant, endpoint, _ = target
    call = (tenant, endpoint, grant.application or "-")
    metrics.GATEWAY_REQUESTS.labels(*call, metrics.status_class(outcome["status"])).inc()
    metrics.GATEWAY_SECONDS.labels(tenant, endpoint).observe(seconds)
    access_logger.info(
        "%s/%s answered %s in %.1f ms",
        tenant,
        endpoint,
        outcome["status"],
        seconds * 1000,
        extra={
            "tenant": tenant,
            "endpoint": endpoint,
            "application": grant.application,
            "status": outcome["status"],
            "duration_ms": round(seconds * 1000, 3),
            "tokens": outcome["usage"].total,
        },
    )
    if outcome["forwarded"] is not None:
        metrics.GATEWAY_OVERHEAD_SECONDS.labels(tenant, endpoint).observe(
            outcome["forwarded"] - started
        )
    usage = outcome["usage"]
    for kind, tokens in (("prompt", usage.prompt), ("completion", usage.completion)):
        if tokens:
            metrics.GATEWAY_TOKENS.labels(*call, kind).inc(tokens)
