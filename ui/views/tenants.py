"""Tenant pages: the platform admins' list of tenants (create, delete), and each tenant's Settings
tab (live phase, quota and usage, group bindings; platform admins also change the quota and the
CA certificate there). Every change goes through the serializers and services the API uses, so
the rules and the messages are the same."""

from django.contrib import messages
from django.db.models import Count
from django.shortcuts import redirect, render
from rest_framework.exceptions import ValidationError

from core.errors import NotFound
from core.phase import Phase
from endpoints.models import Endpoint
from tenants import services, validation
from tenants.access import is_platform_admin
from tenants.api.serializers import (
    BindingSerializer,
    TenantCreateSerializer,
    TenantDeleteSerializer,
    TenantUpdateSerializer,
    UnbindSerializer,
)
from tenants.errors import TenantErrorCode
from tenants.models import Role, Tenant
from ui.pages import TenantPage, attempt, page, platform_admins_only, post_only, read_only

# The quota inputs of the create and edit forms: (quota key, label, example). The GPU count
# becomes the key requests.<vendor>/gpu with the vendor the form names.
QUOTA_FIELDS = (
    ("maxEndpoints", "Endpoints at most", "5"),
    ("maxStorageBytes", "Model storage, bytes", "10737418240"),
    ("requests.cpu", "CPU requests", "4"),
    ("limits.cpu", "CPU limits", "8"),
    ("requests.memory", "Memory requests", "8Gi"),
    ("limits.memory", "Memory limits", "16Gi"),
    ("gpu", "GPUs", "1"),
)
FORM_QUOTA_KEYS = {key for key, _, _ in QUOTA_FIELDS}
WHOLE_NUMBER_KEYS = validation.PLATFORM_QUOTA_KEYS
DEFAULT_GPU_VENDOR = "nvidia.com"
CERT_FILE_MAX_BYTES = 64 * 1024


def _validated(serializer_class, data):
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _number_or_text(raw):
    """A whole number from a form field; anything else is passed on for the validator to
    explain."""
    return int(raw) if raw.isdigit() else raw


def quota_from(form):
    """The quota object the API takes, from the create or edit form; empty inputs are left
    out."""
    quota = {}
    for key, _, _ in QUOTA_FIELDS:
        value = form.get(key, "").strip()
        if not value:
            continue
        if key == "gpu":
            vendor = form.get("gpu_vendor", "").strip() or DEFAULT_GPU_VENDOR
            quota[f"requests.{vendor}/gpu"] = value
        elif key in WHOLE_NUMBER_KEYS:
            quota[key] = _number_or_text(value)
        else:
            quota[key] = value
    return quota


def form_from_quota(quota):
    """The quota inputs filled in from a stored quota: the inverse of quota_from, which the edit
    form starts from. None when the form can't show the quota (GPUs of more than one vendor):
    saving it would drop the others."""
    gpus = [key for key in quota if validation.GPU_QUOTA.match(key)]
    if len(gpus) > 1:
        return None
    form = {key: str(value) for key, value in quota.items() if key not in gpus}
    for key in gpus:
        form["gpu"] = str(quota[key])
        form["gpu_vendor"] = key.removeprefix("requests.").removesuffix("/gpu")
    return form


def certificate_from(request):
    """The CA certificate's PEM, from the uploaded file if there is one, else the textarea. The
    serializer takes PEM as well as the API's base64 of it."""
    upload = request.FILES.get("cert_file")
    if upload is None:
        return request.POST.get("cert", "").strip()
    content = upload.read(CERT_FILE_MAX_BYTES + 1)
    if len(content) > CERT_FILE_MAX_BYTES:
        raise ValidationError({"cert": ["The certificate file is too large for a CA certificate."]})
    try:
        return content.decode("ascii").strip()
    except UnicodeDecodeError:
        raise ValidationError(
            {"cert": ["The certificate file must be PEM (text starting -----BEGIN CERTIFICATE)."]}
        ) from None


