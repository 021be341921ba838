from drf_spectacular.utils import extend_schema

from portal.api.exceptions import ApiError, NotFound
from portal.api.responses import envelope
from portal.api.views import ApiView
from tenants import services
from tenants.access import get_tenant, is_platform_admin, tenants_for
from tenants.api.serializers import TenantCreateSerializer, TenantDeleteSerializer, tenant_detail
from tenants.models import Tenant


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


class TenantDetailView(ApiView):
    @extend_schema(summary="A tenant: phase, message, quota, bindings")
    def get(self, request, tenant):
        queryset = Tenant.objects.select_related("created_by").prefetch_related("bindings")
        return envelope("OK", tenant_detail(get_tenant(request.user, tenant, queryset=queryset)))
