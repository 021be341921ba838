from django.contrib import admin

from core.admin import ReadOnlyAdmin
from gateway.models import UsageMinute


@admin.register(UsageMinute)
class UsageMinuteAdmin(ReadOnlyAdmin):
    """Read-only: written by the gateway's usage flush (old minutes may be deleted)."""

    deletable = True

    list_display = ("minute", "tenant", "application", "endpoint", "requests", "tokens")
    list_filter = ("tenant",)
    date_hierarchy = "minute"
