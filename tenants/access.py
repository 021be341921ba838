"""Who may see and change which tenant. Every query for tenant data starts here.

A person's groups (Django groups, filled from the OIDC `groups` claim at login) are the truth:
platform admins are members of a group in MODELPORT_PLATFORM_ADMIN_GROUPS (or superusers, the
break-glass accounts); everyone else gets the roles that the tenants' bindings give their groups.
"""

from django.conf import settings

from core.errors import CoreErrorCode, Forbidden, NotFound
from tenants.errors import TenantErrorCode
from tenants.models import Role, Tenant, TenantBinding

_RANK = {Role.VIEWER: 1, Role.EDITOR: 2, Role.ADMIN: 3}


def roles_at_least(role):
    return [r for r, rank in _RANK.items() if rank >= _RANK[role]]


def user_groups(user):
    if not user.is_authenticated:
        return set()
    cached = getattr(user, "_modelport_groups", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        user._modelport_groups = cached
    return cached


def is_platform_admin(user):
    if not user.is_authenticated:
        return False
    if user.is_superuser:
        return True
    return bool(user_groups(user) & set(settings.MODELPORT_PLATFORM_ADMIN_GROUPS))


def tenants_for(user, role=Role.VIEWER):
    """The tenants in which `user` has at least `role`."""
    if is_platform_admin(user):
        return Tenant.objects.all()
    groups = user_groups(user)
    if not groups:
        return Tenant.objects.none()
    return Tenant.objects.filter(
        pk__in=TenantBinding.objects.filter(group__in=groups, role__in=roles_at_least(role)).values(
            "tenant_id"
        )
    )


def get_tenant(user, name, role=Role.VIEWER, queryset=None):
    """The tenant called `name` if `user` may see it: 404 if not (never revealing that it exists),
    403 if they may see it but lack `role`."""
    visible = (queryset if queryset is not None else Tenant.objects).filter(
        pk__in=tenants_for(user).values("pk"), name=name
    )
    # A name with NUL names nothing (and PostgreSQL refuses NUL in a query).
    tenant = visible.first() if "\x00" not in name else None
    if tenant is None:
        raise NotFound(TenantErrorCode.TENANT_NOT_FOUND, f"There is no tenant called {name!r}.")
    if role != Role.VIEWER and not tenants_for(user, role).filter(pk=tenant.pk).exists():
        raise Forbidden(
            CoreErrorCode.PERMISSION_DENIED,
            f"You need the {role} role in tenant {name!r} to do this.",
        )
    return tenant


# What a request needs in its tenant, by HTTP method, unless the view says otherwise (a view's
# `required_roles`, e.g. {"POST": Role.ADMIN}): viewers read, editors change.
READ_METHODS = ("GET", "HEAD", "OPTIONS")


def role_for_method(method, required_roles=None):
    if required_roles and method in required_roles:
        return required_roles[method]
    return Role.VIEWER if method in READ_METHODS else Role.EDITOR


def scoped(queryset, user, role=Role.VIEWER, tenant_field="tenant"):
    """`queryset` of tenant-owned rows narrowed to the tenants where `user` has at least `role`.
    Lists of models, endpoints and the rest go through this, never through their own filters."""
    return queryset.filter(**{f"{tenant_field}__in": tenants_for(user, role)})


def roles_by_tenant(user):
    """{tenant name: the user's highest role there}; platform admins are admins everywhere."""
    if is_platform_admin(user):
        return dict.fromkeys(Tenant.objects.values_list("name", flat=True), Role.ADMIN.value)
    best = {}
    bindings = TenantBinding.objects.filter(group__in=user_groups(user)).values_list(
        "tenant__name", "role"
    )
    for name, role in bindings:
        if name not in best or _RANK[role] > _RANK[best[name]]:
            best[name] = role
    return best
