from django import forms
from django.contrib import admin

from applications.api.serializers import APPLICATION_NAME, APPLICATION_NAME_RULE
from applications.models import ApiKey, Application, Plan
from core.admin import AuditedAdmin


@admin.register(Plan)
class PlanAdmin(AuditedAdmin):
    list_display = (
        "name",
        "requests_per_minute",
        "requests_per_day",
        "concurrent_requests",
        "tokens_per_minute",
        "tokens_per_day",
        "tokens_per_month",
        "spend_per_month",
    )
    search_fields = ("name", "description")


class ApiKeyInline(admin.TabularInline):
    """Keys are issued by the API (shown once there); here they can only be read or revoked."""

    model = ApiKey
    extra = 0
    fields = ("prefix", "created_at", "expires_at", "revoked_at")
    readonly_fields = ("prefix", "created_at")

    def has_add_permission(self, request, obj=None):
        return False


class ApplicationForm(forms.ModelForm):
    class Meta:
        model = Application
        fields = ("tenant", "name", "plan", "endpoints")

    def clean_name(self):
        """The API's rule: the name is a label in URLs, usage rows and the portal's pages."""
        name = self.cleaned_data["name"]
        if not APPLICATION_NAME.match(name):
            raise forms.ValidationError(APPLICATION_NAME_RULE)
        return name

    def clean(self):
        data = super().clean()
        tenant, endpoints = data.get("tenant"), data.get("endpoints")
        if tenant and endpoints:
            foreign = sorted(str(e) for e in endpoints if e.tenant_id != tenant.pk)
            if foreign:
                self.add_error(
                    "endpoints",
                    f"An application calls its own tenant's endpoints only: {', '.join(foreign)}.",
                )
        return data


@admin.register(Application)
class ApplicationAdmin(AuditedAdmin):
    form = ApplicationForm
    list_display = ("name", "tenant", "plan", "created_by", "created_at")
    list_filter = ("plan",)
    search_fields = ("name", "tenant__name")
    filter_horizontal = ("endpoints",)
    readonly_fields = ("created_by", "created_at", "updated_at")
    inlines = [ApiKeyInline]
