"""The gateway's stable error codes: the inference gateway's answers and the usage API's."""

from enum import StrEnum


class GatewayErrorCode(StrEnum):
    ENDPOINT_NOT_RUNNING = "endpoint_not_running"
    ENDPOINT_NOT_SUBSCRIBED = "endpoint_not_subscribed"
    BACKEND_ERROR = "backend_error"
    BACKEND_TIMEOUT = "backend_timeout"
    CSRF_FAILED = "csrf_failed"
    LIMITS_UNAVAILABLE = "limits_unavailable"
    REQUEST_TOO_LARGE = "request_too_large"
    # The usage API's query.
    INVALID_GRANULARITY = "invalid_granularity"
    INVALID_RANGE = "invalid_range"
    RANGE_TOO_LARGE = "range_too_large"
