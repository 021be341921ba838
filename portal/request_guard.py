"""Request bodies are judged before anybody reads them.

Django's ASGI handler reads a whole request body into a temporary file before any middleware or
view runs: without this layer, an anonymous 1 GiB PUT to an upload address costs a 1 GiB file
before the 401, and a body that declares 6 GB keeps a connection waiting. In front of Django:
- a body larger than its route allows is refused with 413 at once when Content-Length says so,
  and as soon as the bytes received say so when the body is chunked;
- the routes that take large bodies (upload parts, archives, presigned parts on the filesystem
  backend) have the caller checked first: a member's credential with the editor role in the
  tenant, or a valid signed link; anyone else is answered before a byte of the body is read.
The gateway (/gateway/) has limits of its own and never reaches this layer.
"""

import json
import re
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections

from core.errors import CoreErrorCode, ModelportError
from gateway.access import caller
from gateway.proxy import GatewayError
from models_store.errors import ModelStoreErrorCode
from models_store.validation import MAX_PART_BYTES
from tenants.access import get_tenant
from tenants.models import Role
from workers.storage import signed_urls

# A tar member has a 512-byte header and is padded to 512 bytes; the end of an archive is 1 KiB.
ARCHIVE_OVERHEAD_PER_FILE = 1024


@dataclass(frozen=True)
class Route:
    method: str
    path: re.Pattern
    limit: object  # () -> bytes
    check: object  # (headers, **path groups) -> None, raising what the caller is refused for


def _editor(headers, tenant):
    """The caller may write the tenant's models: its credential (a token or the portal session)
    names a member with at least the editor role (404 for a tenant it can't see)."""
    get_tenant(caller(headers), tenant, role=Role.EDITOR)


def _signed_part(headers, token):
    """The link is one we signed for a part and has not expired."""
    signed_urls.load_part(token)


def _archive_limit():
    files = settings.MODELPORT_ARCHIVE_MAX_FILES
    return settings.MODELPORT_ARCHIVE_MAX_BYTES + files * ARCHIVE_OVERHEAD_PER_FILE + 1024


def _part_limit():
    return MAX_PART_BYTES


UPLOAD_ROUTES = [
    Route("PUT", re.compile(r"^/tenants/(?P<tenant>[^/]+)/upload$"), _part_limit, _editor),
    Route(
        "PUT", re.compile(r"^/tenants/(?P<tenant>[^/]+)/upload/archive$"), _archive_limit, _editor
    ),
    Route("PUT", re.compile(r"^/storage/parts/(?P<token>[^/]+)$"), _part_limit, _signed_part),
]


def _check(route, headers, groups):
    """None if the caller may send the route its body, else (status, code, message)."""
    try:
        route.check(headers, **groups)
    except (GatewayError, ModelportError) as exc:
        return exc.status, exc.code, exc.message
    except signed_urls.ExpiredToken as exc:
        return 403, ModelStoreErrorCode.LINK_EXPIRED, str(exc)
    except signed_urls.InvalidToken as exc:
        return 403, ModelStoreErrorCode.INVALID_SIGNATURE, str(exc)
    finally:
        # A thread of the server's pool, outside Django's request cycle.
        connections.close_all()
    return None


class RequestGuard:
    def __init__(self, app):
        self.app = app
        self.check = sync_to_async(_check, thread_sensitive=False)

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route, groups = self._route(scope)
        limit = route.limit() if route else settings.MODELPORT_REQUEST_MAX_BYTES
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _answer(send, 413, CoreErrorCode.REQUEST_TOO_LARGE, _too_large(limit))
            return
        if route is not None:
            refused = await self.check(route, scope["headers"], groups)
            if refused is not None:
                await _answer(send, *refused)
                return
        await self._bounded(scope, receive, send, limit)

    @staticmethod
    def _route(scope):
        for route in UPLOAD_ROUTES:
            match = route.path.match(scope["path"])
            if match and scope["method"] == route.method:
                return route, match.groupdict()
        return None, {}

    async def _bounded(self, scope, receive, send, limit):
        """Run the app with a body cut off at `limit` bytes (chunked bodies declare no length):
        the app sees the client go away, and the client gets a 413."""
        received, exceeded, answered = 0, False, False

        async def counted_receive():
            nonlocal received, exceeded
            if exceeded:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    return {"type": "http.disconnect"}
            return message

        async def watched_send(message):
            nonlocal answered
            if message["type"] == "http.response.start":
                answered = True
            await send(message)

        await self.app(scope, counted_receive, watched_send)
        if exceeded and not answered:
            await _answer(send, 413, CoreErrorCode.REQUEST_TOO_LARGE, _too_large(limit))


def _too_large(limit):
    return f"The request body is larger than this address accepts ({limit} bytes)."


async def _answer(send, status, code, message):
    body = json.dumps(
        {"status": "ERROR", "error": {"code": str(code), "message": message, "fields": {}}}
    ).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        # The body was not read: the connection can't carry another request.
        (b"connection", b"close"),
    ]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="modelport"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
