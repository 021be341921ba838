"""Middleware of the portal's own."""

import time

from django.core.handlers.asgi import ASGIRequest
from django.db import connections
from django.urls import resolve

from core import metrics, request_id


class CloseConnectionsAfterAsgiRequest:
    """Under ASGI, Django runs each request's synchronous code (middleware and view) in a thread
    of its own, and that thread is gone once the request is answered. A database connection it
    opened is never reused and, left alone, never closed: one idle PostgreSQL session per
    request served concurrently, until the server runs out of them. This closes the request's
    connections in the thread that opened them, after the response is made. First in
    MIDDLEWARE, so everything after it (sessions included) has finished with the database."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            return self.get_response(request)
        finally:
            if isinstance(request, ASGIRequest):
                for connection in connections.all(initialized_only=True):
                    if not connection.in_atomic_block:
                        connection.close()


# The portal's pages run only the portal's own script and style files: no inline script, event
# handler or style (a value that slipped past escaping stays text), no plugins, no <base>, and no
# framing. Uploads PUT to storage's origin, so connections are not restricted.
PORTAL_CONTENT_SECURITY_POLICY = (
    "script-src 'self'; style-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'"
)


class PortalContentSecurityPolicy:
    """Puts PORTAL_CONTENT_SECURITY_POLICY on the portal's pages (/ui/). The admin site and the
    API's browsable pages and docs, which have inline scripts of their own, go without."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.startswith("/ui/"):
            response.headers.setdefault("Content-Security-Policy", PORTAL_CONTENT_SECURITY_POLICY)
        return response


class ProbesAnswerAnyHost:
    """The kubelet probes a pod at its IP, which is its Host header too: /healthz and /readyz
    answer before CommonMiddleware's host check would refuse a host outside ALLOWED_HOSTS with a
    400. They reveal nothing but up or down."""

    PROBES = ("/healthz", "/readyz")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info not in self.PROBES or request.method not in ("GET", "HEAD"):
            return self.get_response(request)
        match = resolve(request.path_info)
        request.resolver_match = match  # the route HttpMetrics counts it under
        return match.func(request)


class HttpMetrics:
    """Counts and times each request Django answers, by its URL pattern (`tenants/<str:tenant>/
    endpoints`), never by its path: a path holds names and ids without bound."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.monotonic()
        response = self.get_response(request)
        match = request.resolver_match
        route = "/" + match.route if match is not None else "unmatched"
        method = request.method if request.method in KNOWN_METHODS else "other"
        metrics.HTTP_REQUESTS.labels(
            route, method, metrics.status_class(response.status_code)
        ).inc()
        metrics.HTTP_SECONDS.labels(route, method).observe(time.monotonic() - started)
        return response


KNOWN_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


class RequestIdOutsideAsgi:
    """Under ASGI, portal.request_context gives every request its id before Django runs. A
    request that reaches Django another way (WSGI, the test client) gets one here, the same
    way, so its log lines and audit records carry one too."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request_id.get():
            return self.get_response(request)
        current = request_id.accept(request.headers.get(request_id.HEADER, ""))
        token = request_id.bind(current)
        try:
            response = self.get_response(request)
        finally:
            request_id.reset(token)
        response[request_id.HEADER] = current
        return response
