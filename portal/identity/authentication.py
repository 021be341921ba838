from rest_framework import authentication, status

from portal.api.authentication import credential_from_header
from portal.identity import provider
from portal.identity.tokens import InvalidToken, validate_id_token
from portal.identity.users import UnusableClaims, user_from_claims
from portal.models import TOKEN_PREFIX


class OidcTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: <id token>` or `Bearer <id token>`: an ID token from the OpenID provider,
    checked offline. Every request syncs the user's groups from the token, so a person removed
    from a group loses that access with the next token they present."""

    def authenticate(self, request):
        # Imported here: DRF loads this class while rest_framework.views, which the envelope
        # handler's module needs, is still being imported.
        from portal.api.exceptions import ApiError, CredentialRejected

        raw = credential_from_header(request)
        if raw is None or raw.startswith(TOKEN_PREFIX):
            return None  # no credential, or a personal access token (TokenAuthentication's)
        if not provider.oidc_enabled():
            raise CredentialRejected(
                "oidc_disabled",
                "This portal has no identity provider configured; use a personal access token "
                "(mpt_…).",
            )
        try:
            claims = validate_id_token(raw)
            user = user_from_claims(claims)
        except InvalidToken as exc:
            raise CredentialRejected(exc.code, exc.message) from None
        except UnusableClaims as exc:
            raise CredentialRejected(exc.code, str(exc)) from None
        except provider.ProviderUnavailable as exc:
            raise ApiError(
                "identity_provider_unavailable", str(exc), status.HTTP_503_SERVICE_UNAVAILABLE
            ) from None
        return user, claims

    def authenticate_header(self, request):
        return 'Bearer realm="modelport"'
