"""The outermost ASGI layer: gives every HTTP request its id (core.request_id) before anything
else runs, so the gateway, the request guard, Django and the tasks they queue all log under it,
and returns it to the caller in `X-Request-ID`."""

from core import request_id

HEADER = request_id.HEADER.lower().encode()


class RequestContext:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = next((value for key, value in scope["headers"] if key == HEADER), b"")
        current = request_id.accept(sent.decode("latin-1"))

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != HEADER]
                message = {**message, "headers": [*headers, (HEADER, current.encode())]}
            await send(message)

        token = request_id.bind(current)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)
