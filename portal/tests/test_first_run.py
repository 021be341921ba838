"""What `make run` sets up and says: the demo's token belongs to a demo user (an editor of the
demo tenant, for a limited time) and is never printed; the console ends with one summary; the
portal has an icon, so no browser's first request is a 404."""

import io
import re

import pytest
from django.core.management import call_command

from identity.models import PersonalAccessToken
from portal.management.commands.runembedded import summary
from tenants.access import is_platform_admin, roles_by_tenant

pytestmark = pytest.mark.django_db


def run(command, **options):
    out = io.StringIO()
    call_command(command, stdout=out, **options)
    return out.getvalue()


def test_the_demo_token_is_a_demo_editors_that_expires_and_is_never_printed(settings):
    printed = run("bootstrap") + run("seed_demo")
    raw = (settings.DATA_DIR / "demo-token").read_text().strip()
    token = PersonalAccessToken.objects.get(prefix=raw[:12])
    assert token.user.username == "demo"
    assert token.expires_at is not None
    assert roles_by_tenant(token.user) == {"demo": "editor"}
    assert not is_platform_admin(token.user)

    shown = printed + summary("127.0.0.1", 8000)
    assert raw not in shown
    assert re.search(r"Authorization: \$\(cat .*demo-token\)", shown)
    # A second run keeps the token that still works.
    run("seed_demo")
    assert (settings.DATA_DIR / "demo-token").read_text().strip() == raw


def test_the_summary_says_where_everything_is_and_how_to_sign_in(settings):
    run("bootstrap")
    password = (settings.DATA_DIR / "admin-password").read_text().strip()
    text = summary("127.0.0.1", 8123)
    assert "http://127.0.0.1:8123/ui/" in text
    assert f"sign in as admin with password {password}" in text
    assert "/api/docs/" in text
    assert "/admin/" in text


def test_browsers_asking_for_an_icon_get_one(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("ui/favicon.svg")
