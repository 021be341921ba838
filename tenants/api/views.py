from rest_framework import serializers

from core.api.envelope import envelope
from core.api.schema import answers, answers_page
from core.api.views import ApiView
from core.errors import CoreErrorCode, Forbidden, NotFound
from tenants import services
from tenants.access import (
    get_tenant,
    is_platform_admin,
    role_for_method,
    roles_by_tenant,
    tenants_for,
    user_groups,
)
from tenants.api.serializers import (
    BindingItemSerializer,
    BindingSerializer,
    GroupSerializer,
    MeSerializer,
    TenantCreateSerializer,
    TenantDeleteSerializer,
    TenantDetailSerializer,
    TenantNameSerializer,
    TenantUpdateSerializer,
    UnbindSerializer,
    tenant_detail,
)
from tenants.errors import TenantErrorCode
from tenants.models import Role, Tenant


def require_platform_admin(user, action):
    if not is_platform_admin(user):
        raise Forbidden(CoreErrorCode.PERMISSION_DENIED, f"Only platform admins can {action}.")


class TenantsView(ApiView):
    @answers_page(
        "tenants", serializers.CharField(), name="Tenants", summary="List your tenants (names)"
    )
    def get(self, request):
        tenants = tenants_for(request.user).order_by("name").only("name")
        return self.paginate("tenants", tenants, lambda tenant: tenant.name)

    @answers(
        "CREATED",
        TenantNameSerializer,
        errors=(400, 403, 409),
        summary="Create a tenant (platform admins)",
        request=TenantCreateSerializer,
    )
    def post(self, request):
        require_platform_admin(request.user, "create tenants")
        data = self.body(TenantCreateSerializer)
        tenant = services.create_tenant(
            name=data["name"],
            scope=data["scope"],
            ca_cert=data.get("cert", ""),
            quota=data.get("quota", {}),
            created_by=request.user,
        )
        return envelope("CREATED", {"name": tenant.name})

    @answers(
        "DELETED",
        TenantNameSerializer,
        errors=(400, 403, 404),
        summary="Delete a tenant (platform admins)",
        request=TenantDeleteSerializer,
    )
    def delete(self, request):
        require_platform_admin(request.user, "delete tenants")
        data = self.body(TenantDeleteSerializer)
        name = data["name"]
        tenant = Tenant.objects.filter(name=name).first()
        if tenant is None:
            raise NotFound(TenantErrorCode.TENANT_NOT_FOUND, f"There is no tenant called {name!r}.")
        services.request_tenant_deletion(tenant)
        return envelope("DELETED", {"name": tenant.name})


# API field name -> model field name, for the fields PATCH may change.
UPDATE_FIELDS = {"quota": "quota", "cert": "ca_cert"}


def _detail_queryset():
    return Tenant.objects.select_related("created_by").prefetch_related("bindings")


class TenantScopedView(ApiView):
    """Base for views under /tenants/<tenant>: `self.tenant(...)` is the tenant if the caller may
    see it (else 404) and has the role this method needs (else 403). Viewers read, editors
    change; `required_roles` ({"POST": Role.ADMIN, ...}) raises the bar per method, and
    `platform_admin_methods` ({"PATCH": "change tenants"}) keeps a method for platform admins
    (members who see the tenant get the 403). The isolation test matrix reads both attributes."""

    required_roles = {}
    platform_admin_methods = {}

    def tenant(self, name, queryset=None):
        method, user = self.request.method, self.request.user
        if method in self.platform_admin_methods:
            # A tenant the caller can't see is a 404, as for every tenant URL; only then the 403.
            tenant = get_tenant(user, name, queryset=queryset)
            require_platform_admin(user, self.platform_admin_methods[method])
            return tenant
        role = role_for_method(method, self.required_roles)
        return get_tenant(user, name, role, queryset=queryset)


class TenantDetailView(TenantScopedView):
    # Methods for platform admins alone, whatever the caller's role in the tenant, with what they
    # do (for the 403's sentence).
    platform_admin_methods = {"PATCH": "change tenants"}

    @answers(
        "OK",
        TenantDetailSerializer,
        errors=(404,),
        summary="A tenant: phase, message, quota, bindings",
    )
    def get(self, request, tenant):
        return envelope("OK", tenant_detail(self.tenant(tenant, queryset=_detail_queryset())))

    @answers(
        "PATCHED",
        TenantDetailSerializer,
        errors=(400, 403, 404, 409),
        summary="Change a tenant's quota or CA certificate (platform admins)",
        description=(
            "The quota replaces the whole quota object: keys left out are limits removed. An "
            'empty cert ("") removes the CA. Lowering maxEndpoints below the number of endpoints '
            "keeps them, and refuses new ones until the tenant is under the limit."
        ),
        request=TenantUpdateSerializer,
    )
    def patch(self, request, tenant):
        tenant = self.tenant(tenant)
        data = self.body(TenantUpdateSerializer)
        changes = {UPDATE_FIELDS[key]: value for key, value in data.items()}
        services.update_tenant(tenant, changes)
        return envelope("PATCHED", tenant_detail(_detail_queryset().get(pk=tenant.pk)))


def _binding(binding):
    return {"group": binding.group, "role": binding.role}


class TenantBindingsView(TenantScopedView):
    """Which OIDC groups have which role in the tenant. Tenant admins and platform admins manage
    them; each change is mirrored to the namespace's RoleBindings by the worker."""

    required_roles = {"POST": Role.ADMIN, "DELETE": Role.ADMIN}

    @answers_page(
        "bindings", BindingItemSerializer(), name="Bindings", summary="List the tenant's bindings"
    )
    def get(self, request, tenant):
        bindings = self.tenant(tenant).bindings.order_by("group")
        return self.paginate("bindings", bindings, _binding)

    @answers(
        ("CREATED", "PATCHED", "OK"),
        BindingItemSerializer,
        errors=(400, 403, 404, 409),
        summary="Give a group a role in the tenant (tenant admins)",
        description="CREATED (201) for a new binding, PATCHED for a new role, OK if unchanged.",
        request=BindingSerializer,
    )
    def post(self, request, tenant):
        tenant = self.tenant(tenant)
        data = self.body(BindingSerializer)
        binding, outcome = services.bind_group(tenant, **data)
        word = {"created": "CREATED", "changed": "PATCHED", "unchanged": "OK"}[outcome]
        return envelope(word, _binding(binding))

    @answers(
        "DELETED",
        GroupSerializer,
        errors=(400, 403, 404, 409),
        summary="Take a group's role in the tenant away (tenant admins)",
        request=UnbindSerializer,
    )
    def delete(self, request, tenant):
        tenant = self.tenant(tenant)
        data = self.body(UnbindSerializer)
        group = data["group"]
        if not services.unbind_group(tenant, group=group):
            raise NotFound(
                TenantErrorCode.BINDING_NOT_FOUND,
                f"Group {group!r} has no role in tenant {tenant.name!r}.",
            )
        return envelope("DELETED", {"group": group})


class MeView(ApiView):
    @answers(
        "OK", MeSerializer, summary="Who you are: groups, platform admin, your role in each tenant"
    )
    def get(self, request):
        user = request.user
        roles = roles_by_tenant(user)
        return envelope(
            "OK",
            {
                "username": user.get_username(),
                "groups": sorted(user_groups(user)),
                "platformAdmin": is_platform_admin(user),
                "tenants": [{"name": name, "role": role} for name, role in sorted(roles.items())],
            },
        )