def quota_rows(form, fields):
    """The quota inputs with their values and the errors the validator gave each; the GPU input
    is the only one whose key the form makes up, so it gets the errors about other keys."""
    errors = fields.get("quota", {})
    if not isinstance(errors, dict):
        errors = {"maxEndpoints": errors}
    gpu_errors = [
        message
        for key, key_messages in errors.items()
        if key not in FORM_QUOTA_KEYS
        for message in key_messages
    ]
    return [
        {
            "key": key,
            "label": label,
            "example": example,
            "value": form.get(key, ""),
            "errors": gpu_errors if key == "gpu" else errors.get(key, []),
        }
        for key, label, example in QUOTA_FIELDS
    ]


@page
@platform_admins_only("manage tenants")
def tenant_list(request):
    form, fields = {}, {}
    if request.method == "POST":
        form = request.POST

        def create():
            data = {
                "name": form.get("name", "").strip(),
                "scope": form.get("scope", "").strip(),
                "cert": certificate_from(request),
                "quota": quota_from(form),
            }
            values = _validated(TenantCreateSerializer, data)
            return services.create_tenant(
                name=values["name"],
                scope=values["scope"],
                ca_cert=values.get("cert", ""),
                quota=values.get("quota", {}),
                created_by=request.user,
            )

        name = form.get("name", "").strip()
        outcome = attempt(request, create, success=f"Tenant {name} created.")
        if outcome.ok:
            return redirect("ui:tenant-settings", tenant=outcome.value.name)
        fields = outcome.fields
    tenants = Tenant.objects.select_related("created_by").annotate(
        endpoint_count=Count("endpoints")
    )
    return render(
        request,
        "ui/tenants.html",
        {
            "nav": "tenants",
            "rows": [
                (tenant, tenant.quota.get("maxEndpoints")) for tenant in tenants.order_by("name")
            ],
            "form": form,
            "fields": fields,
            "quota_rows": quota_rows(form, fields),
            "gpu_vendor": form.get("gpu_vendor", DEFAULT_GPU_VENDOR),
        },
    )


@post_only
@page
@platform_admins_only("delete tenants")
def tenant_delete(request, name):
    def delete():
        wanted = _validated(TenantDeleteSerializer, {"name": name})["name"]
        tenant = Tenant.objects.filter(name=wanted).first()
        if tenant is None:
            raise NotFound(
                TenantErrorCode.TENANT_NOT_FOUND, f"There is no tenant called {wanted!r}."
            )
        if request.POST.get("confirm", "").strip() != tenant.name:
            raise ValidationError(
                f"Type the tenant's name, {tenant.name}, to confirm that it should be deleted."
            )
        services.request_tenant_deletion(tenant)

    attempt(
        request,
        delete,
        success=f"Tenant {name} is being deleted: its endpoints, models and bucket go with it.",
    )
    return redirect("ui:tenants")


def _usage_rows(tenant, endpoint_count):
    """Each quota key with its limit and what is used: endpoints counted here (as the service
    counts them, those being deleted included), the rest as the namespace's ResourceQuota
    reports it."""
    used = {**tenant.quota_used, "maxEndpoints": endpoint_count}
    known = validation.PLATFORM_QUOTA_KEYS + validation.QUOTA_QUANTITIES
    keys = sorted(
        {*tenant.quota, *tenant.quota_used},
        key=lambda key: (known.index(key) if key in known else len(known), key),
    )
    return [(key, tenant.quota.get(key), used.get(key)) for key in keys]


def _polling(tenant):
    return tenant.phase != Phase.READY or tenant.deletion_requested_at is not None


