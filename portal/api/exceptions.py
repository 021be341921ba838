"""One place that turns every API error into the envelope:

{"status": "ERROR", "error": {"code": "<stable_code>", "message": "<sentence>", "fields": {...}}}
"""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

logger = logging.getLogger(__name__)


class ApiError(exceptions.APIException):
    """An error with a stable code, a sentence for people, and optional per-field messages."""

    status_code = status.HTTP_400_BAD_REQUEST

    def __init__(self, code, message, status_code=None, fields=None):
        super().__init__(detail=message, code=code)
        self.code = code
        self.message = message
        self.fields = fields or {}
        if status_code is not None:
            self.status_code = status_code


class Conflict(ApiError):
    def __init__(self, code, message, fields=None):
        super().__init__(code, message, status.HTTP_409_CONFLICT, fields)


class CredentialRejected(ApiError, exceptions.AuthenticationFailed):
    """A 401 for a credential we refuse, with its own code (token_expired, wrong_audience, …)."""

    def __init__(self, code, message):
        super().__init__(code, message, status.HTTP_401_UNAUTHORIZED)


class NotFound(ApiError):
    def __init__(self, message, code="not_found"):
        super().__init__(code, message, status.HTTP_404_NOT_FOUND)


# DRF's own exceptions, by class, with the code we publish for them.
_CODES = [
    (exceptions.NotAuthenticated, "not_authenticated"),
    (exceptions.AuthenticationFailed, "authentication_failed"),
    (exceptions.PermissionDenied, "permission_denied"),
    (exceptions.NotFound, "not_found"),
    (exceptions.MethodNotAllowed, "method_not_allowed"),
    (exceptions.NotAcceptable, "not_acceptable"),
    (exceptions.UnsupportedMediaType, "unsupported_media_type"),
    (exceptions.ParseError, "malformed_request"),
    (exceptions.Throttled, "rate_limited"),
    (exceptions.ValidationError, "validation_error"),
]


def error_body(code, message, fields=None):
    return {"status": "ERROR", "error": {"code": code, "message": message, "fields": fields or {}}}


def _flatten(detail):
    """DRF error details (nested lists and dicts) as plain strings."""
    if isinstance(detail, dict):
        return {
            key: [str(value)] if isinstance(value, str) else _flatten(value)
            for key, value in detail.items()
        }
    if isinstance(detail, list):
        flat = [_flatten(item) for item in detail]
        return flat[0] if len(flat) == 1 and isinstance(flat[0], dict) else flat
    return str(detail)


def _first_message(fields):
    for name, messages in fields.items():
        if isinstance(messages, dict):
            inner = _first_message(messages)
            return f"{name}.{inner}" if inner else None
        if messages:
            text = messages[0] if isinstance(messages, list) else messages
            return text if name == "non_field_errors" else f"{name}: {text}"
    return None


def _validation_error(exc):
    detail = exc.detail
    if isinstance(detail, dict):
        fields = _flatten(detail)
        message = _first_message(fields) or "The request is invalid."
        return message, fields
    messages = _flatten(detail) if isinstance(detail, list) else [str(detail)]
    return (messages[0] if messages else "The request is invalid."), {}


def describe(exc):
    """(code, message, fields) of an ApiError or a DRF ValidationError: what the API puts in the
    envelope, and what the portal shows on the page."""
    if isinstance(exc, ApiError):
        return exc.code, exc.message, exc.fields
    message, fields = _validation_error(exc)
    return "validation_error", message, fields


def envelope_exception_handler(exc, context):
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = exception_handler(exc, context)
    if response is None:
        return None  # not an API error: let Django log it and answer 500

    if isinstance(exc, ApiError | exceptions.ValidationError):
        body = error_body(*describe(exc))
    else:
        code = next((c for cls, c in _CODES if isinstance(exc, cls)), "error")
        body = error_body(code, str(exc.detail))
    return Response(body, status=response.status_code, headers=_kept_headers(response))


def _kept_headers(response):
    return {k: v for k, v in response.items() if k in ("WWW-Authenticate", "Retry-After", "Allow")}


def json_not_found(request, exception=None):
    return JsonResponse(error_body("not_found", "There is nothing at this address."), status=404)


def json_server_error(request):
    return JsonResponse(
        error_body("server_error", "Something went wrong on our side; it has been logged."),
        status=500,
    )
