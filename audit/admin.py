from django.contrib import admin

from audit.models import AuditRecord
from core.admin import ReadOnlyAdmin


@admin.register(AuditRecord)
class AuditRecordAdmin(ReadOnlyAdmin):
    """Read-only: records are never added, changed or deleted through the admin site."""

    list_display = ("time", "actor", "door", "action", "kind", "tenant", "name", "request_id")
    list_filter = ("kind", "action", "door", "actor_kind")
    search_fields = ("tenant", "name", "actor", "request_id")
    date_hierarchy = "time"
    readonly_fields = [f.name for f in AuditRecord._meta.fields]
