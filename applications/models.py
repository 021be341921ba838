import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

from identity.models import CredentialQuerySet, hash_token

API_KEY_PREFIX = "mpk_"


class Plan(models.Model):
    """What an application may do per minute, per day and at once, and the tokens (and money)
    its language-model calls may use per minute, day and calendar month. A null limit is no
    limit."""

    name = models.SlugField(max_length=50, unique=True)
    description = models.TextField(blank=True)
    requests_per_minute = models.PositiveIntegerField(null=True, blank=True)
    requests_per_day = models.PositiveIntegerField(null=True, blank=True)
    concurrent_requests = models.PositiveIntegerField(null=True, blank=True)
    tokens_per_minute = models.PositiveIntegerField(null=True, blank=True)
    tokens_per_day = models.PositiveBigIntegerField(null=True, blank=True)
    tokens_per_month = models.PositiveBigIntegerField(null=True, blank=True)
    # The most completion tokens one language-model call may ask for (and what a call that
    # names no max_tokens gets); null: as many as it asks, 1,024 when it does not say.
    max_tokens_per_call = models.PositiveIntegerField(null=True, blank=True)
    # Prices per 1,000 tokens and the money an application may spend per calendar month, in
    # `currency`. The spend limit needs at least one price.
    currency = models.CharField(max_length=3, default="USD")
    prompt_price_per_1k = models.DecimalField(
        max_digits=12, decimal_places=6, null=True, blank=True
    )
    completion_price_per_1k = models.DecimalField(
        max_digits=12, decimal_places=6, null=True, blank=True
    )
    spend_per_month = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # Made by the portal app before the models moved here (migration 0001 adopts it).
        db_table = "portal_plan"
        ordering = ["name"]

    def __str__(self):
        return self.name


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
        # Made by the portal app before the models moved here (migration 0001 adopts it).
        db_table = "portal_application"
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
    # Set by the gateway at the key's first call (and recorded in the audit trail).
    first_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = CredentialQuerySet.as_manager()

    class Meta:
        # Made by the portal app before the models moved here (migration 0001 adopts it).
        db_table = "portal_apikey"
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
