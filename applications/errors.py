"""The applications app's stable error codes."""

from enum import StrEnum


class ApplicationErrorCode(StrEnum):
    APPLICATION_NOT_FOUND = "application_not_found"
    APPLICATION_EXISTS = "application_exists"
    PLAN_EXISTS = "plan_exists"
    UNKNOWN_PLAN = "unknown_plan"
    SPEND_WITHOUT_PRICE = "spend_without_price"
    UNKNOWN_ENDPOINT = "unknown_endpoint"
    KEY_CHANGED = "key_changed"
