from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions

from core.errors import Unavailable
from identity import provider
from identity.errors import IdentityErrorCode
from identity.id_tokens import InvalidToken, validate_id_token
from identity.models import TOKEN_PREFIX, PersonalAccessToken, hash_token
from identity.users import UnusableClaims, user_from_claims

# Writing last_used_at on every request would turn reads into writes; once a minute is enough.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def credential_from_header(request):
    """The credential in `Authorization`, with or without `Bearer ` (the reference sends none)."""
    return parse_authorization(request.META.get("HTTP_AUTHORIZATION", ""))


def parse_authorization(header):
    header = header.strip()
    if not header:
        return None
    scheme, _, rest = header.partition(" ")
    if scheme.lower() == "bearer":
        return rest.strip() or None
    return header


def token_owner(raw):
    """(user, token row) for a raw personal access token; AuthenticationFailed if unusable."""
    token = (
        PersonalAccessToken.objects.usable()
        .select_related("user")
        .filter(token_hash=hash_token(raw))
        .first()
    )
    if token is None:
        raise exceptions.AuthenticationFailed(
            "This access token is unknown, revoked or expired. Create a new one."
        )
    if not token.user.is_active:
        raise exceptions.AuthenticationFailed("The account this token belongs to is disabled.")
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        PersonalAccessToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user, token


class TokenAuthentication(authentication.BaseAuthentication):
    """Personal access tokens (`mpt_…`) in the Authorization header."""

    def authenticate(self, request):
        raw = credential_from_header(request)
        if raw is None or not raw.startswith(TOKEN_PREFIX):
            return None
        return token_owner(raw)

    def authenticate_header(self, request):
        return 'Bearer realm="modelport"'


class OidcTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: <id token>` or `Bearer <id token>`: an ID token from the OpenID provider,
    checked offline. Every request syncs the user's groups from the token, so a person removed
    from a group loses that access with the next token they present."""

    def authenticate(self, request):
        raw = credential_from_header(request)
        if raw is None or raw.startswith(TOKEN_PREFIX):
            return None  # no credential, or a personal access token (TokenAuthentication's)
        if not provider.oidc_enabled():
            raise exceptions.AuthenticationFailed(
                "This portal has no identity provider configured; use a personal access token "
                "(mpt_…).",
                code=IdentityErrorCode.OIDC_DISABLED,
            )
        try:
            claims = validate_id_token(raw)
            user = user_from_claims(claims)
        except InvalidToken as exc:
            raise exceptions.AuthenticationFailed(exc.message, code=exc.code) from None
        except UnusableClaims as exc:
            raise exceptions.AuthenticationFailed(str(exc), code=exc.code) from None
        except provider.ProviderUnavailable as exc:
            raise Unavailable(IdentityErrorCode.IDENTITY_PROVIDER_UNAVAILABLE, str(exc)) from None
        return user, claims

    def authenticate_header(self, request):
        return 'Bearer realm="modelport"'
