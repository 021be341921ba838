"""Talking to the OpenID provider: its discovery document, its signing keys and its token
endpoint. Both documents are cached in Django's cache (Redis in production, so every process
shares them); the keys are fetched again when a token names a key we don't know, at most once a
minute, which is how a key rotation at the provider reaches us without a restart."""

import logging

import requests
from django.conf import settings
from django.core.cache import cache

logger = logging.getLogger(__name__)

DISCOVERY_SECONDS = 3600
JWKS_SECONDS = 3600
JWKS_REFETCH_INTERVAL_SECONDS = 60


class ProviderUnavailable(Exception):
    """The provider could not be reached or answered nonsense; a message for people."""


def oidc_enabled():
    return bool(settings.OIDC_ISSUER)


def _verify():
    return settings.OIDC_CA_FILE or True


def _get_json(url, what):
    try:
        response = requests.get(url, timeout=settings.OIDC_TIMEOUT, verify=_verify())
        response.raise_for_status()
        return response.json()
    except (requests.RequestException, ValueError) as exc:
        logger.warning("could not fetch the OpenID provider's %s from %s: %s", what, url, exc)
        raise ProviderUnavailable(
            f"The identity provider's {what} could not be fetched; try again shortly."
        ) from None


def _cache_key(name):
    return f"modelport:oidc:{name}:{settings.OIDC_ISSUER}"


def discovery():
    """The provider's metadata: authorization, token, userinfo, JWKS and end-session URLs."""
    key = _cache_key("discovery")
    document = cache.get(key)
    if document is None:
        url = f"{settings.OIDC_ISSUER.rstrip('/')}/.well-known/openid-configuration"
        document = _get_json(url, "discovery document")
        # OpenID Connect Discovery 1.0, section 4.3: the issuer must be exactly the one asked for.
        if not isinstance(document, dict) or document.get("issuer") != settings.OIDC_ISSUER:
            logger.error("the discovery document at %s names another issuer", url)
            raise ProviderUnavailable(
                "The identity provider's discovery document names a different issuer than "
                "OIDC_ISSUER; check the setting."
            )
        cache.set(key, document, DISCOVERY_SECONDS)
    return document


def endpoint(name):
    value = discovery().get(name)
    if not value:
        raise ProviderUnavailable(f"The identity provider does not publish {name}.")
    return value


def signing_keys(*, refresh=False):
    """The provider's JWKS as {kid: jwk}. `refresh` asks the provider again, unless someone did
    within the last minute (so forged tokens with random kids can't make us hammer it)."""
    key = _cache_key("jwks")
    keys = None if refresh else cache.get(key)
    if keys is None:
        if refresh and not cache.add(_cache_key("jwks-refetch"), 1, JWKS_REFETCH_INTERVAL_SECONDS):
            return cache.get(key) or {}
        document = _get_json(endpoint("jwks_uri"), "signing keys")
        keys = {jwk["kid"]: jwk for jwk in document.get("keys", []) if jwk.get("kid")}
        cache.set(key, keys, JWKS_SECONDS)
    return keys


def forget_cached_documents():
    cache.delete_many([_cache_key(n) for n in ("discovery", "jwks", "jwks-refetch")])


class TokenRequestFailed(Exception):
    def __init__(self, error, description):
        super().__init__(description)
        self.error = error
        self.description = description


def request_tokens(**form):
    """POST to the token endpoint with this client's credentials (HTTP basic, as DEX expects)."""
    try:
        response = requests.post(
            endpoint("token_endpoint"),
            data=form,
            auth=(settings.OIDC_CLIENT_ID, settings.OIDC_CLIENT_SECRET),
            timeout=settings.OIDC_TIMEOUT,
            verify=_verify(),
        )
    except requests.RequestException as exc:
        logger.warning("the OpenID provider's token endpoint failed: %s", exc)
        raise ProviderUnavailable(
            "The identity provider's token endpoint could not be reached; try again shortly."
        ) from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code >= 500 or not isinstance(body, dict):
        raise ProviderUnavailable("The identity provider failed to answer; try again shortly.")
    if response.status_code != 200:
        raise TokenRequestFailed(
            body.get("error", "invalid_request"), body.get("error_description", "")
        )
    return body
