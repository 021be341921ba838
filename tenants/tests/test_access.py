"""tenants.access: the one place that decides whose rows a person sees, and with what role."""

import pytest

from tenants.access import role_for_method, roles_by_tenant, scoped, tenants_for
from tenants.models import Role, Tenant, TenantBinding

pytestmark = pytest.mark.django_db


@pytest.fixture
def tenants():
    a = Tenant.objects.create(name="team-a", scope="a")
    b = Tenant.objects.create(name="team-b", scope="b")
    c = Tenant.objects.create(name="team-c", scope="c")
    TenantBinding.objects.create(tenant=a, group="a", role="viewer")
    TenantBinding.objects.create(tenant=a, group="a-admins", role="admin")
    TenantBinding.objects.create(tenant=b, group="b", role="editor")
    return a, b, c


def names(queryset):
    return sorted(queryset.values_list("name", flat=True))


def test_tenants_for_keeps_only_tenants_where_the_role_is_high_enough(make_user, tenants):
    user = make_user("bob", groups=["a", "b"])
    assert names(tenants_for(user, Role.VIEWER)) == ["team-a", "team-b"]
    assert names(tenants_for(user, Role.EDITOR)) == ["team-b"]
    assert names(tenants_for(user, Role.ADMIN)) == []


def test_the_highest_role_wins_when_several_groups_bind_one_tenant(make_user, tenants):
    user = make_user("bob", groups=["a", "a-admins", "b"])
    assert roles_by_tenant(user) == {"team-a": "admin", "team-b": "editor"}


def test_platform_admins_are_admins_everywhere(platform_admin, tenants):
    assert roles_by_tenant(platform_admin) == {
        "team-a": "admin",
        "team-b": "admin",
        "team-c": "admin",
    }


def test_scoped_narrows_tenant_owned_rows_by_role(make_user, tenants):
    # Bindings are tenant-owned rows, like models and endpoints.
    user = make_user("bob", groups=["a", "b"])
    rows = scoped(TenantBinding.objects.all(), user, Role.EDITOR)
    assert sorted(rows.values_list("tenant__name", flat=True)) == ["team-b"]
    assert scoped(TenantBinding.objects.all(), make_user("eve"), Role.VIEWER).count() == 0


@pytest.mark.parametrize(
    ("method", "declared", "role"),
    [
        ("GET", None, Role.VIEWER),
        ("HEAD", None, Role.VIEWER),
        ("POST", None, Role.EDITOR),
        ("PATCH", None, Role.EDITOR),
        ("DELETE", {"DELETE": Role.ADMIN}, Role.ADMIN),
        ("GET", {"DELETE": Role.ADMIN}, Role.VIEWER),
    ],
)
def test_the_role_a_method_needs(method, declared, role):
    assert role_for_method(method, declared) == role
