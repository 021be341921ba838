"""The errors services raise: a stable code, a sentence a person can act on, and per-field
messages. They know nothing of HTTP frameworks; each class carries the HTTP status the API and
the portal answer with (core/api/exceptions.py and ui/pages.py translate them), and the admin
site, tasks and commands catch them like any exception.

Codes are named once, in the app's errors.py (an enum per app, as Saleor does); the ones every
app shares are here."""

from enum import StrEnum


class CoreErrorCode(StrEnum):
    MALFORMED_REQUEST = "malformed_request"
    UNKNOWN_FIELD = "unknown_field"
    VALIDATION_ERROR = "validation_error"
    NOT_FOUND = "not_found"
    NOT_AUTHENTICATED = "not_authenticated"
    AUTHENTICATION_FAILED = "authentication_failed"
    PERMISSION_DENIED = "permission_denied"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    NOT_ACCEPTABLE = "not_acceptable"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    RATE_LIMITED = "rate_limited"
    REQUEST_TOO_LARGE = "request_too_large"
    SERVER_ERROR = "server_error"
    INVALID_TIME = "invalid_time"


class ModelportError(Exception):
    status = 400

    def __init__(self, code, message, *, fields=None):
        super().__init__(message)
        self.code = str(code)
        self.message = message
        self.fields = fields or {}


class Invalid(ModelportError):
    """The request is wrong in a way the caller can fix."""

    status = 400


class Unauthenticated(ModelportError):
    """A credential that is refused (expired, unknown, for another audience, ...)."""

    status = 401


class Forbidden(ModelportError):
    status = 403


class NotFound(ModelportError):
    status = 404


class Conflict(ModelportError):
    """The request is valid but the state of things refuses it now."""

    status = 409


class LengthRequired(ModelportError):
    status = 411


class TooLarge(ModelportError):
    status = 413


class BadGateway(ModelportError):
    """A server Modelport depends on answered with something it can't use."""

    status = 502


class Unavailable(ModelportError):
    """A server Modelport depends on can't be reached; trying again later may work."""

    status = 503
