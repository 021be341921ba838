from drf_spectacular.utils import extend_schema

from portal.api.exceptions import ApiError, NotFound
from portal.api.responses import envelope
from portal.api.views import ApiView
from tenants import services
from tenants.access import get_tenant, is_platform_admin, role_for_method, tenants_for
from tenants.api.serializers import (
    BindingSerializer,
    TenantCreateSerializer,
    TenantDeleteSerializer,
    TenantUpdateSerializer,
    UnbindSerializer,
    tenant_detail,
)
from tenants.models import Role, Tenant


def require_platform_admin(user, action):
    if not is_platform_admin(user):
        raise ApiError("permission_denied", f"Only platform admins can {action}.", status_code=403)


class TenantsView(ApiView):
    @extend_schema(summary="List the tenants you belong to (names)")
    def get(self, request):
        tenants = tenants_for(request.user).order_by("name").only("name")
        return self.paginate("tenants", tenants, lambda tenant: tenant.name)

    @extend_schema(summary="Create a tenant (platform admins)", request=TenantCreateSerializer)
    def post(self, request):
        require_platform_admin(request.user, "create tenants")
        self.reject_unknown_fields(request.data, TenantCreateSerializer().fields)
        serializer = TenantCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        tenant = services.create_tenant(
            name=data["name"],
            scope=data["scope"],
            ca_cert=data.get("cert", ""),
            quota=data.get("quota", {}),
            created_by=request.user,
        )
        return envelope("CREATED", {"name": tenant.name})

    @extend_schema(summary="Delete a tenant (platform admins)", request=TenantDeleteSerializer)
    def delete(self, request):
        require_platform_admin(request.user, "delete tenants")
        self.reject_unknown_fields(request.data, TenantDeleteSerializer().fields)
        serializer = TenantDeleteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        name = serializer.validated_data["name"]
        tenant = Tenant.objects.filter(name=name).first()
        if tenant is None:
            raise NotFound(f"There is no tenant called {name!r}.", code="tenant_not_found")
        services.request_tenant_deletion(tenant)
        return envelope("DELETED", {"name": tenant.name})


# API field name -> model field name, for the fields PATCH may change.
UPDATE_FIELDS = {"quota": "quota", "cert": "ca_cert"}


def _detail_queryset():
    return Tenant.objects.select_related("created_by").prefetch_related("bindings")


class TenantDetailView(ApiView):
    # Methods for platform admins alone, whatever the caller's role in the tenant; the isolation
    # test matrix reads the same attribute.
    platform_admin_methods = ("PATCH",)

    @extend_schema(summary="A tenant: phase, message, quota, bindings")
    def get(self, request, tenant):
        queryset = _detail_queryset()
        return envelope("OK", tenant_detail(get_tenant(request.user, tenant, queryset=queryset)))

    @extend_schema(
        summary="Change a tenant's quota or CA certificate (platform admins)",
        description=(
            "The quota replaces the whole quota object: keys left out are limits removed. An "
            'empty cert ("") removes the CA. Lowering maxEndpoints below the number of endpoints '
            "keeps them, and refuses new ones until the tenant is under the limit."
        ),
        request=TenantUpdateSerializer,
    )
    def patch(self, request, tenant):
        # A tenant the caller can't see is a 404, as for every tenant URL; only then the 403.
        tenant = get_tenant(request.user, tenant)
        require_platform_admin(request.user, "change tenants")
        self.reject_unknown_fields(request.data, TenantUpdateSerializer().fields)
        serializer = TenantUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        changes = {UPDATE_FIELDS[key]: value for key, value in serializer.validated_data.items()}
        services.update_tenant(tenant, changes)
        return envelope("PATCHED", tenant_detail(_detail_queryset().get(pk=tenant.pk)))


class TenantScopedView(ApiView):
    """Base for views under /tenants/<tenant>/: `self.tenant(...)` is the tenant if the caller
    may see it (else 404) and has the role this method needs (else 403). Viewers read, editors
    change; `required_roles` ({"POST": Role.ADMIN, ...}) raises the bar per method. The isolation
    test matrix reads the same attribute."""

    required_roles = {}

    def tenant(self, name, queryset=None):
        role = role_for_method(self.request.method, self.required_roles)
        return get_tenant(self.request.user, name, role, queryset=queryset)


def _binding(binding):
    return {"group": binding.group, "role": binding.role}


class TenantBindingsView(TenantScopedView):
    """Which OIDC groups have which role in the tenant. Tenant admins and platform admins manage
    them; each change is mirrored to the namespace's RoleBindings by the worker."""

    required_roles = {"POST": Role.ADMIN, "DELETE": Role.ADMIN}

    @extend_schema(summary="List the tenant's group bindings")
    def get(self, request, tenant):
        bindings = self.tenant(tenant).bindings.order_by("group")
        return self.paginate("bindings", bindings, _binding)

    @extend_schema(
        summary="Give a group a role in the tenant (tenant admins)", request=BindingSerializer
    )
    def post(self, request, tenant):
        tenant = self.tenant(tenant)
        self.reject_unknown_fields(request.data, BindingSerializer().fields)
        serializer = BindingSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        binding, outcome = services.bind_group(tenant, **serializer.validated_data)
        word = {"created": "CREATED", "changed": "PATCHED", "unchanged": "OK"}[outcome]
        return envelope(word, _binding(binding))

    @extend_schema(
        summary="Take a group's role in the tenant away (tenant admins)", request=UnbindSerializer
    )
    def delete(self, request, tenant):
        tenant = self.tenant(tenant)
        self.reject_unknown_fields(request.data, UnbindSerializer().fields)
        serializer = UnbindSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        group = serializer.validated_data["group"]
        if not services.unbind_group(tenant, group=group):
            raise NotFound(
                f"Group {group!r} has no role in tenant {tenant.name!r}.", code="binding_not_found"
            )
        return envelope("DELETED", {"group": group})
