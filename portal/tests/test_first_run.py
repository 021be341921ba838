"""What `make run` sets up and says: the demo's token belongs to a demo user (an editor of the
demo tenant, for a limited time) and is never printed; the demo serves iris and the tiny-chat
language model unless told not to; the console ends with one summary; the portal has an icon, so
no browser's first request is a 404."""

import io
import re

import pytest
from django.core.management import call_command

from endpoints.models import Endpoint
from identity.models import PersonalAccessToken
from models_store.models import ModelVersion
from portal.management.commands.runembedded import summary
from tenants.access import is_platform_admin, roles_by_tenant

pytestmark = pytest.mark.django_db


def run(command, **options):
    out = io.StringIO()
    call_command(command, stdout=out, **options)
    return out.getvalue()


def test_the_demo_token_is_a_demo_editors_that_expires_and_is_never_printed(settings):
    settings.MODELPORT_DEMO_LLM = False  # tiny-chat has a test of its own
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


def test_the_demo_serves_tiny_chat_made_here_and_says_how_to_stream_from_it(settings):
    run("bootstrap")
    printed = run("seed_demo")
    assert "endpoints `iris` and `tiny-chat`" in printed
    [version] = ModelVersion.objects.filter(tenant__name="demo", name="tiny-chat")
    assert [(f.path, f.size > 500_000) for f in version.files.all()] == [("tiny-chat.gguf", True)]
    endpoint = Endpoint.objects.get(tenant__name="demo", name="tiny-chat")
    assert (endpoint.model_name, endpoint.version_policy) == ("tiny-chat", "{latest {}}")

    text = summary("127.0.0.1", 8000)
    assert 'base_url="http://127.0.0.1:8000/v1"' in text
    assert 'model="demo/tiny-chat"' in text and "stream=True" in text
    assert re.search(r'api_key=open\(".*demo-token"\)', text)
    raw = (settings.DATA_DIR / "demo-token").read_text().strip()
    assert raw not in text

    # Run again (every `make run` does): nothing new.
    run("seed_demo")
    assert ModelVersion.objects.filter(name="tiny-chat").count() == 1
    assert Endpoint.objects.filter(name="tiny-chat").count() == 1


def test_without_the_demo_llm_there_is_no_tiny_chat(settings):
    settings.MODELPORT_DEMO_LLM = False
    run("bootstrap")
    printed = run("seed_demo")
    assert "endpoint `iris`;" in printed
    assert not ModelVersion.objects.filter(name="tiny-chat").exists()
    assert "tiny-chat" not in summary("127.0.0.1", 8000)


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
