from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError

from core.admin import AuditedInlines
from core.errors import ModelportError
from tenants import services, validation
from tenants.models import Tenant, TenantBinding


class TenantBindingInline(admin.TabularInline):
    model = TenantBinding
    extra = 0


class TenantForm(forms.ModelForm):
    """The same checks as the API, so the admin site can't save what the API would refuse."""

    class Meta:
        model = Tenant
        fields = ("name", "scope", "ca_cert", "quota")

    def _checked(self, check, value):
        """The API's check; errors about parts of the value (quota keys) name the part, since a
        form field has one list of errors."""
        try:
            return check(value)
        except ValidationError as exc:
            if not hasattr(exc, "error_dict"):
                raise
            raise ValidationError(
                [
                    f"{key}: {message}"
                    for key, messages in exc.message_dict.items()
                    for message in messages
                ]
            ) from None

    def clean_name(self):
        return self._checked(validation.validate_tenant_name, self.cleaned_data["name"])

    def clean_scope(self):
        return self._checked(validation.validate_scope, self.cleaned_data["scope"])

    def clean_ca_cert(self):
        return self._checked(validation.parse_ca_certificate, self.cleaned_data["ca_cert"])

    def clean_quota(self):
        return self._checked(validation.validate_quota, self.cleaned_data["quota"])

    def clean(self):
        cleaned = super().clean()
        tenant = self.instance  # as stored: the form's values reach it only after clean()
        if tenant.deletion_requested_at:
            raise forms.ValidationError("This tenant is being deleted; it can't change.")
        if tenant.ca_cert and cleaned.get("ca_cert") == "":
            try:
                services.refuse_ca_removal_in_use(tenant)
            except ModelportError as exc:
                self.add_error("ca_cert", exc.message)
        return cleaned


@admin.register(Tenant)
class TenantAdmin(AuditedInlines):
    form = TenantForm
    list_display = ("name", "scope", "phase", "generation", "observed_generation", "reconciled_at")
    list_filter = ("phase",)
    search_fields = ("name", "scope")
    inlines = [TenantBindingInline]
    actions = ["resync", "delete_tenants"]
    # Observed state belongs to the workers.
    readonly_fields = (
        "generation",
        "deletion_requested_at",
        "observed_generation",
        "phase",
        "message",
        "reconciled_at",
        "quota_used",
        "created_by",
        "created_at",
        "updated_at",
    )

    def get_readonly_fields(self, request, obj=None):
        # The name is the namespace and the bucket: it can't change once they exist.
        return ("name", *self.readonly_fields) if obj else self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        # Deleting the row alone would orphan its namespace and bucket: use the action below.
        return False

    def save_model(self, request, obj, form, change):
        if change:
            # A change is written by save_related, through the same service as the API's PATCH,
            # once the inline bindings are saved: one new generation for both.
            return
        obj.created_by = request.user
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        tenant = form.instance
        if not change:
            services.bind_scope(tenant)
            services.schedule_reconcile(tenant.pk)
            return
        services.update_tenant(
            tenant,
            {field: form.cleaned_data[field] for field in form.changed_data},
            bindings_changed=any(formset.has_changed() for formset in formsets),
        )

    @admin.action(description="Resync the selected tenants now")
    def resync(self, request, queryset):
        services.request_resync(queryset)
        messages.info(request, f"Asked the workers to reconcile {queryset.count()} tenant(s).")

    @admin.action(description="Delete the selected tenants, with their namespace and bucket")
    def delete_tenants(self, request, queryset):
        for tenant in queryset:
            services.request_tenant_deletion(tenant)
        messages.warning(request, f"{queryset.count()} tenant(s) will be deleted by the workers.")
