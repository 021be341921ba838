"""The shown-once key in a real browser (headless Chromium): the applications page copies it
and hands it, through the tab's sessionStorage only, to the endpoint page's quickstart."""

import pytest

from applications.models import ApiKey, Plan
from endpoints.models import Endpoint, ServingTemplate
from tenants.models import Tenant, TenantBinding

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def signed_in(sign_in, make_user):
    demo = Tenant.objects.create(name="demo", scope="team")
    TenantBinding.objects.create(tenant=demo, group="demo-admins", role="admin")
    serving, _ = ServingTemplate.objects.get_or_create(name="mlserver")
    for name in ("iris", "wine"):
        Endpoint.objects.create(
            tenant=demo, name=name, model_name="m", serving=serving, subject_name="client"
        )
    Plan.objects.create(name="free", requests_per_minute=60)
    return sign_in(make_user("ada", groups=["demo-admins"]))


def create_scorer(page, live_server):
    """Creates application `scorer` for endpoint iris on the applications page; the key shown."""
    page.goto(f"{live_server.url}/ui/t/demo/applications/")
    page.get_by_label("Name").fill("scorer")
    page.get_by_label("iris").check()
    # Until the page has loaded, its script may not have run yet: wait for it, as a person
    # reading the key does.
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Create application and key").click()
    return page.locator("#issued-key").inner_text()


def test_a_new_key_is_copied_and_fills_the_quickstart_of_its_endpoints(signed_in, live_server):
    page = signed_in
    key = create_scorer(page, live_server)
    assert key.startswith("mpk_")
    page.get_by_role("button", name="Copy").click()
    # Headless Chromium has no clipboard permission: the key is selected for Ctrl+C instead.
    page.wait_for_function("document.getElementById('copy-status').textContent !== ''")
    status = page.locator("#copy-status").inner_text()
    if status != "Copied":
        assert status.startswith("Selected")
        assert page.evaluate("window.getSelection().toString()") == key

    page.goto(f"{live_server.url}/ui/t/demo/endpoints/iris/")
    assert page.locator("#quickstart-key").input_value() == key
    assert f"Bearer {key}" in page.locator("#snippet-curl").inner_text()
    page.goto(f"{live_server.url}/ui/t/demo/endpoints/wine/")
    assert page.locator("#quickstart-key").input_value() == ""


def test_reloading_the_page_that_showed_a_key_issues_no_other_key(signed_in, live_server):
    page = signed_in
    first = create_scorer(page, live_server)

    page.reload()
    assert page.url == f"{live_server.url}/ui/t/demo/applications/"
    assert page.locator("#issued-key").count() == 0
    assert page.locator(".message.error").count() == 0
    assert page.locator("code", has_text=first[:12]).count() == 1

    page.locator("summary", has_text="Manage").click()
    with page.expect_navigation(wait_until="load"):
        page.get_by_role("button", name="Rotate key").click()
    second = page.locator("#issued-key").inner_text()
    assert second != first
    page.reload()
    assert page.locator("#issued-key").count() == 0
    assert ApiKey.objects.filter(application__name="scorer").count() == 2
