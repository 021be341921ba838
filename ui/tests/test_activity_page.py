"""The Activity tab: a tenant's audit trail in the portal, for its admins."""

from html import unescape

import pytest

from tenants import services
from tenants.models import Tenant, TenantBinding

pytestmark = pytest.mark.django_db

PAGE = "/ui/t/team-a/activity/"


@pytest.fixture
def tenant():
    tenant = Tenant.objects.create(name="team-a", scope="team-a-users")
    TenantBinding.objects.create(tenant=tenant, group="team-a-admins", role="admin")
    TenantBinding.objects.create(tenant=tenant, group="team-a-users", role="editor")
    return tenant


def test_admins_see_who_changed_what_through_which_door(tenant, browser_for, make_user):
    admin = browser_for(make_user("ada", groups=["team-a-admins"]))
    admin.post("/ui/t/team-a/settings/bindings", {"group": "ops", "role": "viewer"})
    services.bind_group(tenant, group="ops", role="editor")  # a shell: the system, no door
    page = unescape(admin.get(PAGE).content.decode())
    assert 'aria-current="page">Activity</a>' in page
    assert "2 changes" in page
    rows = page.split("<tbody>")[1]
    assert rows.index("editor") < rows.index("ada")  # newest first
    assert "<td>portal</td>" in rows and "<code>role</code>: viewer → editor" in rows
    assert "/tenants/team-a/audit/export" in page


def test_the_list_is_filtered_by_kind(tenant, browser_for, make_user):
    admin = browser_for(make_user("ada", groups=["team-a-admins"]))
    services.bind_group(tenant, group="ops", role="viewer")
    assert "No changes recorded of this kind" in admin.get(PAGE + "?kind=endpoint").content.decode()
    assert "1 change" in admin.get(PAGE + "?kind=binding").content.decode()


def test_editors_have_no_activity_tab(tenant, browser_for, make_user):
    editor = browser_for(make_user("ed", groups=["team-a-users"]))
    assert ">Activity</a>" not in editor.get("/ui/t/team-a/").content.decode()
    assert editor.get(PAGE).status_code == 403
