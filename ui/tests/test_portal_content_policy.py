"""The portal's pages in a real browser (headless Chromium) under their Content-Security-Policy:
only the portal's own script files run (no inline script or handler, so text that slips past
escaping cannot become code), the pages still work, and nothing on them is refused."""

import pytest
from django.test import Client

from applications.models import Application, Plan
from endpoints.models import Endpoint, ServingTemplate
from models_store.models import ModelVersion
from tenants.models import Tenant, TenantBinding

pytestmark = pytest.mark.django_db(transaction=True)

PAGES = [
    "/ui/",
    "/ui/tenants/",
    "/ui/t/demo/",
    "/ui/t/demo/endpoints/new",
    "/ui/t/demo/endpoints/iris/",
    "/ui/t/demo/models/",
    "/ui/t/demo/applications/",
    "/ui/t/demo/usage/",
    "/ui/t/demo/settings/",
]


@pytest.fixture
def admin_page(page, live_server, platform_admin):
    """A platform admin signed in, and tenant demo with something on every tab."""
    demo = Tenant.objects.create(name="demo", scope="team", phase="Ready")
    TenantBinding.objects.create(tenant=demo, group="team", role="viewer")
    serving, _ = ServingTemplate.objects.get_or_create(name="mlserver")
    iris = Endpoint.objects.create(
        tenant=demo, name="iris", model_name="iris", serving=serving, subject_name="client"
    )
    ModelVersion.objects.create(tenant=demo, name="iris", version=1)
    application = Application.objects.create(
        tenant=demo, name="scorer", plan=Plan.objects.create(name="free")
    )
    application.endpoints.add(iris)
    client = Client()
    client.force_login(platform_admin)
    page.context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    refusals = []
    page.on(
        "console",
        lambda message: "Content Security Policy" in message.text and refusals.append(message.text),
    )
    page.refusals = refusals
    return page


def test_every_page_has_the_policy_and_nothing_on_it_is_refused(admin_page, live_server):
    page = admin_page
    for path in PAGES:
        response = page.goto(f"{live_server.url}{path}")
        assert response.status == 200, path
        policy = response.headers.get("content-security-policy", "")
        assert "script-src 'self'" in policy, path
        assert "frame-ancestors 'none'" in policy, path
        page.wait_for_load_state("networkidle")
    assert page.refusals == []


def test_an_inline_script_in_a_page_does_not_run(admin_page, live_server):
    page = admin_page
    page.goto(f"{live_server.url}/ui/")
    page.evaluate(
        """() => {
          const element = document.createElement("div");
          element.innerHTML = '<img src="x" onerror="document.title = \\'ran\\'">';
          document.body.append(element);
        }"""
    )
    page.wait_for_timeout(300)
    assert page.title() != "ran"
    assert page.refusals


def test_a_deletion_asks_first_and_cancelling_keeps_the_endpoint(admin_page, live_server):
    page = admin_page
    page.goto(f"{live_server.url}/ui/t/demo/endpoints/iris/")
    questions = []

    def answer(dialog, accept):
        questions.append(dialog.message)
        dialog.accept() if accept else dialog.dismiss()

    page.once("dialog", lambda dialog: answer(dialog, accept=False))
    page.get_by_role("button", name="Delete endpoint").click()
    page.wait_for_timeout(300)
    assert questions == ["Delete endpoint iris? Calls to it will fail."]
    assert page.url.endswith("/ui/t/demo/endpoints/iris/")
    assert Endpoint.objects.get(name="iris").deletion_requested_at is None

    page.once("dialog", lambda dialog: answer(dialog, accept=True))
    with page.expect_navigation():
        page.get_by_role("button", name="Delete endpoint").click()
    assert len(questions) == 2
    assert page.url.endswith("/ui/t/demo/")
    assert not Endpoint.objects.filter(name="iris", deletion_requested_at=None).exists()
