"""uvicorn's HTTP protocol with the read timeouts it lacks.

uvicorn times out idle keep-alive connections only between requests: a client that sends a
request's headers one byte every few seconds, or pauses in the middle of a body, holds its
connection (and a slot of the server) for ever. Here a request's line and headers must arrive
within MODELPORT_HTTP_HEADER_SECONDS of the connection (or of the first byte of the request), and
a body may not pause for more than MODELPORT_HTTP_BODY_IDLE_SECONDS while the server is reading
it; a client that is slower is disconnected. Served with
`uvicorn --http portal.http_protocol:TimedHttpProtocol` (make run, the image), beside
`--limit-concurrency`, which caps the connections one process holds.
"""

from django.conf import settings
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class _WatchedFlow(FlowControl):
    """Flow control that tells the protocol when the server itself stops and starts reading: a
    body that waits for the application is not the client's pause."""

    def __init__(self, transport, on_change):
        super().__init__(transport)
        self.on_change = on_change

    def pause_reading(self):
        super().pause_reading()
        self.on_change()

    def resume_reading(self):
        super().resume_reading()
        self.on_change()


class TimedHttpProtocol(HttpToolsProtocol):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.read_deadline = None
        self.reading_body = False

    def connection_made(self, transport):
        super().connection_made(transport)
        self.flow = _WatchedFlow(transport, self._body_flow_changed)
        self._expect_within(settings.MODELPORT_HTTP_HEADER_SECONDS)

    def connection_lost(self, exc):
        self._cancel_deadline()
        super().connection_lost(exc)

    def on_message_begin(self):
        super().on_message_begin()
        self._expect_within(settings.MODELPORT_HTTP_HEADER_SECONDS)

    def on_headers_complete(self):
        super().on_headers_complete()
        self.reading_body = True
        self._expect_within(settings.MODELPORT_HTTP_BODY_IDLE_SECONDS)

    def on_body(self, body):
        super().on_body(body)
        self._body_flow_changed()

    def on_message_complete(self):
        super().on_message_complete()
        self.reading_body = False
        self._cancel_deadline()

    def _body_flow_changed(self):
        if not self.reading_body:
            return
        if self.flow.read_paused:
            self._cancel_deadline()
        else:
            self._expect_within(settings.MODELPORT_HTTP_BODY_IDLE_SECONDS)

    def _expect_within(self, seconds):
        self._cancel_deadline()
        self.read_deadline = self.loop.call_later(seconds, self._too_slow)

    def _cancel_deadline(self):
        if self.read_deadline is not None:
            self.read_deadline.cancel()
            self.read_deadline = None

    def _too_slow(self):
        self.read_deadline = None
        if not self.transport.is_closing():
            self.transport.close()
