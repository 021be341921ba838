"""One place that turns every API error into the envelope:

{"status": "ERROR", "error": {"code": "<stable_code>", "message": "<sentence>", "fields": {...}}}

Services raise core.errors (ModelportError and its kin); serializers and DRF raise DRF's
exceptions; validation functions raise Django's ValidationError. All three end here.
"""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler

from core.errors import CoreErrorCode, ModelportError

# DRF's own exceptions, by class, with the code we publish for them.
_CODES = [
    (exceptions.NotAuthenticated, CoreErrorCode.NOT_AUTHENTICATED),
    (exceptions.AuthenticationFailed, CoreErrorCode.AUTHENTICATION_FAILED),
    (exceptions.PermissionDenied, CoreErrorCode.PERMISSION_DENIED),
    (exceptions.NotFound, CoreErrorCode.NOT_FOUND),
    (exceptions.MethodNotAllowed, CoreErrorCode.METHOD_NOT_ALLOWED),
    (exceptions.NotAcceptable, CoreErrorCode.NOT_ACCEPTABLE),
    (exceptions.UnsupportedMediaType, CoreErrorCode.UNSUPPORTED_MEDIA_TYPE),
    (exceptions.ParseError, CoreErrorCode.MALFORMED_REQUEST),
    (exceptions.Throttled, CoreErrorCode.RATE_LIMITED),
]


def error_body(code, message, fields=None):
    return {
        "status": "ERROR",
        "error": {"code": str(code), "message": message, "fields": fields or {}},
    }


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


def _validation_error(detail):
    if isinstance(detail, dict):
        fields = _flatten(detail)
        message = _first_message(fields) or "The request is invalid."
        return message, fields
    messages = _flatten(detail) if isinstance(detail, list) else [str(detail)]
    return (messages[0] if messages else "The request is invalid."), {}


def describe(exc):
    """(code, message, fields) of a core error or a validation error (DRF's or Django's): what
    the API puts in the envelope, and what the portal shows on the page."""
    if isinstance(exc, ModelportError):
        return exc.code, exc.message, exc.fields
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
    elif hasattr(exc, "error_dict"):
        detail = as_serializer_error(exc)  # Django's, per field
    else:
        detail = exc.messages
    message, fields = _validation_error(detail)
    return CoreErrorCode.VALIDATION_ERROR, message, fields


def envelope_exception_handler(exc, context):
    if isinstance(exc, ModelportError | DjangoValidationError):
        code, message, fields = describe(exc)
        status = exc.status if isinstance(exc, ModelportError) else 400
        return Response(error_body(code, message, fields), status=status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = exception_handler(exc, context)
    if response is None:
        return None  # not an API error: let Django log it and answer 500

    if isinstance(exc, exceptions.ValidationError):
        body = error_body(*describe(exc))
    else:
        body = error_body(_code(exc), str(exc.detail))
    return Response(body, status=response.status_code, headers=_kept_headers(response))


def _code(exc):
    """A code the raiser gave (AuthenticationFailed(message, code=...)), else ours for the
    class."""
    given = getattr(exc.detail, "code", None)
    if given and given != exc.default_code:
        return given
    return next((code for cls, code in _CODES if isinstance(exc, cls)), "error")


def _kept_headers(response):
    return {k: v for k, v in response.items() if k in ("WWW-Authenticate", "Retry-After", "Allow")}


def json_not_found(request, exception=None):
    return JsonResponse(
        error_body(CoreErrorCode.NOT_FOUND, "There is nothing at this address."), status=404
    )


def json_server_error(request):
    return JsonResponse(
        error_body(
            CoreErrorCode.SERVER_ERROR, "Something went wrong on our side; it has been logged."
        ),
        status=500,
    )
