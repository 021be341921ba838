from django.contrib import admin

from gateway.models import UsageMinute


@admin.register(UsageMinute)
class UsageMinuteAdmin(admin.ModelAdmin):
    """Read-only: written by the gateway's usage flush."""

    list_display = ("minute", "tenant", "application", "endpoint", "requests", "tokens")
    list_filter = ("tenant",)
    date_hierarchy = "minute"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
