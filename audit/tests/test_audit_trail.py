"""The audit trail: every change, through every door, with who, what, when, the request and the
values before and after; never a secret; in the change's transaction; never edited; and read by
the people allowed to."""

import json
from datetime import timedelta

import pytest
from django.db import DatabaseError
from django.utils import timezone

from applications.models import Plan
from applications.services import create_application, rotate_key
from audit.models import AuditRecord, ImmutableRecord
from audit.services import purge_expired
from core import audit
from tenants import services as tenant_services
from tenants.models import Tenant, TenantBinding

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(make_user, client_for):
    """Tenant team-a with an admin (ada), an editor (ed); tenant team-b with its own admin."""
    tenant = Tenant.objects.create(name="team-a", scope="team-a-users")
    TenantBinding.objects.create(tenant=tenant, group="team-a-admins", role="admin")
    TenantBinding.objects.create(tenant=tenant, group="team-a-users", role="editor")
    other = Tenant.objects.create(name="team-b", scope="team-b-users")
    TenantBinding.objects.create(tenant=other, group="team-b-admins", role="admin")
    ada = make_user("ada", groups=["team-a-admins"])
    return {
        "tenant": tenant,
        "ada": ada,
        "admin": client_for(ada),
        "editor": client_for(make_user("ed", groups=["team-a-users"])),
        "other_admin": client_for(make_user("bea", groups=["team-b-admins"])),
    }


def test_a_change_through_the_api_records_who_what_and_the_values(team):
    response = team["admin"].post(
        "/tenants/team-a/bindings",
        {"group": "auditors", "role": "viewer"},
        format="json",
        HTTP_X_REQUEST_ID="req-5e1f",
    )
    assert response.status_code == 201, response.json()
    assert response["X-Request-ID"] == "req-5e1f"
    record = AuditRecord.objects.get(kind="binding")
    assert record.request_id == "req-5e1f"
    assert (record.actor, record.actor_kind, record.door) == ("ada", "user", "api")
    assert (record.action, record.tenant, record.name) == ("bind", "team-a", "auditors")
    assert record.changes == {"role": {"before": None, "after": "viewer"}}


def test_a_platform_change_through_the_api_has_no_tenant(admin_api):
    response = admin_api.post(
        "/tenants", {"name": "new-team", "scope": "new-team-users"}, format="json"
    )
    assert response.status_code == 201
    created = AuditRecord.objects.get(kind="tenant")
    assert (created.action, created.actor, created.tenant) == ("create", "alice", "new-team")
    assert created.changes["scope"] == {"before": None, "after": "new-team-users"}
    # The scope group's binding, made with the tenant, is a record of its own.
    assert AuditRecord.objects.get(kind="binding").name == "new-team-users"


def test_the_portal_and_the_admin_site_are_doors_of_their_own(team, browser_for, make_user, client):
    page = browser_for(team["ada"])
    page.post("/ui/t/team-a/settings/bindings", {"group": "ops", "role": "viewer"})
    assert AuditRecord.objects.get(name="ops").door == "portal"

    root = make_user("root", superuser=True)
    root.is_staff = True
    root.save()
    client.force_login(root)
    plan = Plan.objects.create(name="gold", requests_per_minute=10)
    response = client.post(
        f"/admin/applications/plan/{plan.pk}/change/",
        {"name": "gold", "description": "", "requests_per_minute": "20", "currency": "USD"},
    )
    assert response.status_code == 302
    changed = AuditRecord.objects.get(kind="plan")
    assert (changed.action, changed.actor, changed.door) == ("change", "root", "admin")
    assert changed.changes == {"requests_per_minute": {"before": 10, "after": 20}}


def test_keys_are_recorded_by_their_prefix_never_by_their_value(team):
    plan = Plan.objects.create(name="free")
    application, key = create_application(
        tenant=team["tenant"], name="shop", plan=plan, endpoints=[], created_by=team["ada"]
    )
    new_key = rotate_key(application)
    trail = json.dumps(list(AuditRecord.objects.values("changes")))
    assert key not in trail and new_key not in trail
    assert key[:12] in trail and new_key[:12] in trail
    rotated = AuditRecord.objects.get(action="rotate")
    assert rotated.actor == "system" and rotated.door == "command"  # no request: a shell, say


def test_no_change_without_its_record(team):
    def broken(**kwargs):
        raise DatabaseError("the audit table is unwritable")

    audit.changed.connect(broken, dispatch_uid="test-broken")
    try:
        with pytest.raises(DatabaseError):
            tenant_services.bind_group(team["tenant"], group="auditors", role="viewer")
    finally:
        audit.changed.disconnect(dispatch_uid="test-broken")
    assert not TenantBinding.objects.filter(group="auditors").exists()
    assert not AuditRecord.objects.filter(name="auditors").exists()


