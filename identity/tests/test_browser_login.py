"""Browser login: headless Chromium (Playwright) against a live Django server and the real test
OpenID provider. The person signs in on the provider's page and lands in the portal with the
groups the provider says they have."""

import json
import re
import time

import pytest
from django.contrib.auth.models import User

from testinfra.identity import add_bob

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def provider(oidc, live_server, settings):
    settings.MODELPORT_PLATFORM_ADMIN_GROUPS = ["platform-admins"]
    oidc.set_clients([f"{live_server.url}/oidc/callback/"])
    return add_bob(oidc, role="editor")


def sign_in(page, live_server, password="bob-password"):  # noqa: S107 - a test account
    page.goto(f"{live_server.url}/oidc/authenticate/")
    page.get_by_label("Username").fill("bob")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def test_a_person_signs_in_at_the_provider_and_lands_in_the_portal(page, live_server, provider):
    sign_in(page, live_server)

    page.wait_for_url(f"{live_server.url}/ui/")
    assert "team-a" in page.content()
    user = User.objects.get(username="bob")
    assert list(user.groups.values_list("name", flat=True)) == ["team-a-users"]
    assert user.oidc_identity.last_login_at is not None

    # The session works for the API in the browser, too.
    page.goto(f"{live_server.url}/tenants/team-a?format=json")
    assert '"name":"team-a"' in page.content().replace(" ", "")


def test_groups_are_read_again_at_every_login(page, live_server, provider):
    sign_in(page, live_server)
    page.wait_for_url(f"{live_server.url}/ui/")
    provider.set_groups("sub-bob", ["platform-admins"])
    page.context.clear_cookies()

    sign_in(page, live_server)
    page.wait_for_url(f"{live_server.url}/ui/")
    user = User.objects.get(username="bob")
    assert list(user.groups.values_list("name", flat=True)) == ["platform-admins"]
    assert user.is_staff and user.is_superuser
    page.goto(f"{live_server.url}/admin/")
    assert page.get_by_role("link", name="Tenants").count() >= 1


def test_a_wrong_password_stays_at_the_provider(page, live_server, provider):
    sign_in(page, live_server, password="guess")
    assert page.get_by_role("alert").inner_text() == "Wrong username or password."
    assert not User.objects.filter(username="bob").exists()


def test_logging_out_ends_the_portal_session_and_the_providers(page, live_server, provider):
    sign_in(page, live_server)
    page.wait_for_url(f"{live_server.url}/ui/")
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="Yes, sign me out").click()
    page.wait_for_url(f"{live_server.url}/ui/login/?next=/ui/")

    assert page.goto(f"{live_server.url}/me?format=json").status in (401, 403)
    # The provider forgot the session too: the next login asks for the password again.
    page.goto(f"{live_server.url}/oidc/authenticate/")
    assert page.get_by_label("Password").is_visible()


def test_the_admin_site_login_keeps_working_for_local_accounts(page, live_server, provider):
    User.objects.create_superuser("breakglass", password="a-long-local-password")
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "breakglass")
    page.fill("#id_password", "a-long-local-password")
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(rf"{re.escape(live_server.url)}/admin/$"))
    assert "Site administration" in page.content()


@pytest.fixture
def short_recheck(settings):
    """Sessions go back to the provider after 5 s instead of 15 min."""
    settings.OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS = 5


def test_a_browser_session_loses_a_removed_group_at_the_next_recheck(
    page, live_server, provider, short_recheck
):
    sign_in(page, live_server)
    page.wait_for_url(f"{live_server.url}/ui/")
    provider.set_groups("sub-bob", [])
    time.sleep(5.5)

    # The next page load goes through the provider silently and comes back with fresh groups.
    page.goto(f"{live_server.url}/me?format=json")
    page.wait_for_url(f"{live_server.url}/me?format=json")
    data = json.loads(page.inner_text("body"))["data"]
    assert data["groups"] == []
    assert data["tenants"] == []


def test_a_browser_session_ends_when_the_providers_session_has_ended(
    page, live_server, provider, short_recheck
):
    sign_in(page, live_server)
    page.wait_for_url(f"{live_server.url}/ui/")
    page.context.clear_cookies(domain="127.0.0.1")  # the provider's session is gone
    time.sleep(5.5)

    page.goto(f"{live_server.url}/me?format=json")
    assert page.goto(f"{live_server.url}/me?format=json").status in (401, 403)
