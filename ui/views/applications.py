"""Applications pages: a tenant's client applications with their plans, endpoints and the keys
in use; tenant admins create them, rotate and revoke their keys and delete them. The forms go
through the API's serializers and services, so the rules and the messages are the same.

A new key is shown once: it is rendered into the response to the POST that issued it (never
kept in the session or the database), and the page's script copies it into the tab's
sessionStorage for the endpoint pages' quickstart snippets."""

from django.shortcuts import redirect, render
from django.utils.cache import add_never_cache_headers

from applications import services
from applications.api.serializers import ApplicationCreateSerializer, RotateSerializer
from applications.api.views import applications_with_keys, get_application
from applications.models import Plan
from endpoints.models import Endpoint
from tenants.models import Role
from ui.pages import TenantPage, attempt, page, post_only, validated


def plan_limits(plan):
    """A plan's limits in words, for the plan select: `60 requests/min · 10,000 requests/day`;
    a limit a plan does not set is no limit."""
    limits = [
        (plan.requests_per_minute, "requests/min"),
        (plan.requests_per_day, "requests/day"),
        (plan.concurrent_requests, "at once"),
        (plan.tokens_per_minute, "tokens/min"),
        (plan.tokens_per_day, "tokens/day"),
        (plan.tokens_per_month, "tokens/month"),
        (plan.spend_per_month, f"{plan.currency}/month"),
    ]
    stated = [f"{value:,} {unit}" for value, unit in limits if value is not None]
    return " · ".join(stated) if stated else "no limits"


def _filled(form, *names):
    """The optional fields the form has a value for; empty ones are left out, so the
    serializer applies its defaults, and anything else is passed on for it to check."""
    values = {name: form.get(name, "").strip() for name in names}
    return {name: value for name, value in values.items() if value}


def _with_newest_key(applications):
    """Each application with `newest_key`, the prefix its rotate form sends back, so a form sent
    twice rotates once."""
    applications = list(applications)
    for application in applications:
        keys = application.keys.all()  # prefetched, oldest first
        application.newest_key = keys[len(keys) - 1].prefix if keys else ""
    return applications


def _render(request, context, *, issued=None, form=None, fields=None):
    tenant = context.tenant
    response = render(
        request,
        "ui/applications.html",
        context.context(
            "applications",
            applications=_with_newest_key(applications_with_keys(tenant)),
            plans=[(plan, plan_limits(plan)) for plan in Plan.objects.order_by("name")],
            endpoints=Endpoint.objects.filter(tenant=tenant).order_by("name"),
            issued=issued,
            form=form or {},
            chosen=set(form.getlist("endpoints")) if form else set(),
            fields=fields or {},
        ),
    )
    if issued:
        add_never_cache_headers(response)  # the key must not outlive this page in a cache
    return response


def _issued(tenant, application, key):
    """What the page needs to show a new key once and hand it to the quickstart snippets."""
    names = sorted(endpoint.name for endpoint in application.endpoints.all())
    return {
        "application": application.name,
        "key": key,
        "storage": {
            "name": f"modelport-key:{tenant.name}/{application.name}",
            "value": {"key": key, "endpoints": [f"{tenant.name}/{name}" for name in names]},
        },
    }


@page
def application_list(request, tenant):
    if request.method != "POST":
        return _render(request, TenantPage(request, tenant))

    context = TenantPage(request, tenant, role=Role.ADMIN)
    form = request.POST
    data = {
        "name": form.get("name", "").strip(),
        "plan": form.get("plan", ""),
        "endpoints": form.getlist("endpoints"),
        **_filled(form, "expiresInDays"),
    }

    def create():
        values = validated(ApplicationCreateSerializer, data)
        return services.create_application_from_names(
            tenant=context.tenant,
            name=values["name"],
            plan_name=values["plan"],
            endpoint_names=values["endpoints"],
            created_by=request.user,
            expires_in_days=values.get("expiresInDays"),
        )

    outcome = attempt(request, create, success=f"Application {data['name']} created.")
    if not outcome.ok:
        return _render(request, context, form=form, fields=outcome.fields)
    application, key = outcome.value
    return _render(request, context, issued=_issued(context.tenant, application, key))


@post_only
@page
def application_rotate(request, tenant, application):
    context = TenantPage(request, tenant, role=Role.ADMIN)
    application = get_application(context.tenant, application)
    data = _filled(request.POST, "graceSeconds", "expiresInDays")

    def rotate():
        values = validated(RotateSerializer, data)
        return services.rotate_key(
            application,
            grace_seconds=values["graceSeconds"],
            expires_in_days=values.get("expiresInDays"),
            if_newest_prefix=request.POST.get("newestKey", ""),
        )

    outcome = attempt(request, rotate, success=f"New key issued for {application.name}.")
    if not outcome.ok:
        return redirect("ui:applications", tenant=tenant)
    return _render(request, context, issued=_issued(context.tenant, application, outcome.value))


def _change(request, tenant, name, action, success):
    """A tenant admin's change to one application, then back to the list with a message."""
    context = TenantPage(request, tenant, role=Role.ADMIN)
    application = get_application(context.tenant, name)
    attempt(request, lambda: action(application), success=success.format(name=application.name))
    return redirect("ui:applications", tenant=tenant)


@post_only
@page
def application_revoke(request, tenant, application):
    return _change(
        request,
        tenant,
        application,
        services.revoke_keys,
        "Every key of {name} is revoked; its calls now fail with 401.",
    )


@post_only
@page
def application_delete(request, tenant, application):
    return _change(
        request,
        tenant,
        application,
        services.delete_application,
        "Application {name} and its keys are deleted.",
    )
