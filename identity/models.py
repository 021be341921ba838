import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

TOKEN_PREFIX = "mpt_"


def hash_token(raw: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough: nobody can guess a preimage, and
    # an indexed lookup by hash keeps authentication to one query.
    return hashlib.sha256(raw.encode()).hexdigest()


class CredentialQuerySet(models.QuerySet):
    """Tokens and keys: usable until revoked or expired."""

    def usable(self):
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(
            models.Q(expires_at__isnull=True) | models.Q(expires_at__gt=now)
        )


class PersonalAccessToken(models.Model):
    """A token a person uses for the API and CLI. Only its hash is stored; it is shown once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_tokens"
    )
    name = models.CharField(max_length=100, default="default")
    prefix = models.CharField(
        max_length=12, editable=False, help_text="First characters, to recognise it."
    )
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = CredentialQuerySet.as_manager()

    class Meta:
        # Made by the portal app before the models moved here (migration 0001 adopts it).
        db_table = "portal_personalaccesstoken"
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.prefix}… ({self.user}, {self.name})"

    @classmethod
    def issue(cls, user, name="default", expires_at=None):
        """Create a token and return (row, raw token). The raw token is never stored."""
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        row = cls.objects.create(
            user=user,
            name=name,
            prefix=raw[:12],
            token_hash=hash_token(raw),
            expires_at=expires_at,
        )
        return row, raw


class OidcIdentity(models.Model):
    """Links a portal user to a person at the OpenID provider: the provider's `sub` (stable, unlike
    usernames and emails) under its issuer. Local accounts have none."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oidc_identity"
    )
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    created_at = models.DateTimeField(auto_now_add=True)
    last_login_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # Made by the portal app before the models moved here (migration 0001 adopts it).
        db_table = "portal_oidcidentity"
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="one_user_per_oidc_subject")
        ]
        verbose_name = "OIDC identity"
        verbose_name_plural = "OIDC identities"

    def __str__(self):
        return f"{self.subject} at {self.issuer}"
