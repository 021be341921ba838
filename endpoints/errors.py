"""The endpoints app's stable error codes."""

from enum import StrEnum


class EndpointErrorCode(StrEnum):
    ENDPOINT_NOT_FOUND = "endpoint_not_found"
    ENDPOINT_EXISTS = "endpoint_exists"
    ENDPOINT_DELETING = "endpoint_deleting"
    ENDPOINT_QUOTA_EXCEEDED = "endpoint_quota_exceeded"
    UNKNOWN_SERVING = "unknown_serving"
    SERVING_NOT_FOUND = "serving_not_found"
