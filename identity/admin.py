from django.contrib import admin, messages

from core.admin import AuditedAdmin, ReadOnlyAdmin
from identity.models import OidcIdentity, PersonalAccessToken, hash_token


@admin.register(PersonalAccessToken)
class PersonalAccessTokenAdmin(AuditedAdmin):
    list_display = (
        "prefix",
        "user",
        "name",
        "created_at",
        "expires_at",
        "last_used_at",
        "revoked_at",
    )
    list_filter = ("revoked_at",)
    search_fields = ("user__username", "name", "prefix")
    fields = ("user", "name", "expires_at", "revoked_at", "prefix", "created_at", "last_used_at")
    readonly_fields = ("prefix", "created_at", "last_used_at")

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        row, raw = PersonalAccessToken.issue(obj.user, name=obj.name, expires_at=obj.expires_at)
        obj.pk, obj.prefix, obj.token_hash = row.pk, row.prefix, hash_token(raw)
        messages.warning(
            request, f"The new token is {raw} — copy it now; it will not be shown again."
        )
        return None


@admin.register(OidcIdentity)
class OidcIdentityAdmin(ReadOnlyAdmin):
    """Read-only: identities are created at first login and belong to the provider (deleting
    one unlinks the user from it)."""

    deletable = True

    list_display = ("user", "subject", "issuer", "created_at", "last_login_at")
    search_fields = ("user__username", "subject")
    readonly_fields = ("user", "issuer", "subject", "created_at", "last_login_at")
