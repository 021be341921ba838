"""Who may call an endpoint through the gateway, and where the endpoint runs. Synchronous (they
use the ORM); the gateway runs them in a thread and caches their answers for a second."""

import io
from http.cookies import CookieError, SimpleCookie
from importlib import import_module
from types import SimpleNamespace

from django.conf import settings
from django.contrib import auth
from django.core.exceptions import DisallowedHost
from django.core.handlers.asgi import ASGIRequest
from django.db import connections, transaction
from django.utils import timezone
from rest_framework.authentication import SessionAuthentication
from rest_framework.exceptions import AuthenticationFailed, PermissionDenied

from applications.models import API_KEY_PREFIX, ApiKey
from core import audit
from endpoints.selectors import callable_endpoints, gateway_target
from gateway.limits import plan_limits
from gateway.proxy import MEMBER, GatewayError, Grant
from gateway.usage import store_drained
from identity import provider
from identity.authentication import parse_authorization, token_owner
from identity.id_tokens import InvalidToken, validate_id_token
from identity.models import TOKEN_PREFIX, hash_token
from identity.users import UnusableClaims, user_from_claims
from tenants.access import tenants_for
from workers.backends import get_orchestrator


def _header(headers, name):
    return next((value.decode("latin-1") for key, value in headers if key == name), "")


def _session_user(cookie_header):
    try:
        cookies = SimpleCookie(cookie_header)
    except CookieError:
        return None
    morsel = cookies.get(settings.SESSION_COOKIE_NAME)
    if morsel is None:
        return None
    session = import_module(settings.SESSION_ENGINE).SessionStore(morsel.value)
    # Django's own check, so a session is refused exactly when the portal would refuse it.
    user = auth.get_user(SimpleNamespace(session=session))
    return user if user.is_authenticated else None


def check_csrf(scope):
    """A call made with the portal session (no credential in Authorization) that may change
    something needs the CSRF token, as the API's session calls and the portal's forms do:
    browsers attach the session cookie to requests other sites' pages start. Django's check, as
    DRF runs it for the API (Origin, Referer under HTTPS, the X-CSRFToken header against the
    csrftoken cookie), so the gateway refuses exactly what the API would; the body is not read
    (it belongs to the backend), so the token goes in the header only."""
    headers = scope["headers"]
    if parse_authorization(_header(headers, b"authorization")):
        return
    if scope["method"] in ("GET", "HEAD", "OPTIONS", "TRACE") or not _header(headers, b"cookie"):
        return
    without_body = [(k, v) for k, v in headers if k not in (b"content-type", b"content-length")]
    request = ASGIRequest({**scope, "headers": without_body}, io.BytesIO())
    try:
        SessionAuthentication().enforce_csrf(request)
    except (PermissionDenied, DisallowedHost) as exc:
        reason = exc.detail if isinstance(exc, PermissionDenied) else "CSRF Failed: unknown host."
        raise GatewayError(
            403,
            "csrf_failed",
            f"{reason} A call with the portal session that is not a GET needs the X-CSRFToken "
            "header (the csrftoken cookie's value); programs send a key or token in "
            "Authorization instead.",
        ) from None


def _id_token_owner(raw):
    """The user an ID token from the identity provider names, checked as the API checks it
    (groups synced from the token)."""
    if not provider.oidc_enabled():
        raise GatewayError(
            401,
            "authentication_failed",
            "The gateway accepts application API keys (mpk_…) and personal access tokens (mpt_…).",
        )
    try:
        return user_from_claims(validate_id_token(raw))
    except InvalidToken as exc:
        raise GatewayError(401, exc.code, exc.message) from None
    except UnusableClaims as exc:
        raise GatewayError(401, exc.code, str(exc)) from None
    except provider.ProviderUnavailable as exc:
        raise GatewayError(503, "identity_provider_unavailable", str(exc)) from None


