from django.conf import settings
from django.db import models

from core.phase import Phase
from tenants.models import Tenant

DEFAULT_VERSION_POLICY = "{latest {}}"


class ServingTemplate(models.Model):
    """A named set of template files (`deployment.tmpl`, ...) that render an endpoint's objects.

    Seeded from `endpoints/serving_templates/<name>/` and edited by platform admins in the admin
    site, which refuses a template that does not render to valid Kubernetes objects."""

    name = models.CharField(max_length=63, unique=True)
    description = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def files(self):
        """{filename: template text}, sorted by filename."""
        return dict(self.template_files.order_by("filename").values_list("filename", "content"))


class ServingTemplateFile(models.Model):
    template = models.ForeignKey(
        ServingTemplate, on_delete=models.CASCADE, related_name="template_files"
    )
    filename = models.CharField(
        max_length=100, help_text="Ends in .tmpl, e.g. deployment.tmpl; one object per file."
    )
    content = models.TextField(help_text="YAML with Django template tags; see the docs.")

    class Meta:
        ordering = ["template", "filename"]
        constraints = [
            models.UniqueConstraint(fields=["template", "filename"], name="one_file_per_name")
        ]

    def __str__(self):
        return f"{self.template.name}/{self.filename}"


class Endpoint(models.Model):
    """An inference endpoint: a model served by a serving template in a tenant's namespace.

    Desired state (model…replicas, `generation`, `deletion_requested_at`) is written by the API;
    observed state (phase, message, pod and replica counts) only by workers. A scale changes
    `replicas` without bumping `generation`: it is applied by patching replicas alone."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="endpoints")
    name = models.CharField(max_length=32)
    model_name = models.CharField(max_length=63)
    version_policy = models.CharField(max_length=500, default=DEFAULT_VERSION_POLICY)
    serving = models.ForeignKey(ServingTemplate, on_delete=models.PROTECT, related_name="+")
    subject_name = models.CharField(max_length=253)
    resources = models.JSONField(default=dict, blank=True)
    replicas = models.PositiveIntegerField(default=1)
    generation = models.PositiveBigIntegerField(default=1)
    deletion_requested_at = models.DateTimeField(null=True, blank=True)

    observed_generation = models.PositiveBigIntegerField(default=0)
    phase = models.CharField(max_length=16, choices=Phase.choices, default=Phase.PENDING)
    message = models.TextField(blank=True)
    reconciled_at = models.DateTimeField(null=True, blank=True)
    running_pods = models.PositiveIntegerField(default=0)
    pending_pods = models.PositiveIntegerField(default=0)
    failed_pods = models.PositiveIntegerField(default=0)
    # As the cluster reports them: None when it reports nothing (a Deployment leaves out zeros).
    available_replicas = models.PositiveIntegerField(null=True, blank=True)
    unavailable_replicas = models.PositiveIntegerField(null=True, blank=True)
    status_synced_at = models.DateTimeField(null=True, blank=True)

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tenant", "name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="one_endpoint_name_per_tenant")
        ]
        indexes = [models.Index(fields=["phase"])]

    def __str__(self):
        return f"{self.tenant.name}/{self.name}"

    @property
    def host(self):
        return endpoint_host(self.name, self.tenant.name)

    @property
    def url(self):
        return endpoint_url(self.name, self.tenant.name)

    @property
    def is_up_to_date(self):
        return self.observed_generation >= self.generation


def endpoint_host(endpoint_name, tenant_name):
    return f"{endpoint_name}-{tenant_name}.{settings.MODELPORT_DOMAIN}"


def endpoint_url(endpoint_name, tenant_name):
    """What clients dial: the reference's `<endpoint>-<tenant>.<domain>:443`."""
    return f"{endpoint_host(endpoint_name, tenant_name)}:443"
