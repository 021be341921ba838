from django import forms
from django.contrib import admin, messages
from django.db import models, transaction

from core.admin import AuditedAdmin
from endpoints import services
from endpoints.models import Endpoint, ServingTemplate, ServingTemplateFile
from endpoints.rendering import TemplateError, check_template


class ServingTemplateFileFormSet(forms.BaseInlineFormSet):
    """Refuses to save a template whose files, rendered with a sample endpoint, are not valid
    Kubernetes objects (the same schema check the cluster would make, strict on unknown
    fields), so a typo can't break every endpoint that uses the template."""

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        files = {
            form.cleaned_data["filename"]: form.cleaned_data["content"]
            for form in self.forms
            if form.cleaned_data and not form.cleaned_data.get("DELETE")
        }
        try:
            check_template(files)
        except TemplateError as exc:
            raise forms.ValidationError(f"This template cannot be saved: {exc}") from None


class ServingTemplateFileInline(admin.StackedInline):
    model = ServingTemplateFile
    formset = ServingTemplateFileFormSet
    extra = 0
    # YAML is whitespace-sensitive: keep the text exactly as typed.
    formfield_overrides = {models.TextField: {"strip": False}}


@admin.register(ServingTemplate)
class ServingTemplateAdmin(AuditedAdmin):
    list_display = ("name", "updated_at")
    search_fields = ("name",)
    inlines = [ServingTemplateFileInline]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if change:
            # Endpoints using the template are reconciled with the new files once they commit.
            using = list(Endpoint.objects.filter(serving=form.instance, deletion_requested_at=None))
            transaction.on_commit(lambda: services.request_resync(using))
            messages.info(request, f"{len(using)} endpoint(s) will be reconciled.")


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    list_display = ("name", "tenant", "model_name", "serving", "replicas", "phase")
    list_filter = ("phase", "serving")
    search_fields = ("name", "tenant__name", "model_name")
    actions = ["resync"]
    # Endpoints are changed through the API, which checks quota and input; here they are read.
    readonly_fields = [f.name for f in Endpoint._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Resync the selected endpoints now")
    def resync(self, request, queryset):
        services.request_resync(queryset)
        messages.info(request, f"Asked the workers to reconcile {queryset.count()} endpoint(s).")
