"""Plans, a tenant's applications and their API keys, and the usage API, through the
management API as the CLI and the portal call it."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from applications.models import ApiKey, Application, Plan
from endpoints.models import Endpoint, ServingTemplate
from gateway.limits import NANO, plan_limits
from gateway.models import UsageMinute
from identity.models import hash_token
from tenants.models import Tenant, TenantBinding

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(make_user, client_for):
    """Tenant `demo` (endpoints iris and wine) with an admin and a viewer; tenant `other` with
    an endpoint and an admin of its own; a plan `free`."""
    demo = Tenant.objects.create(name="demo", scope="team")
    other = Tenant.objects.create(name="other", scope="others")
    for tenant, group, role in (
        (demo, "demo-admins", "admin"),
        (demo, "demo-viewers", "viewer"),
        (other, "others", "admin"),
    ):
        TenantBinding.objects.create(tenant=tenant, group=group, role=role)
    serving, _ = ServingTemplate.objects.get_or_create(name="mlserver")
    for tenant, name in ((demo, "iris"), (demo, "wine"), (other, "secret")):
        Endpoint.objects.create(
            tenant=tenant, name=name, model_name="m", serving=serving, subject_name="client"
        )
    Plan.objects.create(name="free", requests_per_minute=60)
    return {
        "admin": client_for(make_user("ada", groups=["demo-admins"])),
        "viewer": client_for(make_user("vic", groups=["demo-viewers"])),
        "stranger": client_for(make_user("olga", groups=["others"])),
        "demo": demo,
    }


def create(api, **body):
    body = {"name": "scorer", "plan": "free", "endpoints": ["iris"], **body}
    return api.post("/tenants/demo/applications", body, format="json")


# --- Plans ----------------------------------------------------------------------------------


def test_anyone_signed_in_lists_the_plans(team):
    response = team["viewer"].get("/plans")
    assert response.status_code == 200
    assert response.json()["data"]["plans"] == [
        {
            "name": "free",
            "description": "",
            "requestsPerMinute": 60,
            "requestsPerDay": None,
            "concurrentRequests": None,
            "tokensPerMinute": None,
            "tokensPerDay": None,
            "tokensPerMonth": None,
            "maxTokensPerCall": None,
            "currency": "USD",
            "promptPricePer1k": None,
            "completionPricePer1k": None,
            "spendPerMonth": None,
        }
    ]


def test_platform_admins_create_plans_with_null_meaning_unlimited(admin_api):
    response = admin_api.post(
        "/plans",
        {"name": "gold", "requestsPerMinute": 600, "tokensPerMinute": None},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["status"] == "CREATED"
    plan = Plan.objects.get(name="gold")
    assert (plan.requests_per_minute, plan.requests_per_day, plan.tokens_per_minute) == (
        600,
        None,
        None,
    )


def test_a_plan_sets_token_budgets_and_prices(admin_api):
    body = {
        "name": "llm",
        "tokensPerDay": 100000,
        "tokensPerMonth": 2000000,
        "maxTokensPerCall": 512,
        "currency": "EUR",
        "promptPricePer1k": "0.0005",
        "completionPricePer1k": "0.0015",
        "spendPerMonth": "25.00",
    }
    response = admin_api.post("/plans", body, format="json")
    assert response.status_code == 201
    item = response.json()["data"]
    assert {k: item[k] for k in body} == {
        **body,
        "promptPricePer1k": "0.000500",
        "completionPricePer1k": "0.001500",
    }
    plan = Plan.objects.get(name="llm")
    assert plan_limits(plan).spend_per_month == 25 * NANO
    assert plan_limits(plan).completion_price == 1500  # 0.0015 per 1,000 tokens, in NANO


def test_a_spend_limit_without_a_price_is_a_400(admin_api):
    response = admin_api.post("/plans", {"name": "llm", "spendPerMonth": "10"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "spend_without_price"
    assert not Plan.objects.filter(name="llm").exists()


def test_only_platform_admins_create_plans(team):
    response = team["admin"].post("/plans", {"name": "gold"}, format="json")
    assert response.status_code == 403
    assert not Plan.objects.filter(name="gold").exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "gold", "requestsPerMinute": 0}, "requestsPerMinute"),
        ({"name": "gold", "requestsPerDay": "lots"}, "requestsPerDay"),
        ({"name": "Gold Plan"}, "name"),
        ({"name": "gold", "burst": 3}, "burst"),
        ({"name": "gold", "currency": "euro"}, "currency"),
        ({"name": "gold", "promptPricePer1k": "-1"}, "promptPricePer1k"),
        ({"name": "gold", "tokensPerMonth": 0}, "tokensPerMonth"),
    ],
)
def test_a_bad_plan_gets_400_naming_the_field(admin_api, body, field):
    response = admin_api.post("/plans", body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_a_second_plan_with_the_same_name_gets_409(admin_api):
    Plan.objects.create(name="gold")
    response = admin_api.post("/plans", {"name": "gold"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "plan_exists"


# --- Applications ---------------------------------------------------------------------------


def test_creating_an_application_shows_its_key_once_and_stores_only_a_hash(team):
    response = create(team["admin"], endpoints=["iris", "wine"], expiresInDays=30)
    assert response.status_code == 201
    data = response.json()["data"]
    assert data["name"] == "scorer" and data["plan"] == "free"
    assert data["endpoints"] == ["iris", "wine"]
    assert data["key"].startswith("mpk_") and len(data["key"]) > 40
    key = ApiKey.objects.get()
    assert key.key_hash == hash_token(data["key"])
    assert data["key"] not in str(ApiKey.objects.values_list())
    assert timezone.now() + timedelta(days=29) < key.expires_at < timezone.now() + timedelta(31)

    listed = team["viewer"].get("/tenants/demo/applications").json()["data"]["applications"]
    assert data["key"] not in str(listed)
    assert listed[0]["keys"][0]["prefix"] == data["key"][:12]
    assert listed[0]["keys"][0]["expiresAt"].startswith(str(key.expires_at.year))


def test_one_application_in_detail(team):
    create(team["admin"])
    response = team["viewer"].get("/tenants/demo/applications/scorer")
    assert response.status_code == 200
    data = response.json()["data"]
    assert (data["name"], data["plan"], data["endpoints"]) == ("scorer", "free", ["iris"])
    assert len(data["keys"]) == 1 and data["keys"][0]["expiresAt"] is None


def test_listing_applications_takes_the_same_queries_for_one_or_many(
    team, django_assert_max_num_queries
):
    for name in ("a1", "a2", "a3", "a4"):
        create(team["admin"], name=name)
    # Authentication, the tenant and the role, the count, the page and its two prefetches.
    with django_assert_max_num_queries(9):
        response = team["viewer"].get("/tenants/demo/applications")
    assert [a["name"] for a in response.json()["data"]["applications"]] == [
        "a1",
        "a2",
        "a3",
        "a4",
    ]


def test_an_unknown_plan_gets_400_naming_the_plan_field(team):
    response = create(team["admin"], plan="platinum")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_plan"
    assert "plan" in response.json()["error"]["fields"]


@pytest.mark.parametrize("endpoint", ["nope", "secret"])
def test_an_unknown_or_another_tenants_endpoint_gets_400(team, endpoint):
    response = create(team["admin"], endpoints=["iris", endpoint])
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unknown_endpoint"
    assert endpoint in response.json()["error"]["fields"]["endpoints"][0]
    assert not Application.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Not A Label"}, "name"),
        ({"endpoints": []}, "endpoints"),
        ({"expiresInDays": 0}, "expiresInDays"),
        ({"key": "mpk_mine"}, "key"),
    ],
)
def test_a_bad_application_gets_400_naming_the_field(team, body, field):
    response = create(team["admin"], **body)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]


def test_a_second_application_with_the_same_name_gets_409(team):
    create(team["admin"])
    response = create(team["admin"])
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "application_exists"


def test_viewers_cannot_create_rotate_revoke_or_delete(team):
    create(team["admin"])
    viewer = team["viewer"]
    assert create(viewer, name="mine").status_code == 403
    assert viewer.post("/tenants/demo/applications/scorer/rotate").status_code == 403
    assert viewer.post("/tenants/demo/applications/scorer/revoke").status_code == 403
    response = viewer.delete("/tenants/demo/applications", {"name": "scorer"}, format="json")
    assert response.status_code == 403
    assert ApiKey.objects.usable().count() == 1


def test_another_tenants_applications_are_a_404(team):
    create(team["admin"])
    stranger = team["stranger"]
    for response in (
        stranger.get("/tenants/demo/applications"),
        stranger.get("/tenants/demo/applications/scorer"),
        stranger.post("/tenants/demo/applications/scorer/revoke"),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "tenant_not_found"


def test_rotating_issues_a_new_key_and_the_old_one_expires_after_the_grace(team):
    old = create(team["admin"]).json()["data"]["key"]
    response = team["admin"].post(
        "/tenants/demo/applications/scorer/rotate", {"graceSeconds": 600}, format="json"
    )
    assert response.status_code == 201
    new = response.json()["data"]["key"]
    assert new.startswith("mpk_") and new != old
    old_row = ApiKey.objects.get(key_hash=hash_token(old))
    expected = timezone.now() + timedelta(seconds=600)
    assert abs((old_row.expires_at - expected).total_seconds()) < 5
    assert ApiKey.objects.get(key_hash=hash_token(new)).expires_at is None
    detail = team["admin"].get("/tenants/demo/applications/scorer").json()["data"]
    assert len(detail["keys"]) == 2


def test_rotation_without_a_body_gives_an_hour_of_grace(team):
    old = create(team["admin"]).json()["data"]["key"]
    team["admin"].post("/tenants/demo/applications/scorer/rotate")
    remaining = ApiKey.objects.get(key_hash=hash_token(old)).expires_at - timezone.now()
    assert timedelta(minutes=59) < remaining <= timedelta(hours=1)


def test_a_grace_over_seven_days_gets_400(team):
    create(team["admin"])
    response = team["admin"].post(
        "/tenants/demo/applications/scorer/rotate",
        {"graceSeconds": 7 * 86400 + 1},
        format="json",
    )
    assert response.status_code == 400
    assert "graceSeconds" in response.json()["error"]["fields"]


def test_revoking_stops_every_key_now(team):
    create(team["admin"])
    team["admin"].post("/tenants/demo/applications/scorer/rotate")
    response = team["admin"].post("/tenants/demo/applications/scorer/revoke")
    assert response.json() == {"status": "OK", "data": {"name": "scorer", "revokedKeys": 2}}
    assert not ApiKey.objects.usable().exists()
    assert team["admin"].get("/tenants/demo/applications/scorer").json()["data"]["keys"] == []


def test_deleting_an_application_removes_it_and_its_keys(team):
    create(team["admin"])
    response = team["admin"].delete("/tenants/demo/applications", {"name": "scorer"}, format="json")
    assert response.json() == {"status": "DELETED", "data": {"name": "scorer"}}
    assert not ApiKey.objects.exists()
    missing = team["admin"].get("/tenants/demo/applications/scorer")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "application_not_found"


# --- Usage ----------------------------------------------------------------------------------


def _minute(team, at, application="scorer", endpoint="iris", buckets=None, **counts):
    UsageMinute.objects.create(
        tenant=team["demo"],
        application=application,
        endpoint=endpoint,
        minute=at,
        latency_buckets=buckets or [0] * 10,
        **counts,
    )


def test_usage_is_summed_per_hour_with_latency_percentiles(team):
    noon = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    # 100 calls: 50 within 5 ms, 49 within 10-25 ms, 1 slower than 2.5 s.
    _minute(
        team,
        noon,
        requests=60,
        errors_4xx=2,
        tokens=100,
        prompt_tokens=30,
        completion_tokens=70,
        buckets=[10, 0, 49] + [0] * 6 + [1],
    )
    _minute(team, noon + timedelta(minutes=5), requests=40, errors_5xx=1, buckets=[40] + [0] * 9)
    _minute(team, noon + timedelta(hours=1), endpoint="wine", requests=3, buckets=[0, 3] + [0] * 8)
    response = team["viewer"].get(
        "/tenants/demo/usage",
        {"since": "2026-03-01T11:00:00Z", "until": "2026-03-01T14:00:00Z", "granularity": "hour"},
    )
    assert response.status_code == 200
    assert response.json()["data"]["series"] == [
        {
            "time": "2026-03-01T12:00:00Z",
            "requests": 100,
            "errors": 3,
            "p50_ms": 5.0,
            "p99_ms": 25.0,
            "tokens": 100,
            "prompt_tokens": 30,
            "completion_tokens": 70,
        },
        {
            "time": "2026-03-01T13:00:00Z",
            "requests": 3,
            "errors": 0,
            "p50_ms": 7.5,
            "p99_ms": 9.9,
            "tokens": 0,
            "prompt_tokens": 0,
            "completion_tokens": 0,
        },
    ]
    wine = team["viewer"].get(
        "/tenants/demo/usage",
        {"since": "2026-03-01T11:00:00Z", "until": "2026-03-01T14:00:00Z", "endpoint": "wine"},
    )
    assert [point["requests"] for point in wine.json()["data"]["series"]] == [3]


def test_usage_as_csv(team):
    _minute(team, datetime(2026, 3, 1, 12, 1, tzinfo=UTC), requests=4, buckets=[4] + [0] * 9)
    response = team["viewer"].get(
        "/tenants/demo/usage",
        {"since": "2026-03-01T12:00:00Z", "until": "2026-03-01T13:00:00Z", "format": "csv"},
    )
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response.content.decode().splitlines() == [
        "time,requests,errors,p50_ms,p99_ms,tokens,prompt_tokens,completion_tokens",
        "2026-03-01T12:00:00Z,4,0,2.5,5.0,0,0,0",
    ]


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"granularity": "week"}, "invalid_granularity"),
        ({"since": "yesterday"}, "invalid_time"),
        ({"since": "2026-03-02T00:00:00Z", "until": "2026-03-01T00:00:00Z"}, "invalid_range"),
        ({"since": "2026-01-01T00:00:00Z", "granularity": "minute"}, "range_too_large"),
        ({"format": "csv", "granularity": "x"}, "invalid_granularity"),
    ],
)
def test_a_bad_usage_query_gets_400_with_a_reason(team, query, code):
    response = team["viewer"].get("/tenants/demo/usage", {"until": "2026-03-01T00:00:00Z", **query})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code


def test_another_tenants_usage_is_a_404(team):
    response = team["stranger"].get("/tenants/demo/usage")
    assert response.status_code == 404


def add_in_the_admin_site(team, client, make_user, **changes):
    root = make_user("root", superuser=True)
    root.is_staff = True
    root.save()
    client.force_login(root)
    form = {
        "tenant": team["demo"].pk,
        "name": "sneaky",
        "plan": Plan.objects.get().pk,
        "endpoints": [Endpoint.objects.get(name="secret").pk],
        "keys-TOTAL_FORMS": 0,
        "keys-INITIAL_FORMS": 0,
    }
    return client.post("/admin/applications/application/add/", {**form, **changes})


def test_the_admin_site_refuses_another_tenants_endpoints(team, client, make_user):
    response = add_in_the_admin_site(team, client, make_user)
    assert response.status_code == 200  # the form again, with the error
    assert "its own tenant&#x27;s endpoints only" in response.content.decode()
    assert not Application.objects.exists()


def test_the_admin_site_refuses_a_name_the_api_would(team, client, make_user):
    response = add_in_the_admin_site(team, client, make_user, name="x'); alert(1); ('")
    assert response.status_code == 200
    assert "An application name is 1 to 63 lowercase letters" in response.content.decode()
    assert not Application.objects.exists()


def test_an_application_name_with_a_nul_character_is_not_found(team):
    # PostgreSQL refuses NUL in a query, which was a 500.
    response = team["admin"].get("/tenants/demo/applications/scorer%00")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "application_not_found"
