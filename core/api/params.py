"""Query parameters the list and report calls share."""

from datetime import UTC

from django.utils.dateparse import parse_datetime

from core.errors import CoreErrorCode, Invalid


def instant(params, name, default):
    """The ISO 8601 time in query parameter `name`, in UTC (taken as UTC when it gives no
    offset), `default` when it is absent; an Invalid error saying which parameter is wrong
    otherwise. In UTC because databases refuse some offsets ISO 8601 allows (PostgreSQL's stop at
    15:59)."""
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = parse_datetime(raw.replace(" ", "+"))  # a "+" in a query string arrives as a space
        if value is not None:
            value = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except (ValueError, OverflowError):  # no such time (February 30th), or before year 1 in UTC
        value = None
    if value is None:
        raise Invalid(
            CoreErrorCode.INVALID_TIME,
            f"{name}: {raw!r} is not an ISO 8601 time such as 2026-01-31T12:00:00Z.",
            fields={name: ["Not an ISO 8601 time."]},
        )
    return value
