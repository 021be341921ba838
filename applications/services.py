"""Writes for plans, applications and API keys (the API and the admin site call these)."""

from datetime import timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from applications.errors import ApplicationErrorCode
from applications.models import ApiKey, Application, Plan
from core import audit
from core.errors import Conflict, Invalid
from endpoints.models import Endpoint

LIMIT_FIELDS = (
    "requests_per_minute",
    "requests_per_day",
    "concurrent_requests",
    "tokens_per_minute",
    "tokens_per_day",
    "tokens_per_month",
    "max_tokens_per_call",
    "currency",
    "prompt_price_per_1k",
    "completion_price_per_1k",
    "spend_per_month",
)
DEFAULT_GRACE_SECONDS = 3600
MAX_GRACE_SECONDS = 7 * 86400


def create_plan(*, name, description="", **limits):
    if limits.get("spend_per_month") is not None and not (
        limits.get("prompt_price_per_1k") or limits.get("completion_price_per_1k")
    ):
        raise Invalid(
            ApplicationErrorCode.SPEND_WITHOUT_PRICE,
            "spendPerMonth: a spend limit needs a price per 1,000 prompt or completion tokens.",
            fields={"spendPerMonth": ["Set promptPricePer1k or completionPricePer1k too."]},
        )
    try:
        with transaction.atomic():
            plan = Plan.objects.create(name=name, description=description, **limits)
            audit.record("create", "plan", name, after=audited_plan(plan))
            return plan
    except IntegrityError:
        raise Conflict(
            ApplicationErrorCode.PLAN_EXISTS, f"There is already a plan called {name!r}."
        ) from None


def _expiry(expires_in_days):
    return timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None


def create_application(*, tenant, name, plan, endpoints, created_by, expires_in_days=None):
    """Create the application and its first key; returns (application, raw key)."""
    try:
        with transaction.atomic():
            application = Application.objects.create(
                tenant=tenant, name=name, plan=plan, created_by=created_by
            )
            application.endpoints.set(endpoints)
            key, raw = ApiKey.issue(application, expires_at=_expiry(expires_in_days))
            after = {**audited_application(application), "key": key.prefix}
            _record("create", application, after=after)
    except IntegrityError:
        raise Conflict(
            ApplicationErrorCode.APPLICATION_EXISTS,
            f"Tenant {tenant.name!r} already has an application called {name!r}.",
            fields={"name": ["Already taken."]},
        ) from None
    return application, raw


def create_application_from_names(
    *, tenant, name, plan_name, endpoint_names, created_by, expires_in_days=None
):
    """`create_application` for a request that names the plan and the tenant's endpoints (the
    API and the portal's form); an unknown name is a 400 that says which."""
    plan = Plan.objects.filter(name=plan_name).first()
    if plan is None:
        raise Invalid(
            ApplicationErrorCode.UNKNOWN_PLAN,
            f"plan: there is no plan called {plan_name!r} (see GET /plans).",
            fields={"plan": ["Unknown plan."]},
        )
    names = set(endpoint_names)
    endpoints = list(Endpoint.objects.filter(tenant=tenant, name__in=names))
    missing = sorted(names - {endpoint.name for endpoint in endpoints})
    if missing:
        raise Invalid(
            ApplicationErrorCode.UNKNOWN_ENDPOINT,
            f"endpoints: tenant {tenant.name!r} has no endpoint called {missing[0]!r}.",
            fields={"endpoints": [f"Unknown endpoint {name!r}." for name in missing]},
        )
    return create_application(
        tenant=tenant,
        name=name,
        plan=plan,
        endpoints=endpoints,
        created_by=created_by,
        expires_in_days=expires_in_days,
    )


def newest_key_prefix(application):
    """The prefix of the application's newest usable key ("" if it has none)."""
    key = ApiKey.objects.usable().filter(application=application).order_by("-created_at").first()
    return key.prefix if key else ""


@transaction.atomic
def rotate_key(
    application,
    *,
    grace_seconds=DEFAULT_GRACE_SECONDS,
    expires_in_days=None,
    if_newest_prefix=None,
):
    """Issue a new key; the keys in use now stop working after `grace_seconds` (or at their own
    expiry, if sooner). Returns the raw new key.

    With `if_newest_prefix`, rotate only if the newest usable key is still that one: a form
    sent twice (a reloaded page, a second admin) then issues one key, not two."""
    Application.objects.select_for_update().filter(pk=application.pk).first()
    if if_newest_prefix is not None and newest_key_prefix(application) != if_newest_prefix:
        raise Conflict(
            ApplicationErrorCode.KEY_CHANGED,
            f"The keys of {application.name} changed since this page was loaded (was it "
            "reloaded?), so no key was rotated. Rotate again if another key is needed.",
        )
    cutoff = timezone.now() + timedelta(seconds=grace_seconds)
    keys = ApiKey.objects.usable().filter(application=application)
    keys.filter(expires_at__isnull=True).update(expires_at=cutoff)
    keys.filter(expires_at__gt=cutoff).update(expires_at=cutoff)
    key, raw = ApiKey.issue(application, expires_at=_expiry(expires_in_days))
    _record("rotate", application, after={"key": key.prefix, "oldKeysExpireAt": cutoff})
    return raw


@transaction.atomic
def revoke_keys(application):
    """Every key of the application stops working now (within the gateway's one-second cache)."""
    revoked = ApiKey.objects.filter(application=application, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if revoked:
        _record("revoke", application, after={"keysRevoked": revoked})
    return revoked


@transaction.atomic
def delete_application(application):
    _record("delete", application, before=audited_application(application))
    application.delete()


def audited_plan(plan):
    """A plan's limits as the audit trail shows them."""
    fields = ("description", *LIMIT_FIELDS)
    values = {field: getattr(plan, field) for field in fields}
    # Prices are Decimals: the trail stores them as the API writes them.
    return {k: str(v) if isinstance(v, Decimal) else v for k, v in values.items()}


def audited_application(application):
    return {
        "plan": application.plan.name,
        "endpoints": sorted(application.endpoints.values_list("name", flat=True)),
    }


def _record(action, application, before=None, after=None):
    tenant = application.tenant.name
    audit.record(action, "application", application.name, tenant=tenant, before=before, after=after)
