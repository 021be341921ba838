"""Middleware of the portal's own."""

from django.core.handlers.asgi import ASGIRequest
from django.db import connections


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
