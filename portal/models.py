import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from portal.ratelimit import Limits

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
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="one_user_per_oidc_subject")
        ]
        verbose_name = "OIDC identity"
        verbose_name_plural = "OIDC identities"

    def __str__(self):
        return f"{self.subject} at {self.issuer}"


# --- Plans, applications and their API keys (the gateway's callers) ---------------------------

API_KEY_PREFIX = "mpk_"


class Plan(models.Model):
    """What an application may do per minute, per day and at once. A null limit is no limit."""

    name = models.SlugField(max_length=50, unique=True)
    description = models.TextField(blank=True)
    requests_per_minute = models.PositiveIntegerField(null=True, blank=True)
    requests_per_day = models.PositiveIntegerField(null=True, blank=True)
    concurrent_requests = models.PositiveIntegerField(null=True, blank=True)
    tokens_per_minute = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def limits(self):
        return Limits(
            requests_per_minute=self.requests_per_minute,
            requests_per_day=self.requests_per_day,
            concurrent_requests=self.concurrent_requests,
            tokens_per_minute=self.tokens_per_minute,
        )


class Application(models.Model):
    """A client program of one tenant: it calls the endpoints it subscribes to, with an API key,
    within its plan's limits."""

    tenant = models.ForeignKey(
        "tenants.Tenant", on_delete=models.CASCADE, related_name="applications"
    )
    name = models.CharField(max_length=63)
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="applications")
    endpoints = models.ManyToManyField(
        "endpoints.Endpoint", related_name="applications", blank=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tenant", "name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="application_name_per_tenant")
        ]

    def __str__(self):
        return f"{self.tenant}/{self.name}"


class ApiKey(models.Model):
    """An application's key. Only its hash is stored; the key is shown once. A rotated key keeps
    working until its `expires_at` (the grace period), a revoked one stops at once."""

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="keys")
    prefix = models.CharField(max_length=12, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = CredentialQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        verbose_name = "API key"

    def __str__(self):
        return f"{self.prefix}… ({self.application})"

    @property
    def usable(self):
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    @classmethod
    def issue(cls, application, expires_at=None):
        """Create a key and return (row, raw key). The raw key is never stored."""
        raw = API_KEY_PREFIX + secrets.token_urlsafe(32)
        row = cls.objects.create(
            application=application,
            prefix=raw[:12],
            key_hash=hash_token(raw),
            expires_at=expires_at,
        )
        return row, raw


class UsageMinute(models.Model):
    """Gateway calls of one application (blank: tenant members' own calls) to one endpoint in
    one minute, flushed from the gateway's counters. Names, not foreign keys, so the history
    outlives a deleted application or endpoint."""

    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="+")
    application = models.CharField(max_length=63, blank=True)
    endpoint = models.CharField(max_length=63)
    minute = models.DateTimeField()
    requests = models.PositiveIntegerField(default=0)
    errors_4xx = models.PositiveIntegerField(default=0)
    errors_5xx = models.PositiveIntegerField(default=0)
    latency_ms_sum = models.BigIntegerField(default=0)
    # Request counts per latency bucket: portal.usage.BUCKETS_MS, then one for slower calls.
    latency_buckets = models.JSONField(default=list)
    tokens = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["minute"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "application", "endpoint", "minute"], name="one_usage_row"
            )
        ]
        indexes = [models.Index(fields=["tenant", "minute"])]

    def __str__(self):
        return f"{self.tenant_id} {self.application or '-'} {self.endpoint} {self.minute}"
