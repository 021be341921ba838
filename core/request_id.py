"""The request id: one per request, taken from the caller's `X-Request-ID` when it is sensible
or made here, kept in a context variable, so every log line, Celery task, audit record and
forwarded gateway call made on the request's behalf carries it."""

import contextvars
import re
import uuid

HEADER = "X-Request-ID"
# What a caller's id may be: what proxies and tracing tools send (uuids, hex, base64-ish), short
# enough for a log line. Anything else is replaced, never echoed.
ACCEPTED = re.compile(r"[A-Za-z0-9._:+/=-]{1,128}")

_current = contextvars.ContextVar("request_id", default="")


def new():
    return uuid.uuid4().hex


def accept(value):
    """The caller's id if it looks like one, else a new one."""
    if value and ACCEPTED.fullmatch(value):
        return value
    return new()


def get():
    """The current request's id, or "" outside a request (beat, a shell)."""
    return _current.get()


def bind(value):
    """Make `value` the current id; returns the token `reset` takes."""
    return _current.set(value)


def reset(token):
    _current.reset(token)
