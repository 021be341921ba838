"""The inference gateway: `/gateway/<tenant>/<endpoint>/<path>` forwarded to one replica.

A plain ASGI application in front of Django, so an inference call pays for neither Django's
middleware nor its request objects: it checks the caller's credential, picks a replica of the
endpoint, and streams the request and the response through a pooled HTTP client. Who the caller
is and where an endpoint runs are cached for a second, so a busy endpoint costs the database at
most one query per credential per second, and a revoked credential stops working within a
second.
"""

import asyncio
import itertools
import json
import logging
import time
from collections.abc import Callable

import aiohttp
from asgiref.sync import sync_to_async
from django.conf import settings

logger = logging.getLogger(__name__)

CACHE_SECONDS = 1.0
# Hop-by-hop headers (RFC 9110 §7.6.1) and the caller's credentials never reach the backend.
DROPPED_REQUEST_HEADERS = {
    b"connection",
    b"keep-alive",
    b"proxy-authenticate",
    b"proxy-authorization",
    b"te",
    b"trailer",
    b"transfer-encoding",
    b"upgrade",
    b"host",
    b"authorization",
    b"cookie",
    b"expect",
}
DROPPED_RESPONSE_HEADERS = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "server",
    "date",
}


class GatewayError(Exception):
    def __init__(self, status, code, message):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class TtlCache:
    """A tiny per-process cache with expiry, for answers that may be a second old."""

    def __init__(self, seconds):
        self.seconds = seconds
        self.entries = {}

    async def get(self, key, compute: Callable):
        now = time.monotonic()
        hit = self.entries.get(key)
        if hit is not None and hit[0] > now:
            return hit[1]
        value = await compute()
        if len(self.entries) > 10000:
            self.entries.clear()
        self.entries[key] = (now + self.seconds, value)
        return value


class Gateway:
    """Wraps the Django ASGI application; serves /gateway/ itself.

    `authorize(headers, tenant)` returns None if the caller may call the tenant's endpoints, or
    raises GatewayError; `backends(tenant, endpoint)` returns the replica base URLs (empty: not
    running) or raises GatewayError (404 for an unknown endpoint). Both are synchronous (they
    may use the ORM) and run in a thread; their answers are cached for CACHE_SECONDS.
    """

    prefix = "/gateway/"

    def __init__(self, app, authorize, backends):
        self.app = app
        self.authorize = sync_to_async(authorize, thread_sensitive=False)
        self.backends = sync_to_async(backends, thread_sensitive=False)
        self.auth_cache = TtlCache(CACHE_SECONDS)
        self.backend_cache = TtlCache(CACHE_SECONDS)
        self.round_robin = {}
        self.session = None

    @property
    def max_body(self):
        return settings.MODELPORT_GATEWAY_MAX_BODY_BYTES

    def reset(self):
        """Forget cached answers and pooled connections (tests; a new event loop)."""
        self.auth_cache.entries.clear()
        self.backend_cache.entries.clear()
        self.session = None

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["path"].startswith(self.prefix):
            await self.handle(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self.lifespan(receive, send)
        else:
            await self.app(scope, receive, send)

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

    async def handle(self, scope, receive, send):
        try:
            tenant, endpoint, path = self._split(scope["path"])
            headers = scope["headers"]
            credential = next((v for k, v in headers if k in (b"authorization", b"cookie")), b"")
            await self.auth_cache.get((credential, tenant), lambda: self.authorize(headers, tenant))
            urls = await self.backend_cache.get(
                (tenant, endpoint), lambda: self.backends(tenant, endpoint)
            )
            if not urls:
                raise GatewayError(
                    503,
                    "endpoint_not_running",
                    f"Endpoint {endpoint!r} has no running replica right now; check its status "
                    "and replicas.",
                )
            length = dict(headers).get(b"content-length", b"0")
            if not length.isdigit():
                raise GatewayError(400, "malformed_request", "Content-Length is not a number.")
            if int(length) > self.max_body:
                raise GatewayError(413, "request_too_large", self._too_large())
            url = self._pick(tenant, endpoint, urls) + path
            if scope.get("query_string"):
                url += "?" + scope["query_string"].decode("latin-1")
            await self._forward(scope, receive, send, url)
        except GatewayError as error:
            await self._error(send, error)

    def _split(self, path):
        parts = path[len(self.prefix) :].split("/", 2)
        if len(parts) < 2 or not parts[0] or not parts[1]:
            raise GatewayError(
                404, "not_found", "Gateway addresses look like /gateway/<tenant>/<endpoint>/<path>."
            )
        return parts[0], parts[1], "/" + (parts[2] if len(parts) == 3 else "")

    def _pick(self, tenant, endpoint, urls):
        counter = self.round_robin.setdefault((tenant, endpoint), itertools.count())
        return urls[next(counter) % len(urls)]

    def _too_large(self):
        return f"The request body is larger than the gateway's limit of {self.max_body} bytes."

    async def _forward(self, scope, receive, send, url):
        forwarded = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in scope["headers"]
            if k not in DROPPED_REQUEST_HEADERS
        ]
        client = scope.get("client")
        if client:
            forwarded.append(("X-Forwarded-For", client[0]))
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

        started = False
        try:
            async with self._session().request(
                scope["method"], url, headers=forwarded, data=body(), allow_redirects=False
            ) as response:
                await send(
                    {
                        "type": "http.response.start",
                        "status": response.status,
                        "headers": [
                            (k.encode("latin-1"), v.encode("latin-1"))
                            for k, v in response.headers.items()
                            if k.lower() not in DROPPED_RESPONSE_HEADERS
                        ],
                    }
                )
                started = True
                async for chunk in response.content.iter_chunked(65536):
                    await send({"type": "http.response.body", "body": chunk, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
        except GatewayError:
            raise
        except (aiohttp.ClientError, TimeoutError) as exc:
            if started:
                raise  # the status line is out: all we can do is cut the response short
            if exceeded:
                raise GatewayError(413, "request_too_large", self._too_large()) from None
            if isinstance(exc, TimeoutError):
                raise GatewayError(
                    504, "backend_timeout", "The model server took too long to answer."
                ) from None
            logger.warning("gateway: backend %s failed: %s", url, exc)
            raise GatewayError(
                502, "backend_error", "The model server did not answer properly; try again."
            ) from None

    async def _error(self, send, error):
        body = json.dumps(
            {
                "status": "ERROR",
                "error": {"code": error.code, "message": error.message, "fields": {}},
            }
        ).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        if error.status == 401:
            headers.append((b"www-authenticate", b'Bearer realm="modelport"'))
        await send({"type": "http.response.start", "status": error.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
