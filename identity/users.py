"""Portal users for people at the OpenID provider. The provider is the truth about who someone is
(`sub`) and which groups they are in: every login and every token request brings the user's
Django groups, and their platform-admin flags, in line with the token's claims."""

import hashlib
import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.utils import timezone

from identity.models import OidcIdentity

logger = logging.getLogger(__name__)


class UnusableClaims(Exception):
    """The token is valid but does not describe a person we can sign in."""

    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


def claimed_groups(claims):
    groups = claims.get(settings.OIDC_GROUPS_CLAIM, [])
    if isinstance(groups, str):
        groups = [groups]
    if not isinstance(groups, list):
        return set()
    return {g for g in groups if isinstance(g, str) and g and len(g) <= 150}


def _username_for(claims, subject):
    User = get_user_model()
    wanted = claims.get("preferred_username") or claims.get("email") or subject
    wanted = str(wanted)[:120]
    if not User.objects.filter(username=wanted).exists():
        return wanted
    # Taken (a local account, or another person at the provider): a stable, distinct name, so a
    # person called "admin" at the provider never becomes the local break-glass "admin".
    return f"{wanted}-{hashlib.sha256(subject.encode()).hexdigest()[:8]}"


def user_from_claims(claims, *, login=False):
    """The active user for these (already validated) claims, created on first sight, with groups
    and admin flags synced. `login` records the time of a browser or CLI login."""
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise UnusableClaims("unusable_token", "The token has no subject (sub claim).")
    identity = (
        OidcIdentity.objects.select_related("user")
        .filter(issuer=settings.OIDC_ISSUER, subject=subject)
        .first()
    )
    if identity is None:
        identity = _create_identity(claims, subject)
    user = identity.user
    if not user.is_active:
        raise UnusableClaims(
            "account_disabled", "This account is disabled in the portal; ask a platform admin."
        )
    sync_user(user, claims)
    if login:
        OidcIdentity.objects.filter(pk=identity.pk).update(last_login_at=timezone.now())
    return user


def _create_identity(claims, subject):
    User = get_user_model()
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                _username_for(claims, subject), email=claims.get("email") or ""
            )
            return OidcIdentity.objects.create(
                user=user, issuer=settings.OIDC_ISSUER, subject=subject
            )
    except IntegrityError:
        # Two first requests of the same person at once: the other one created it.
        return OidcIdentity.objects.select_related("user").get(
            issuer=settings.OIDC_ISSUER, subject=subject
        )


def sync_user(user, claims):
    """Groups exactly as claimed; staff and superuser exactly when a platform-admin group is
    among them (so the admin site follows the provider too). Writes only what changed."""
    wanted = claimed_groups(claims)
    current = set(user.groups.values_list("name", flat=True))
    if wanted != current:
        for name in wanted - current:
            Group.objects.get_or_create(name=name)
        user.groups.set(Group.objects.filter(name__in=wanted))
        logger.info(
            "groups of %s now %s (were %s)", user.get_username(), sorted(wanted), sorted(current)
        )
    admin = bool(wanted & set(settings.MODELPORT_PLATFORM_ADMIN_GROUPS))
    email = claims.get("email") or user.email
    if (user.is_staff, user.is_superuser, user.email) != (admin, admin, email):
        user.is_staff = user.is_superuser = admin
        user.email = email
        user.save(update_fields=["is_staff", "is_superuser", "email"])
    user._modelport_groups = wanted
    return user
