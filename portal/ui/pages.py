"""What every portal page shares: sign-in, turning API errors into pages and messages, and the
tenant a page is about."""

import functools

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render
from rest_framework.exceptions import ValidationError

from portal.api.exceptions import ApiError, describe
from tenants.access import get_tenant, roles_at_least, roles_by_tenant
from tenants.models import Role


def page(view):
    """A portal view: signed-in people only; an ApiError raised while reading (404 for another
    tenant's data, 403 for a missing role) becomes an error page with the same status."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        try:
            return view(request, *args, **kwargs)
        except ApiError as exc:
            return error_page(request, exc)

    return wrapper


def error_page(request, exc):
    template = "ui/error_fragment.html" if request.htmx else "ui/error.html"
    return render(request, template, {"error": exc}, status=exc.status_code)


class Outcome:
    """The result of a change attempted from a form: `ok`, and on failure the sentence shown on
    the page and the per-field messages shown beside the inputs."""

    def __init__(self, value=None, message="", fields=None):
        self.value = value
        self.message = message
        self.fields = fields or {}

    @property
    def ok(self):
        return not self.message


def validated(serializer_class, data):
    """The form's data as the API's serializer accepts it, or its ValidationError."""
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def attempt(request, action, *, success=""):
    """Run `action()` (validation and a service call, as the API does); its errors become a
    message on the next page, never a stack trace."""
    try:
        value = action()
    except (ApiError, ValidationError) as exc:
        _, message, fields = describe(exc)
        messages.error(request, message)
        return Outcome(message=message, fields=fields)
    if success:
        messages.success(request, success)
    return Outcome(value)


class TenantPage:
    """The tenant a page is about and what the viewer may do there."""

    def __init__(self, request, name, role=Role.VIEWER):
        self.tenant = get_tenant(request.user, name, role=role)
        self.role = roles_by_tenant(request.user).get(self.tenant.name, Role.VIEWER)

    def may(self, role):
        return self.role in roles_at_least(role)

    def context(self, tab, **extra):
        return {
            "tenant": self.tenant,
            "tab": tab,
            "role": self.role,
            "can_edit": self.may(Role.EDITOR),
            "can_admin": self.may(Role.ADMIN),
            **extra,
        }
