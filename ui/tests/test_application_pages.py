"""The applications tab of the browser portal: tenant admins create applications and see each
new key once, rotate, revoke and delete; members read; strangers see nothing."""

import json
import re
from html import unescape

import pytest
from django.utils import timezone

from applications.models import ApiKey, Application, Plan
from endpoints.models import Endpoint, ServingTemplate
from gateway.access import authorize_application
from gateway.proxy import GatewayError
from tenants.models import Tenant, TenantBinding

pytestmark = pytest.mark.django_db

PAGE = "/ui/t/demo/applications/"
FORM = {"name": "scorer", "plan": "free", "endpoints": ["iris"]}


@pytest.fixture
def team(make_user, browser_for):
    """Tenant `demo` (endpoints iris and wine) with an admin and a viewer, a stranger from
    tenant `other`, and the plans `free` and `gold`."""
    demo = Tenant.objects.create(name="demo", scope="team")
    other = Tenant.objects.create(name="other", scope="others")
    TenantBinding.objects.create(tenant=demo, group="demo-admins", role="admin")
    TenantBinding.objects.create(tenant=demo, group="demo-viewers", role="viewer")
    TenantBinding.objects.create(tenant=other, group="others", role="admin")
    serving, _ = ServingTemplate.objects.get_or_create(name="mlserver")
    for tenant, name in ((demo, "iris"), (demo, "wine"), (other, "secret")):
        Endpoint.objects.create(
            tenant=tenant, name=name, model_name="m", serving=serving, subject_name="client"
        )
    Plan.objects.create(name="free", requests_per_minute=60)
    Plan.objects.create(name="gold", requests_per_minute=6000, tokens_per_minute=100000)
    return {
        "admin": browser_for(make_user("ada", groups=["demo-admins"])),
        "viewer": browser_for(make_user("vic", groups=["demo-viewers"])),
        "stranger": browser_for(make_user("olga", groups=["others"])),
    }


def messages_of(response):
    return [str(message) for message in response.context["messages"]]


def shown_key(response):
    """The key in the page's shown-once box, or None."""
    found = re.search(
        r'<code class="secret" id="issued-key">([^<]+)</code>', response.content.decode()
    )
    return found and found.group(1)


def stored_for_quickstart(response):
    found = re.search(
        r'<script id="issued-key-storage" type="application/json">(.+?)</script>',
        response.content.decode(),
    )
    return json.loads(found.group(1))


def test_the_plans_are_offered_with_their_limits(team):
    page = unescape(team["admin"].get(PAGE).content.decode())
    assert "free — 60 requests/min" in page
    assert "gold — 6,000 requests/min · 100,000 tokens/min" in page
    assert 'value="iris"' in page and 'value="wine"' in page
    assert "secret" not in page  # another tenant's endpoint


def test_creating_an_application_shows_its_key_once_and_the_key_works(team):
    admin = team["admin"]
    response = admin.post(PAGE, {**FORM, "endpoints": ["iris", "wine"], "expiresInDays": "30"})
    assert response.status_code == 200
    assert messages_of(response) == ["Application scorer created."]
    assert "no-store" in response["Cache-Control"]
    key = shown_key(response)
    assert key.startswith("mpk_")

    grant = authorize_application(key, "demo")
    assert grant.application == "scorer"
    assert grant.endpoints == {"iris", "wine"}
    assert grant.limits.requests_per_minute == 60
    row = ApiKey.objects.get()
    assert (timezone.now() + timezone.timedelta(days=29)) < row.expires_at

    assert stored_for_quickstart(response) == {
        "name": "modelport-key:demo/scorer",
        "value": {"key": key, "endpoints": ["demo/iris", "demo/wine"]},
    }
    assert key not in str(dict(admin.session))
    listed = admin.get(PAGE).content.decode()
    assert key not in listed
    assert f"<code>{key[:12]}…</code>" in listed
    assert shown_key(admin.get(PAGE)) is None


@pytest.mark.parametrize(
    ("change", "message", "field"),
    [
        ({"plan": "platinum"}, "there is no plan called 'platinum'", "plan"),
        ({"name": "Not A Label"}, "An application name is 1 to 63", "name"),
        ({"endpoints": []}, "endpoints", "endpoints"),
        ({"endpoints": ["secret"]}, "tenant 'demo' has no endpoint called 'secret'", "endpoints"),
        ({"expiresInDays": "0"}, "expiresInDays", "expiresInDays"),
        ({"expiresInDays": "soon"}, "expiresInDays", "expiresInDays"),
    ],
)
def test_bad_input_is_a_message_beside_the_field_and_nothing_is_created(
    team, change, message, field
):
    response = team["admin"].post(PAGE, {**FORM, **change})
    assert response.status_code == 200
    assert message in " ".join(messages_of(response))
    assert field in response.context["fields"]
    assert shown_key(response) is None
    assert response.context["form"]["name"] == {**FORM, **change}["name"]
    assert not Application.objects.exists()


def test_a_taken_name_is_a_message_and_the_first_key_keeps_working(team):
    key = shown_key(team["admin"].post(PAGE, FORM))
    response = team["admin"].post(PAGE, FORM)
    assert messages_of(response) == ["Tenant 'demo' already has an application called 'scorer'."]
    assert response.context["fields"] == {"name": ["Already taken."]}
    assert Application.objects.count() == 1
    assert authorize_application(key, "demo").application == "scorer"


