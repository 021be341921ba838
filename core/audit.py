"""The audit trail's side in every app: say what changed, in the transaction that changes it.

Services call `record(...)` beside each write people make (create, change, delete, bind, scale,
rotate, revoke, upload completed, first use of a key). It sends `changed`, which the audit app
(above the domain apps) receives synchronously to write the record in the same transaction:
an error there rolls the change back, so there is no change without its record and no record
without its change.

Who made the change and through which door is read from the context: the HTTP request being
served (its user, and whether it came through the API, the CLI, the portal or the admin site),
else the door set for the process (the worker, a management command), else `actor=` given by
the caller (the gateway records an application's first use of a key).
"""

import contextvars
from dataclasses import dataclass
from datetime import date, datetime

from django.dispatch import Signal

from core import request_id

# kwargs: actor (Actor), action, kind, name, tenant, changes ({field: {"before", "after"}})
changed = Signal()

# Fields whose values are never written to the trail, only that they changed.
SECRET_FIELDS = frozenset({"key_hash", "token_hash", "password", "secret", "token"})


@dataclass(frozen=True)
class Actor:
    kind: str  # user, application or system
    name: str
    door: str  # api, cli, portal, admin, gateway, worker or command


_request = contextvars.ContextVar("audit_request", default=None)
_door = contextvars.ContextVar("audit_door", default="command")


def serving(request):
    """Make `request` (a Django HttpRequest) the one changes are made for; returns a token for
    `done`. Its user is read when a change is recorded, after the API has authenticated it."""
    return _request.set(request)


def done(token):
    _request.reset(token)


def working_as(door):
    """Changes made outside a request (a Celery task: "worker") come through `door`."""
    return _door.set(door)


def done_working(token):
    _door.reset(token)


def door_of(request):
    path = request.path
    if path.startswith("/admin/"):
        return "admin"
    if path.startswith("/ui/"):
        return "portal"
    if request.headers.get("User-Agent", "").startswith("modelport-cli/"):
        return "cli"
    return "api"


def current_actor():
    request = _request.get()
    if request is not None:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            return Actor("user", user.get_username(), door_of(request))
        return Actor("system", "anonymous", door_of(request))
    return Actor("system", "system", _door.get())


def plain(value):
    """`value` as JSON holds it: times as ISO 8601, rows by their names, sets as sorted lists."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(plain(v) for v in value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def diff(before, after):
    """{field: {"before": old, "after": new}} for the fields whose value differs; secrets are
    written as changed, never with their values."""
    changes = {}
    for field in sorted(set(before) | set(after)):
        old, new = plain(before.get(field)), plain(after.get(field))
        if old != new:
            if field in SECRET_FIELDS:
                old, new = "(secret)", "(secret)"
            changes[field] = {"before": old, "after": new}
    return changes


def record(action, kind, name, *, tenant="", before=None, after=None, actor=None):
    """Record a change; call it inside the transaction that makes the change."""
    changed.send(
        sender=kind,
        actor=actor or current_actor(),
        action=action,
        kind=kind,
        name=str(name),
        tenant=tenant or "",
        changes=diff(before or {}, after or {}),
        request_id=request_id.get(),
    )
