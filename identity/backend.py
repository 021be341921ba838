"""Browser login with mozilla-django-oidc. Its classes read their settings through
`oidc_setting`, which takes the endpoints from the provider's discovery document and the client
from OIDC_CLIENT_ID / OIDC_CLIENT_SECRET, so one setting (OIDC_ISSUER) configures everything.
ID tokens are checked by the same code as API tokens, and users come from the same function."""

import logging
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import SuspiciousOperation
from django.http import JsonResponse
from django.utils.deprecation import MiddlewareMixin
from django.views import View
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.middleware import SessionRefresh
from mozilla_django_oidc.utils import import_from_settings
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from core.api.exceptions import error_body, json_not_found
from identity import provider
from identity.id_tokens import InvalidToken, validate_id_token
from identity.users import UnusableClaims, user_from_claims

logger = logging.getLogger(__name__)

_FROM_DISCOVERY = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
}


def oidc_setting(name, *default):
    if name in _FROM_DISCOVERY:
        return provider.endpoint(_FROM_DISCOVERY[name]) if provider.oidc_enabled() else ""
    fixed = {
        "OIDC_RP_CLIENT_ID": settings.OIDC_CLIENT_ID,
        "OIDC_RP_CLIENT_SECRET": settings.OIDC_CLIENT_SECRET,
        "OIDC_RP_SCOPES": settings.OIDC_SCOPES,
        "OIDC_RP_SIGN_ALGO": "RS256",  # unused: verify_token below takes any allowed algorithm
        "OIDC_TOKEN_USE_BASIC_AUTH": True,
        "OIDC_VERIFY_SSL": settings.OIDC_CA_FILE or True,
        "OIDC_TIMEOUT": settings.OIDC_TIMEOUT,
    }
    if name in fixed:
        return fixed[name]
    return import_from_settings(name, *default)


class _LazySettings:
    """mozilla-django-oidc reads its settings in __init__, which Django runs for every request of
    a logged-in user (to load the backend); read them when used instead, so a provider that is
    down breaks logins, not every page."""

    get_settings = staticmethod(oidc_setting)
    OIDC_OP_AUTH_ENDPOINT = property(lambda self: oidc_setting("OIDC_OP_AUTHORIZATION_ENDPOINT"))
    OIDC_OP_AUTHORIZATION_ENDPOINT = OIDC_OP_AUTH_ENDPOINT
    OIDC_OP_TOKEN_ENDPOINT = property(lambda self: oidc_setting("OIDC_OP_TOKEN_ENDPOINT"))
    OIDC_OP_USER_ENDPOINT = property(lambda self: oidc_setting("OIDC_OP_USER_ENDPOINT"))
    OIDC_OP_JWKS_ENDPOINT = property(lambda self: oidc_setting("OIDC_OP_JWKS_ENDPOINT"))
    OIDC_RP_CLIENT_ID = property(lambda self: settings.OIDC_CLIENT_ID)
    OIDC_RP_CLIENT_SECRET = property(lambda self: settings.OIDC_CLIENT_SECRET)
    OIDC_RP_SIGN_ALGO = "RS256"  # unused: verify_token below accepts every allowed algorithm
    OIDC_RP_IDP_SIGN_KEY = None


class OidcBackend(_LazySettings, OIDCAuthenticationBackend):
    def __init__(self, *args, **kwargs):
        self.UserModel = get_user_model()

    def authenticate(self, request, **kwargs):
        if not provider.oidc_enabled():
            return None
        try:
            return super().authenticate(request, **kwargs)
        except provider.ProviderUnavailable as exc:
            logger.warning("browser login failed: %s", exc)
            return None

    def verify_token(self, token, **kwargs):
        try:
            claims = validate_id_token(token)
        except InvalidToken as exc:
            logger.warning("browser login refused: %s", exc.message)
            return None
        if claims.get("nonce") != kwargs.get("nonce"):
            logger.warning("browser login refused: the ID token's nonce does not match")
            return None
        return claims

    def get_or_create_user(self, access_token, id_token, payload):
        # The ID token carries the groups (DEX puts them there): the same claims the API sees.
        try:
            return user_from_claims(payload, login=True)
        except UnusableClaims as exc:
            raise SuspiciousOperation(str(exc)) from None


def _unavailable(exc):
    return JsonResponse(error_body("identity_provider_unavailable", str(exc)), status=503)


class OidcLoginView(_LazySettings, OIDCAuthenticationRequestView):
    """GET /oidc/authenticate/: to the provider's login page; 404 when no provider is set."""

    def __init__(self, *args, **kwargs):
        View.__init__(self, *args, **kwargs)

    def get(self, request):
        if not provider.oidc_enabled():
            return json_not_found(request)
        try:
            return super().get(request)
        except provider.ProviderUnavailable as exc:
            return _unavailable(exc)


class OidcCallbackView(OIDCAuthenticationCallbackView):
    get_settings = staticmethod(oidc_setting)

    def get(self, request):
        if not provider.oidc_enabled():
            return json_not_found(request)
        return super().get(request)


class OidcSessionRefresh(_LazySettings, SessionRefresh):
    """Groups are re-read for browser sessions too: once the last login is older than
    OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS, the next page load goes through the provider again
    (silently, with prompt=none, while the provider's session lasts), which syncs the groups; if
    the provider has ended the session, the portal session ends as well."""

    OIDC_EXEMPT_URLS = property(lambda self: getattr(settings, "OIDC_EXEMPT_URLS", []))
    OIDC_STATE_SIZE = 32
    OIDC_NONCE_SIZE = 32
    OIDC_USE_NONCE = True
    OIDC_AUTHENTICATION_CALLBACK_URL = "oidc_authentication_callback"
    OIDC_RP_SCOPES = property(lambda self: settings.OIDC_SCOPES)

    def __init__(self, get_response):
        MiddlewareMixin.__init__(self, get_response)

    def process_request(self, request):
        if not provider.oidc_enabled():
            return None
        try:
            return super().process_request(request)
        except provider.ProviderUnavailable as exc:
            # Keep the session rather than lock everyone out while the provider is down.
            logger.warning("could not re-check a browser session: %s", exc)
            return None


def provider_logout_url(request):
    """After the portal session ends, end the provider's too (RP-initiated logout)."""
    try:
        end_session = provider.discovery().get("end_session_endpoint")
    except provider.ProviderUnavailable:
        end_session = None
    if not end_session:
        return settings.LOGOUT_REDIRECT_URL
    params = {
        "client_id": settings.OIDC_CLIENT_ID,
        "post_logout_redirect_uri": request.build_absolute_uri(settings.LOGOUT_REDIRECT_URL),
    }
    id_token = request.session.get("oidc_id_token")
    if id_token:
        params["id_token_hint"] = id_token
    return f"{end_session}?{urlencode(params)}"
