"""What the apps' admin classes share: read-only admins, and the admin site's door into the
audit trail, for the models it changes without a service:
`AuditedAdmin` records adds, changes and deletions (and the changes of its inlines) with the
fields' values before and after; `AuditedInlines` records the inlines alone, for an admin whose
own saves go through services that record them. Both run inside the admin's transaction."""

from django.contrib import admin

from core import audit


def _values(obj, fields):
    values = {}
    for field in fields:
        value = getattr(obj, field, None)
        if hasattr(value, "all"):  # a many-to-many field: its rows, by name
            value = sorted(str(row) for row in value.all())
        values[field] = value
    return values


def _stored(obj, fields):
    """The values `fields` of `obj` have in the database (the form has set the new ones on it)."""
    return _values(obj.__class__.objects.get(pk=obj.pk), fields)


# Model name -> (kind, its name in the trail, actions renamed) where the API's services record
# the same changes under other words: the trail reads the same whichever door was used.
AS_THE_API_SAYS = {
    "tenantbinding": ("binding", lambda b: b.group, {"create": "bind", "delete": "unbind"}),
    "apikey": ("api_key", lambda k: k.prefix, {}),
    "personalaccesstoken": ("token", lambda t: f"{t.user}/{t.name} ({t.prefix})", {}),
    "servingtemplate": ("serving_template", str, {}),
    "servingtemplatefile": ("serving_template_file", str, {}),
}


def _record(action, obj, before=None, after=None):
    model = obj._meta.model_name
    kind, name, actions = AS_THE_API_SAYS.get(model, (model, str, {}))
    audit.record(
        actions.get(action, action),
        kind,
        name(obj),
        tenant=_tenant_of(obj),
        before=before,
        after=after,
    )


class AuditedInlines(admin.ModelAdmin):
    def save_formset(self, request, form, formset, change):
        before = {
            f.instance.pk: _stored(f.instance, f.changed_data)
            for f in formset.initial_forms
            if f.has_changed() and f.instance.pk
        }
        super().save_formset(request, form, formset, change)
        for obj in formset.new_objects:
            _record("create", obj, after=_all(obj))
        for obj, fields in formset.changed_objects:
            action = "revoke" if "revoked_at" in fields and obj.revoked_at else "change"
            _record(action, obj, before=before.get(obj.pk, {}), after=_values(obj, fields))
        for obj in formset.deleted_objects:
            _record("delete", obj, before=_all(obj))


def _tenant_of(obj):
    """The tenant an object belongs to, or is ("" for platform objects such as plans)."""
    if obj._meta.model_name == "tenant":
        return obj.name
    owner = getattr(obj, "application", obj)  # an API key is its application's
    return getattr(getattr(owner, "tenant", None), "name", "")


def _all(obj):
    """An object's own fields (never a secret's value: see core.audit.SECRET_FIELDS)."""
    names = [f.name for f in obj._meta.concrete_fields if f.name not in ("id",)]
    return _values(obj, names)


class AuditedAdmin(AuditedInlines):
    def save_model(self, request, obj, form, change):
        # Kept on the request (the admin object serves every request): save_related records.
        request.audit_before = _stored(obj, form.changed_data) if change else None
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # After the many-to-many fields are saved, so their new values are read.
        obj = form.instance
        if not change:
            _record("create", obj, after=_all(obj))
        elif form.changed_data:
            after = _values(obj, form.changed_data)
            _record("change", obj, before=request.audit_before, after=after)

    def delete_model(self, request, obj):
        _record("delete", obj, before=_all(obj))
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            _record("delete", obj, before=_all(obj))
        super().delete_queryset(request, queryset)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows the admin site shows but never adds or changes (written by the API, the workers or
    the gateway, which keep them in step with the world); `deletable` allows deleting them."""

    deletable = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return self.deletable and super().has_delete_permission(request, obj)
