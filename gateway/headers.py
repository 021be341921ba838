"""Which headers cross the gateway, each way. Pure functions of header lists, so every rule is
testable without a server.

Towards the model server: exactly the caller's end-to-end headers, less its credentials and the
portal's CSRF token, with the forwarding headers set by the gateway (a caller's own claims about
addresses are not passed on) and the request id the caller is answered with (core.request_id).
Nothing is added on the caller's behalf: the HTTP client's own defaults (Accept-Encoding,
Content-Type, User-Agent, Accept) are switched off.

Towards the caller: only headers on an allowlist. The answer is written by a tenant's model
server but served on the portal's origin, so headers that act on the origin (HSTS,
Clear-Site-Data, CORS, cookies, redirects, Link, Alt-Svc, ...) never pass. The request id is
the gateway's own (portal.request_context), never the model server's.
"""

from core import request_id

# Hop-by-hop headers (RFC 9110 §7.6.1) belong to one connection, not to the message.
HOP_BY_HOP = {
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"proxy-authenticate",
    b"proxy-authorization",
    b"te",
    b"trailer",
    b"transfer-encoding",
    b"upgrade",
}
# Never forwarded: the caller's credentials and the portal's CSRF token are the gateway's
# business, Host is the backend's, Expect is answered by the gateway's own server, and the
# forwarding headers are set below rather than trusted.
NOT_FORWARDED = HOP_BY_HOP | {
    b"host",
    b"authorization",
    b"cookie",
    b"x-csrftoken",
    b"expect",
    b"forwarded",
    b"x-forwarded-for",
    b"x-forwarded-host",
    b"x-forwarded-proto",
    b"x-forwarded-port",
    b"x-real-ip",
    b"x-request-id",
}
# What aiohttp adds to a request that lacks them, unless told not to.
CLIENT_DEFAULTS = frozenset({"Accept", "Accept-Encoding", "Content-Type", "User-Agent"})

# Response headers a caller may see: what describes the body, its caching, and when to retry.
ALLOWED_RESPONSE_HEADERS = {
    "content-type",
    "content-encoding",
    "content-language",
    "content-disposition",
    "cache-control",
    "etag",
    "last-modified",
    "expires",
    "vary",
    "retry-after",
}


def forwarded_request_headers(scope):
    """(headers, client defaults to skip) for the call to the model server."""
    headers = scope["headers"]
    named_in_connection = {
        name.strip().lower().encode("latin-1")
        for key, value in headers
        if key == b"connection"
        for name in value.decode("latin-1").split(",")
    }
    dropped = NOT_FORWARDED | named_in_connection
    forwarded = [
        (key.decode("latin-1"), value.decode("latin-1"))
        for key, value in headers
        if key not in dropped
    ]
    sent = {name.lower() for name, _ in forwarded}
    host = next((value for key, value in headers if key == b"host"), b"").decode("latin-1")
    client = scope.get("client")
    if client:
        forwarded.append(("X-Forwarded-For", client[0]))
    if host:
        forwarded.append(("X-Forwarded-Host", host))
    forwarded.append(("X-Forwarded-Proto", scope.get("scheme", "http")))
    if request_id.get():
        forwarded.append((request_id.HEADER, request_id.get()))
    skip = frozenset(name for name in CLIENT_DEFAULTS if name.lower() not in sent)
    return forwarded, skip


def answered_response_headers(headers):
    """The allowed headers of the model server's answer, each at most once (a second
    Content-Type must not be merged into the first by whoever reads it)."""
    kept, seen = [], set()
    for name, value in headers:
        lowered = name.lower()
        if lowered in ALLOWED_RESPONSE_HEADERS and lowered not in seen:
            seen.add(lowered)
            kept.append((lowered.encode("latin-1"), value.encode("latin-1")))
    return kept
