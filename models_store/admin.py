from django.contrib import admin

from core.admin import ReadOnlyAdmin
from models_store.models import ModelFile, ModelVersion, MultipartUpload


class ModelFileInline(admin.TabularInline):
    model = ModelFile
    fields = ("path", "size", "etag", "updated_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class MultipartUploadInline(admin.TabularInline):
    model = MultipartUpload
    fields = ("path", "upload_id", "created_by", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ModelVersion)
class ModelVersionAdmin(ReadOnlyAdmin):
    """Read-only: bytes and state change through the API and the workers, which keep storage and
    the index in step; an edit here would only put them out of step."""

    list_display = ("tenant", "name", "version", "state", "created_by", "updated_at")
    list_filter = ("state", "tenant")
    search_fields = ("name", "tenant__name")
    list_select_related = ("tenant", "created_by")
    inlines = [ModelFileInline, MultipartUploadInline]
    readonly_fields = (
        "tenant",
        "name",
        "version",
        "state",
        "created_by",
        "created_at",
        "updated_at",
    )