def _settings_page(request, context, *, quota_form=None, cert="", fields=None):
    """The Settings tab; after a refused change, with the input that was refused (`quota_form`
    or `cert`) and the messages for its fields."""
    tenant = context.tenant
    fields = fields or {}
    endpoint_count = Endpoint.objects.filter(tenant=tenant).count()
    manage = is_platform_admin(request.user) and not tenant.deletion_requested_at
    if quota_form is None:
        quota_form = form_from_quota(tenant.quota)
    return render(
        request,
        "ui/tenant_settings.html",
        context.context(
            "settings",
            polling=_polling(tenant),
            certificate=validation.describe_certificate(tenant.ca_cert),
            usage=_usage_rows(tenant, endpoint_count),
            endpoint_count=endpoint_count,
            bindings=tenant.bindings.order_by("group"),
            roles=Role.values,
            can_manage=manage,
            fields=fields,
            cert=cert,
            quota_editable=quota_form is not None,
            quota_rows=quota_rows(quota_form or {}, fields) if manage else [],
            gpu_vendor=(quota_form or {}).get("gpu_vendor", DEFAULT_GPU_VENDOR),
        ),
    )


@read_only
@page
def tenant_settings(request, tenant):
    return _settings_page(request, TenantPage(request, tenant))


@post_only
@page
@platform_admins_only("change tenants")
def tenant_quota(request, tenant):
    """The whole quota, replaced by the edit form's (empty inputs are limits removed)."""
    context = TenantPage(request, tenant)

    def change():
        quota = _validated(TenantUpdateSerializer, {"quota": quota_from(request.POST)})["quota"]
        services.update_tenant(context.tenant, {"quota": quota})

    outcome = attempt(request, change, success=f"Quota of {context.tenant.name} saved.")
    if outcome.ok:
        return _back(context.tenant.name)
    return _settings_page(request, context, quota_form=request.POST, fields=outcome.fields)


@post_only
@page
@platform_admins_only("change tenants")
def tenant_certificate(request, tenant):
    """Replace the CA certificate (pasted or as a file), or remove it (`remove` in the form)."""
    context = TenantPage(request, tenant)
    remove = "remove" in request.POST

    def change():
        cert = "" if remove else certificate_from(request)
        if not cert and not remove:
            raise ValidationError({"cert": ["Paste the CA certificate's PEM or choose its file."]})
        pem = _validated(TenantUpdateSerializer, {"cert": cert})["cert"]
        services.update_tenant(context.tenant, {"ca_cert": pem})

    name = context.tenant.name
    success = f"CA certificate of {name} removed." if remove else f"CA certificate of {name} saved."
    outcome = attempt(request, change, success=success)
    if outcome.ok:
        return _back(name)
    cert = "" if remove else request.POST.get("cert", "")
    return _settings_page(request, context, cert=cert, fields=outcome.fields)


@read_only
@page
def tenant_status(request, tenant):
    """The live phase on the Settings tab, polled by htmx until the tenant is Ready."""
    tenant = TenantPage(request, tenant).tenant
    return render(request, "ui/tenant_status.html", {"tenant": tenant, "polling": _polling(tenant)})


def _back(tenant):
    return redirect("ui:tenant-settings", tenant=tenant)


@post_only
@page
def binding_add(request, tenant):
    tenant = TenantPage(request, tenant, role=Role.ADMIN).tenant
    data = {"group": request.POST.get("group", ""), "role": request.POST.get("role", "")}

    def bind():
        values = _validated(BindingSerializer, data)
        binding, outcome = services.bind_group(tenant, **values)
        sentence = {
            "created": f"Group {binding.group} now has the {binding.role} role.",
            "changed": f"Group {binding.group} now has the {binding.role} role instead.",
            "unchanged": f"Group {binding.group} already had the {binding.role} role.",
        }[outcome]
        messages.success(request, sentence)

    attempt(request, bind)
    return _back(tenant.name)


@post_only
@page
def binding_remove(request, tenant):
    tenant = TenantPage(request, tenant, role=Role.ADMIN).tenant

    def unbind():
        group = _validated(UnbindSerializer, {"group": request.POST.get("group", "")})["group"]
        if not services.unbind_group(tenant, group=group):
            raise NotFound(
                TenantErrorCode.BINDING_NOT_FOUND,
                f"Group {group!r} has no role in tenant {tenant.name!r}.",
            )
        return group

    outcome = attempt(request, unbind)
    if outcome.ok:
        messages.success(request, f"Group {outcome.value} no longer has a role in {tenant.name}.")
    return _back(tenant.name)