def test_rotating_shows_the_new_key_once_and_the_old_one_works_for_the_grace(team):
    admin = team["admin"]
    old = shown_key(admin.post(PAGE, FORM))
    response = admin.post(
        PAGE + "scorer/rotate",
        {"graceSeconds": "600", "expiresInDays": "", "newestKey": old[:12]},
    )
    assert response.status_code == 200
    assert messages_of(response) == ["New key issued for scorer."]
    new = shown_key(response)
    assert new.startswith("mpk_") and new != old
    assert stored_for_quickstart(response)["value"] == {"key": new, "endpoints": ["demo/iris"]}
    assert authorize_application(new, "demo").application == "scorer"
    assert authorize_application(old, "demo").application == "scorer"
    grace = ApiKey.objects.get(prefix=old[:12]).expires_at - timezone.now()
    assert timezone.timedelta(seconds=590) < grace <= timezone.timedelta(seconds=600)


def test_the_rotate_form_names_the_newest_key_and_sent_twice_rotates_once(team):
    admin = team["admin"]
    first = shown_key(admin.post(PAGE, FORM))
    page = admin.get(PAGE).content.decode()
    assert f'name="newestKey" value="{first[:12]}"' in page
    form = {"graceSeconds": "600", "newestKey": first[:12]}
    second = shown_key(admin.post(PAGE + "scorer/rotate", form))
    assert second

    again = admin.post(PAGE + "scorer/rotate", form, follow=True)
    assert shown_key(again) is None
    assert messages_of(again) == [
        "The keys of scorer changed since this page was loaded (was it reloaded?), so no key "
        "was rotated. Rotate again if another key is needed."
    ]
    assert ApiKey.objects.count() == 2
    assert authorize_application(second, "demo").application == "scorer"
    assert f'name="newestKey" value="{second[:12]}"' in admin.get(PAGE).content.decode()


def test_a_grace_over_seven_days_is_refused_with_the_apis_reason(team):
    admin = team["admin"]
    admin.post(PAGE, FORM)
    response = admin.post(PAGE + "scorer/rotate", {"graceSeconds": "700000"}, follow=True)
    assert "graceSeconds" in messages_of(response)[0]
    assert shown_key(response) is None
    assert ApiKey.objects.count() == 1


def test_revoking_stops_every_key_and_deleting_removes_the_application(team):
    admin = team["admin"]
    key = shown_key(admin.post(PAGE, FORM))
    response = admin.post(PAGE + "scorer/revoke", follow=True)
    assert response.redirect_chain[-1][0] == PAGE
    assert messages_of(response) == ["Every key of scorer is revoked; its calls now fail with 401."]
    with pytest.raises(GatewayError):
        authorize_application(key, "demo")
    assert "none: calls fail until the key is rotated" in response.content.decode()

    response = admin.post(PAGE + "scorer/delete", follow=True)
    assert messages_of(response) == ["Application scorer and its keys are deleted."]
    assert not Application.objects.exists() and not ApiKey.objects.exists()
    assert "No applications yet." in response.content.decode()


def test_members_see_the_list_but_cannot_change_it(team):
    team["admin"].post(PAGE, FORM)
    viewer = team["viewer"]
    page = viewer.get(PAGE).content.decode()
    assert "scorer" in page and "free" in page
    assert "Rotate key" not in page and "New application" not in page
    for url, data in (
        (PAGE, {**FORM, "name": "mine"}),
        (PAGE + "scorer/rotate", {}),
        (PAGE + "scorer/revoke", {}),
        (PAGE + "scorer/delete", {}),
    ):
        response = viewer.post(url, data)
        assert response.status_code == 403
        assert "You need the admin role in tenant 'demo'" in unescape(response.content.decode())
    assert Application.objects.count() == 1 and ApiKey.objects.usable().count() == 1


def test_strangers_get_404_and_learn_nothing(team):
    team["admin"].post(PAGE, FORM)
    stranger = team["stranger"]
    for response in (
        stranger.get(PAGE),
        stranger.post(PAGE, {**FORM, "name": "mine"}),
        stranger.post(PAGE + "scorer/revoke"),
        stranger.post(PAGE + "scorer/delete"),
    ):
        assert response.status_code == 404
        page = unescape(response.content.decode())
        assert "There is no tenant called 'demo'." in page and "scorer" not in page
    assert ApiKey.objects.usable().count() == 1


def test_an_unknown_application_is_a_404_page(team):
    response = team["admin"].post(PAGE + "ghost/rotate")
    assert response.status_code == 404
    assert "Tenant 'demo' has no application called 'ghost'." in unescape(response.content.decode())


def test_the_list_takes_the_same_queries_for_one_or_many(team, django_assert_max_num_queries):
    for name in ("a1", "a2", "a3", "a4"):
        team["admin"].post(PAGE, {**FORM, "name": name})
    # Session, user, tenant, role checks, then applications with endpoints and keys, plans and
    # endpoints for the form.
    with django_assert_max_num_queries(10):
        page = team["admin"].get(PAGE).content.decode()
    assert all(name in page for name in ("a1", "a2", "a3", "a4"))