def test_records_cannot_be_changed_or_deleted(team):
    tenant_services.bind_group(team["tenant"], group="auditors", role="viewer")
    record = AuditRecord.objects.get()
    record.actor = "someone else"
    for attempt in (
        record.save,
        record.delete,
        lambda: AuditRecord.objects.update(actor="x"),
        lambda: AuditRecord.objects.all().delete(),
    ):
        with pytest.raises(ImmutableRecord):
            attempt()
    assert AuditRecord.objects.get().actor == "system"


def test_the_admin_site_shows_records_and_changes_none(team, client, make_user):
    tenant_services.bind_group(team["tenant"], group="auditors", role="viewer")
    root = make_user("root", superuser=True)
    root.is_staff = True
    root.save()
    client.force_login(root)
    record = AuditRecord.objects.get()
    page = client.get(f"/admin/audit/auditrecord/{record.pk}/change/")
    assert page.status_code == 200 and "auditors" in page.content.decode()
    client.post(f"/admin/audit/auditrecord/{record.pk}/change/", {"actor": "x"})
    client.post(f"/admin/audit/auditrecord/{record.pk}/delete/", {"post": "yes"})
    assert client.get("/admin/audit/auditrecord/add/").status_code == 403
    assert AuditRecord.objects.get().actor == "system"


def test_retention_removes_only_old_records(team, settings):
    settings.MODELPORT_AUDIT_RETENTION_DAYS = 30
    now = timezone.now()
    for days, name in ((31, "old"), (29, "recent")):
        AuditRecord.objects.create(
            time=now - timedelta(days=days),
            actor_kind="system",
            actor="system",
            door="command",
            action="bind",
            kind="binding",
            tenant="team-a",
            name=name,
        )
    assert purge_expired(now=now) == 1
    assert list(AuditRecord.objects.values_list("name", flat=True)) == ["recent"]


# --- Reading the trail -------------------------------------------------------------------------


def test_tenant_admins_read_their_tenants_trail_newest_first(team):
    for group in ("one", "two", "three"):
        tenant_services.bind_group(team["tenant"], group=group, role="viewer")
    other = Tenant.objects.get(name="team-b")
    tenant_services.bind_group(other, group="theirs", role="viewer")
    body = team["admin"].get("/tenants/team-a/audit").json()
    assert [r["name"] for r in body["data"]["records"]] == ["three", "two", "one"]
    assert body["pagination"]["count"] == 3
    first = body["data"]["records"][0]
    assert first["actorKind"] == "system" and first["kind"] == "binding"
    assert first["time"].endswith("Z")
    page = team["admin"].get("/tenants/team-a/audit?page_size=2&page=2").json()
    assert [r["name"] for r in page["data"]["records"]] == ["one"]


def test_the_trail_is_filtered_by_kind_action_actor_and_time(team):
    tenant_services.bind_group(team["tenant"], group="one", role="viewer")
    tenant_services.unbind_group(team["tenant"], group="one")
    api = team["admin"]
    names = lambda query: [  # noqa: E731
        (r["action"], r["name"])
        for r in api.get(f"/tenants/team-a/audit?{query}").json()["data"]["records"]
    ]
    assert names("action=unbind") == [("unbind", "one")]
    assert names("kind=tenant") == []
    assert names("actor=system&kind=binding") == [("unbind", "one"), ("bind", "one")]
    later = (timezone.now() + timedelta(minutes=1)).isoformat()
    assert names(f"since={later.replace('+', '%2B')}") == []
    bad = api.get("/tenants/team-a/audit?since=yesterday")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_time"


def test_the_trail_is_exported_as_json_lines(team):
    for group in ("one", "two"):
        tenant_services.bind_group(team["tenant"], group=group, role="viewer")
    response = team["admin"].get("/tenants/team-a/audit/export", HTTP_ACCEPT="application/x-ndjson")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/x-ndjson"
    assert 'filename="audit-team-a.jsonl"' in response["Content-Disposition"]
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert [json.loads(line)["name"] for line in lines] == ["two", "one"]


def test_editors_may_not_read_the_trail_and_strangers_do_not_see_the_tenant(team):
    refused = team["editor"].get("/tenants/team-a/audit")
    assert refused.status_code == 403
    hidden = team["other_admin"].get("/tenants/team-a/audit")
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "tenant_not_found"
    assert team["editor"].get("/tenants/team-a/audit/export").status_code == 403
    assert team["other_admin"].get("/tenants/team-a/audit/export").status_code == 404


def test_platform_admins_read_everyones_trail(team, admin_api):
    tenant_services.bind_group(team["tenant"], group="one", role="viewer")
    tenant_services.bind_group(Tenant.objects.get(name="team-b"), group="two", role="viewer")
    every = admin_api.get("/audit").json()["data"]["records"]
    assert {r["tenant"] for r in every} == {"team-a", "team-b"}
    only = admin_api.get("/audit?tenant=team-b").json()["data"]["records"]
    assert [r["name"] for r in only] == ["two"]
    assert team["admin"].get("/audit").status_code == 403
    assert team["admin"].get("/audit/export").status_code == 403
    lines = b"".join(admin_api.get("/audit/export?tenant=team-a").streaming_content).splitlines()
    assert [json.loads(line)["name"] for line in lines] == ["one"]