def caller(headers):
    raw = parse_authorization(_header(headers, b"authorization"))
    if raw:
        if not raw.startswith(TOKEN_PREFIX):
            return _id_token_owner(raw)
        try:
            return token_owner(raw)[0]
        except AuthenticationFailed as exc:
            raise GatewayError(401, "authentication_failed", str(exc.detail)) from None
    user = _session_user(_header(headers, b"cookie"))
    if user is None:
        raise GatewayError(
            401,
            "not_authenticated",
            "Send a token in the Authorization header, or log in to the portal first.",
        )
    return user


def _closing_connections(function):
    """These run in the gateway's threads, outside Django's request cycle, at most once per
    credential (or endpoint) per second: close the connection afterwards instead of leaving
    one open per thread."""

    def run(*args):
        try:
            return function(*args)
        finally:
            connections.close_all()

    return run


def _tenant_not_found(tenant):
    return GatewayError(404, "tenant_not_found", f"There is no tenant called {tenant!r}.")


def _usable_key(raw_key):
    key = (
        ApiKey.objects.usable()
        .select_related("application__plan", "application__tenant")
        .filter(key_hash=hash_token(raw_key))
        .first()
    )
    if key is None:
        raise GatewayError(
            401,
            "authentication_failed",
            "This API key is unknown, revoked or expired; a tenant admin can rotate the "
            "application's key.",
        )
    return key


def authorize_application(raw_key, tenant):
    """The grant of a usable API key whose application belongs to `tenant`."""
    key = _usable_key(raw_key)
    application = key.application
    if application.tenant.name != tenant:
        raise _tenant_not_found(tenant)
    if key.first_used_at is None:
        _first_use(key)
    return Grant(
        application=application.name,
        subject=f"application:{application.pk}",
        endpoints=frozenset(application.endpoints.values_list("name", flat=True)),
        limits=plan_limits(application.plan),
    )


@transaction.atomic
def _first_use(key):
    """The key's first call is a fact for the audit trail, recorded once (whichever gateway
    process sees it first)."""
    if ApiKey.objects.filter(pk=key.pk, first_used_at=None).update(first_used_at=timezone.now()):
        application = key.application
        audit.record(
            "first_use",
            "api_key",
            key.prefix,
            tenant=application.tenant.name,
            actor=audit.Actor("application", application.name, "gateway"),
        )


def authorize_member(headers, tenant):
    user = caller(headers)
    if not tenants_for(user).filter(name=tenant).exists():
        raise _tenant_not_found(tenant)
    return MEMBER


@_closing_connections
def authorize(headers, tenant):
    """An application's API key, or a tenant member's token or portal session."""
    raw = parse_authorization(_header(headers, b"authorization"))
    if raw and raw.startswith(API_KEY_PREFIX):
        return authorize_application(raw, tenant)
    return authorize_member(headers, tenant)


def _caller_tenants(headers):
    raw = parse_authorization(_header(headers, b"authorization"))
    if raw and raw.startswith(API_KEY_PREFIX):
        return [_usable_key(raw).application.tenant.name]
    return sorted(tenants_for(caller(headers)).values_list("name", flat=True))


@_closing_connections
def caller_tenants(headers):
    """Names of the tenants the caller belongs to: an application key's one tenant, or a
    member's tenants."""
    return _caller_tenants(headers)


@_closing_connections
def catalogue(headers):
    """(tenant, endpoint, created as a Unix time) of every endpoint the caller may call: the
    endpoints each tenant's grant allows, so the list and the gateway's checks never differ."""
    tenants = _caller_tenants(headers)
    grants = {tenant: authorize(headers, tenant) for tenant in tenants}
    return [
        (tenant, endpoint, int(created.timestamp()))
        for tenant, endpoint, created in callable_endpoints(tenants)
        if grants[tenant].allows(endpoint)
    ]


@_closing_connections
def endpoint_backends(tenant, endpoint):
    target = gateway_target(tenant, endpoint)
    if target is None:
        raise GatewayError(
            404, "endpoint_not_found", f"Tenant {tenant!r} has no endpoint called {endpoint!r}."
        )
    return get_orchestrator().endpoint_backends(target)


# Usage counted by a gateway without Redis, stored from its background flusher.
store_usage = _closing_connections(store_drained)
