"""The portal as a new user meets it, in headless Chromium: sign in through the OpenID provider,
upload a model, create an endpoint, create an application, copy its key, call the endpoint
through the gateway with it, and see the call in the usage chart.

Everything is real: the portal and gateway are the ASGI application under uvicorn, storage is
the filesystem backend, the endpoint is an MLServer process started by the local orchestrator.
Tasks run eagerly in the server's threads; what beat does on a timer (status sync)
the test asks for when it needs it. Screenshots of the main pages go to the test's folder, and to
docs/screenshots/ when UPDATE_SCREENSHOTS=1 (`make screenshots`)."""

import os
import re
import shutil
from pathlib import Path

import pytest
import requests
from django.core.management import call_command

from applications.services import create_plan
from core.phase import Phase
from endpoints.tasks import sync_endpoint_status
from tenants import services as tenant_services
from tenants.models import Role, Tenant
from testinfra.fixtures import wait_until
from testinfra.models import IRIS_ROWS, train_iris, v2_request
from workers.backends.local import LocalOrchestrator

pytestmark = pytest.mark.django_db(transaction=True)

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture
def team(oidc, gateway_url, settings, platform_admin):
    """Tenant team-a, provisioned by the worker; bob (at the provider) is in its admin group;
    a platform admin has defined the plan `starter`."""
    call_command("seed_serving_templates")
    oidc.set_clients([f"{gateway_url}/oidc/callback/"])
    oidc.set_accounts(
        {
            "sub-bob": {
                "username": "bob",
                "password": "bob-password",
                "email": "bob@example.com",
                "groups": ["team-a-admins"],
            }
        }
    )
    tenant = tenant_services.create_tenant(
        name="team-a", scope="team-a-users", ca_cert="", quota={}, created_by=platform_admin
    )
    tenant_services.bind_group(tenant, group="team-a-admins", role=Role.ADMIN)
    wait_until(lambda: Tenant.objects.get(pk=tenant.pk).phase == Phase.READY, message="tenant")
    create_plan(name="starter", description="60 calls a minute", requests_per_minute=60)
    yield tenant
    LocalOrchestrator().runtime.stop_all()


@pytest.fixture
def shoot(page, tmp_path):
    """Saves a full-page screenshot under a name."""

    def take(name):
        path = tmp_path / f"{name}.png"
        page.screenshot(path=path, full_page=True)
        if os.environ.get("UPDATE_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, SCREENSHOTS / path.name)
        return path

    return take


def sync_status():
    """What beat does every few seconds: read the model servers' state into the endpoints."""
    sync_endpoint_status.apply().get()
    return True


def test_a_new_user_goes_from_sign_in_to_a_charted_call(page, gateway_url, team, shoot, tmp_path):
    page.set_default_timeout(30_000)
    # Signing in: the portal sends people to the provider and back.
    page.goto(f"{gateway_url}/ui/")
    page.get_by_role("link", name="Sign in with single sign-on").click()
    page.get_by_label("Username", exact=True).fill("bob")
    page.get_by_label("Password", exact=True).fill("bob-password")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{gateway_url}/ui/")
    assert page.get_by_role("heading", name="team-a").is_visible()

    # Upload a model from the Models tab: parts go straight to storage, with a progress bar.
    model = tmp_path / "model.joblib"
    expected = train_iris(model)
    page.get_by_role("link", name="team-a", exact=True).click()
    page.get_by_role("link", name="Models").click()
    page.get_by_label("Model name", exact=True).fill("iris")
    page.get_by_label("Version", exact=True).fill("1")
    page.get_by_label("Files", exact=True).set_input_files(model)
    page.get_by_role("button", name="Upload").click()
    page.locator("#version-iris-1").get_by_text("Ready").wait_for()
    assert page.eval_on_selector("#upload-overall", "bar => bar.value === bar.max")
    shoot("models")

    # Create an endpoint that serves it, and watch it become ready.
    page.get_by_role("link", name="Endpoints").click()
    page.get_by_role("link", name="New endpoint").click()
    page.get_by_label("Name", exact=True).fill("iris")
    page.get_by_label("Model", exact=True).fill("iris")
    page.get_by_label("Client certificate subject (CN)", exact=True).fill("client")
    page.get_by_role("button", name="Create endpoint").click()
    page.wait_for_url(f"{gateway_url}/ui/t/team-a/endpoints/iris/")
    assert "Endpoint iris created." in page.inner_text(".messages")
    wait_until(
        lambda: sync_status() and "Ready" in page.inner_text("#live-status"),
        timeout=120,
        message="the endpoint page to show Ready",
    )
    shoot("endpoint")

    # An application subscribed to the endpoint; its key is shown once.
    page.get_by_role("link", name="Applications").click()
    page.get_by_label("Name", exact=True).fill("web-shop")
    page.get_by_label("Plan", exact=True).select_option("starter")
    page.get_by_label("iris", exact=True).check()
    with page.expect_navigation(wait_until="load"):  # its script stores the key for the tab
        page.get_by_role("button", name="Create application and key").click()
    key = page.locator(".secret").inner_text().strip()
    assert re.fullmatch(r"mpk_\S+", key), key
    shoot("applications")

    # The endpoint page's quickstart now carries the key; the call it shows works.
    page.goto(f"{gateway_url}/ui/t/team-a/endpoints/iris/")
    snippet = page.inner_text("#snippet-curl")
    assert f"Bearer {key}" in snippet
    url = re.search(r"curl -s (\S+)", snippet).group(1)
    assert url == f"{gateway_url}/gateway/team-a/iris/v2/models/iris/infer"
    answer = requests.post(
        url, json=v2_request(IRIS_ROWS), headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"][0]["data"] == expected

    # The call is on the Usage tab at once: counters not yet flushed by beat are read live.
    # (The gateway counts a call as its answer ends, a moment after the client has it.)
    page.get_by_role("link", name="Usage").click()

    def call_shown():
        page.reload()
        return page.locator("#total-requests").count() == 1

    wait_until(call_shown, timeout=10, message="the call in the usage totals")
    assert page.inner_text("#total-requests") == "1"
    assert page.inner_text("#total-errors") == "0"
    assert page.locator("svg.chart .bar").count() >= 1
    shoot("usage")

    # The tenant's settings: its quota and who has which role.
    page.get_by_role("link", name="Settings").click()
    assert page.get_by_role("cell", name="team-a-admins").is_visible()
    shoot("settings")

    # Back on the catalogue, the endpoint is listed under its tenant.
    page.get_by_role("link", name="Catalogue").click()
    page.get_by_role("link", name="iris", exact=True).wait_for()
    shoot("catalogue")
    page.goto("about:blank")  # no poll in flight when the server stops