def test_a_binding_added_in_the_admin_site_reads_as_one_added_through_the_api(
    team, client, make_user
):
    root = make_user("root", superuser=True)
    root.is_staff = True
    root.save()
    client.force_login(root)
    tenant = team["tenant"]
    bindings = list(tenant.bindings.order_by("pk"))
    form = {
        "scope": tenant.scope,
        "ca_cert": "",
        "quota": "{}",
        "bindings-TOTAL_FORMS": str(len(bindings) + 1),
        "bindings-INITIAL_FORMS": str(len(bindings)),
    }
    for i, binding in enumerate(bindings):
        form |= {
            f"bindings-{i}-id": str(binding.pk),
            f"bindings-{i}-tenant": str(tenant.pk),
            f"bindings-{i}-group": binding.group,
            f"bindings-{i}-role": binding.role,
        }
    n = len(bindings)
    form |= {
        f"bindings-{n}-tenant": str(tenant.pk),
        f"bindings-{n}-group": "auditors",
        f"bindings-{n}-role": "viewer",
    }
    response = client.post(f"/admin/tenants/tenant/{tenant.pk}/change/", form)
    assert response.status_code == 302
    record = AuditRecord.objects.get(name="auditors")
    assert (record.action, record.kind, record.tenant) == ("bind", "binding", "team-a")
    assert (record.actor, record.door) == ("root", "admin")
    assert record.changes["role"] == {"before": None, "after": "viewer"}


def test_an_offset_the_database_refuses_is_read_in_utc(team):
    # PostgreSQL refuses offsets past 15:59, which ISO 8601 allows.
    response = team["admin"].get("/tenants/team-a/audit?since=2605-01-02T12:52:03-23:55")
    assert response.status_code == 200
    early = team["admin"].get("/tenants/team-a/audit?until=0001-01-01T00:10:00%2B09:00")
    assert early.status_code == 400 and early.json()["error"]["code"] == "invalid_time"


def http_requests(route, method):
    """Django's answers (2xx or a redirect) counted for `route` in this process's metrics."""
    from prometheus_client import REGISTRY

    return sum(
        REGISTRY.get_sample_value(
            "modelport_http_requests_total",
            {"route": route, "method": method, "status_class": status},
        )
        or 0
        for status in ("2xx", "3xx")
    )


def test_a_change_through_each_door_has_one_request_id_in_the_trail_the_logs_and_metrics(
    team, client_for, browser_for, make_user, client, caplog
):
    from cli.client import USER_AGENT

    root = make_user("root", superuser=True)
    root.is_staff = True
    root.save()
    client.force_login(root)
    plan = Plan.objects.create(name="gold", requests_per_minute=10)
    cli = client_for(team["ada"])
    doors = {
        "api": (
            "/tenants/<str:tenant>/bindings",
            "POST",
            lambda rid: team["admin"].post(
                "/tenants/team-a/bindings",
                {"group": "via-api", "role": "viewer"},
                format="json",
                HTTP_X_REQUEST_ID=rid,
            ),
        ),
        "cli": (
            "/tenants/<str:tenant>/bindings",
            "POST",
            lambda rid: cli.post(
                "/tenants/team-a/bindings",
                {"group": "via-cli", "role": "viewer"},
                format="json",
                HTTP_X_REQUEST_ID=rid,
                HTTP_USER_AGENT=USER_AGENT,
            ),
        ),
        "portal": (
            "/ui/t/<str:tenant>/settings/bindings",
            "POST",
            lambda rid: browser_for(team["ada"]).post(
                "/ui/t/team-a/settings/bindings",
                {"group": "via-portal", "role": "viewer"},
                HTTP_X_REQUEST_ID=rid,
            ),
        ),
        "admin": (
            "/admin/applications/plan/<path:object_id>/change/",
            "POST",
            lambda rid: client.post(
                f"/admin/applications/plan/{plan.pk}/change/",
                {"name": "gold", "description": "", "requests_per_minute": "20", "currency": "USD"},
                HTTP_X_REQUEST_ID=rid,
            ),
        ),
    }
    caplog.set_level("INFO", logger="audit")
    for door, (route, method, change) in doors.items():
        rid = f"door-{door}-7c1e"
        before = http_requests(route, method)
        response = change(rid)
        assert response["X-Request-ID"] == rid, door
        [record] = AuditRecord.objects.filter(request_id=rid)
        assert record.door == door
        logged = [r for r in caplog.records if r.name == "audit.services"]
        assert any(r.request_id == rid and f"through {door}" in r.getMessage() for r in logged)
        assert http_requests(route, method) == before + 1, door
