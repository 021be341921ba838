from django.conf import settings
from django.db import models

from core.phase import Phase


class Role(models.TextChoices):
    VIEWER = "viewer"
    EDITOR = "editor"
    ADMIN = "admin"


class Tenant(models.Model):
    """A tenant: a Kubernetes namespace with quota, isolation and RBAC, and a bucket.

    Desired state (`name`…`quota`, `generation`, `deletion_requested_at`) is written by the API;
    observed state (`observed_generation`, `phase`, `message`, `reconciled_at`, `quota_used`)
    only by workers.
    """

    name = models.CharField(max_length=30, unique=True)
    scope = models.CharField(max_length=200, help_text="The OIDC group of the tenant's users.")
    ca_cert = models.TextField(
        blank=True, help_text="PEM of the CA that signs client certificates."
    )
    quota = models.JSONField(default=dict, blank=True)
    generation = models.PositiveBigIntegerField(default=1)
    deletion_requested_at = models.DateTimeField(null=True, blank=True)

    observed_generation = models.PositiveBigIntegerField(default=0)
    phase = models.CharField(max_length=16, choices=Phase.choices, default=Phase.PENDING)
    message = models.TextField(blank=True)
    reconciled_at = models.DateTimeField(null=True, blank=True)
    quota_used = models.JSONField(
        default=dict, blank=True, help_text="What the namespace's ResourceQuota reports as used."
    )

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["phase"])]

    def __str__(self):
        return self.name

    @property
    def namespace(self) -> str:
        return self.name

    @property
    def bucket(self) -> str:
        return f"{settings.MODELPORT_BUCKET_PREFIX}{self.name}"

    @property
    def is_up_to_date(self) -> bool:
        return self.observed_generation >= self.generation


class TenantBinding(models.Model):
    """Members of an OIDC group get a role in a tenant."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="bindings")
    group = models.CharField(max_length=200)
    role = models.CharField(max_length=8, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["tenant", "group"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "group"], name="one_role_per_group_and_tenant"
            )
        ]
        indexes = [models.Index(fields=["group"])]

    def __str__(self):
        return f"{self.group} → {self.role} in {self.tenant}"
