"""What every portal page shares: sign-in, turning API errors into pages and messages, and the
tenant a page is about."""

import functools

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpResponseServerError
from django.shortcuts import render
from django.template.loader import render_to_string
from django.views.decorators.http import require_POST, require_safe
from rest_framework.exceptions import ValidationError

from core.api.exceptions import describe, json_not_found, json_server_error
from core.errors import CoreErrorCode, ModelportError, NotFound
from tenants.access import get_tenant, roles_at_least, roles_by_tenant
from tenants.api.views import require_platform_admin
from tenants.models import Role


def page(view):
    """A portal view: signed-in people only; a core error raised while reading (404 for another
    tenant's data, 403 for a missing role) becomes an error page with the same status."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        try:
            return view(request, *args, **kwargs)
        except ModelportError as exc:
            return error_page(request, exc)

    return wrapper


def post_only(view):
    """`require_POST`, marked so that the UI isolation test knows the route takes only POST."""
    view = require_POST(view)
    view.post_only = True
    return view


def read_only(view):
    """`require_safe` (GET and HEAD), marked likewise: a page that changes nothing refuses a POST
    with 405 rather than answering it as if it were a GET."""
    view = require_safe(view)
    view.read_only = True
    return view


def tenant_admins_only(view):
    """Marks a tenant page that only the tenant's admins see (the view asks TenantPage for
    Role.ADMIN), so that the UI isolation test expects a viewer's 403."""
    view.tenant_admins_only = True
    return view


def platform_admins_only(action):
    """Refuse anyone but platform admins with the API's 403 ("Only platform admins can
    <action>."). Under a tenant's URL, a tenant the caller can't see is a 404 first, as in the
    API. Goes under `@page`, which turns the refusal into the error page; marked so that the UI
    isolation test knows the route is not for tenant members."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if "tenant" in kwargs:
                get_tenant(request.user, kwargs["tenant"])
            require_platform_admin(request.user, action)
            return view(request, *args, **kwargs)

        wrapper.platform_admins_only = True
        return wrapper

    return decorate


def error_page(request, exc):
    template = "ui/error_fragment.html" if request.htmx else "ui/error.html"
    return render(request, template, {"error": exc}, status=exc.status)


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
    except (ModelportError, ValidationError, DjangoValidationError) as exc:
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


def _is_portal_page(request):
    return request.path.startswith("/ui/")


def not_found(request, exception=None):
    """404 for any address: an HTML page under /ui/, the JSON envelope everywhere else."""
    if not _is_portal_page(request):
        return json_not_found(request, exception)
    return error_page(
        request, NotFound(CoreErrorCode.NOT_FOUND, "There is nothing at this address.")
    )


def server_error(request):
    """500: a plain page under /ui/ (rendered without the request, which may be what failed)."""
    if not _is_portal_page(request):
        return json_server_error(request)
    return HttpResponseServerError(render_to_string("ui/500.html"))
