from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions

from portal.models import TOKEN_PREFIX, PersonalAccessToken, hash_token

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
