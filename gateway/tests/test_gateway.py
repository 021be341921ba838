"""The gateway, served by a real uvicorn server, in front of real MLServer replicas run by the
local runtime: predictions, who may call, and what a caller sees when things go wrong."""

import http.client
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from django.conf import settings
from django.contrib.auth.models import User
from django.test import override_settings

from endpoints.models import Endpoint, ServingTemplate
from identity.models import PersonalAccessToken
from tenants.models import Tenant, TenantBinding
from testinfra.fixtures import wait_until
from testinfra.identity import OTHER_CLIENT_ID
from testinfra.models import IRIS_ROWS, SKLEARN, train_iris, v2_request
from workers.backends.local import LocalOrchestrator
from workers.backends.local_runtime import ServedModel

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_gateway")]


@pytest.fixture(scope="module")
def model_servers(tmp_path_factory):
    """One MLServer replica of demo/iris for the whole module (starting one takes seconds),
    and demo/idle, an endpoint scaled to zero."""
    data_dir = tmp_path_factory.mktemp("data")
    path = data_dir / "model.joblib"
    expected = train_iris(path)
    with override_settings(DATA_DIR=data_dir):
        runtime = LocalOrchestrator().runtime
        runtime.ensure("demo/iris", [ServedModel("iris", "1", SKLEARN, str(path))], replicas=1)
        runtime.ensure("demo/idle", [ServedModel("iris", "1", SKLEARN, str(path))], replicas=0)
        wait_until(lambda: runtime.supervise("demo/iris").running == 1, timeout=60, message="ready")
    yield data_dir, expected
    runtime.stop("demo/iris")
    runtime.stop("demo/idle")


@pytest.fixture
def demo(make_user, model_servers, settings):
    """Tenant `demo` with the running endpoints, a member `bob` and a stranger `eve`."""
    settings.DATA_DIR = model_servers[0]
    tenant = Tenant.objects.create(name="demo", scope="team")
    TenantBinding.objects.create(tenant=tenant, group="team", role="viewer")
    other = Tenant.objects.create(name="other", scope="others")
    TenantBinding.objects.create(tenant=other, group="others", role="editor")
    # Transactional tests start with empty tables: the seeded templates are gone.
    serving, _ = ServingTemplate.objects.get_or_create(name="mlserver")
    for name, replicas in (("iris", 1), ("idle", 0)):
        Endpoint.objects.create(
            tenant=tenant,
            name=name,
            model_name="iris",
            serving=serving,
            subject_name="client",
            replicas=replicas,
        )
    return {
        "bob": PersonalAccessToken.issue(make_user("bob", groups=["team"]))[1],
        "eve": PersonalAccessToken.issue(make_user("eve", groups=["others"]))[1],
        "expected": model_servers[1],
    }


def infer(gateway_url, token, endpoint="iris", headers=(), **kwargs):
    headers = {**({"Authorization": token} if token else {}), **dict(headers)}
    return requests.post(
        f"{gateway_url}/gateway/demo/{endpoint}/v2/models/iris/infer",
        json=v2_request(IRIS_ROWS),
        headers=headers,
        timeout=30,
        **kwargs,
    )


def test_predictions_through_the_gateway_equal_the_models_own(gateway_url, demo):
    response = infer(gateway_url, demo["bob"])
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["data"] == demo["expected"]


def test_bearer_and_the_query_string_are_passed_along(gateway_url, demo):
    response = requests.get(
        f"{gateway_url}/gateway/demo/iris/v2/models/iris?verbose=1",
        headers={"Authorization": f"Bearer {demo['bob']}"},
        timeout=10,
    )
    assert response.status_code == 200
    assert response.json()["name"] == "iris"


@pytest.fixture
def portal_session(demo, client):
    """bob's portal session cookies (session and CSRF), and the CSRF token his pages carry."""
    client.force_login(User.objects.get(username="bob"))
    token = client.get("/ui/").cookies[settings.CSRF_COOKIE_NAME].value
    cookies = {
        settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value,
        settings.CSRF_COOKIE_NAME: token,
    }
    return cookies, token


def test_a_logged_in_portal_session_may_call(gateway_url, portal_session):
    cookies, token = portal_session
    response = infer(gateway_url, None, cookies=cookies, headers={"X-CSRFToken": token})
    assert response.status_code == 200
    metadata = requests.get(
        f"{gateway_url}/gateway/demo/iris/v2/models/iris", cookies=cookies, timeout=10
    )
    assert metadata.status_code == 200  # reading needs no token


def test_a_credential_in_authorization_is_judged_even_beside_a_cached_session(
    gateway_url, portal_session
):
    """The session's grant is cached for a second; a call carrying the same cookie *and* a key
    is about the key, whichever header comes first."""
    cookies, _ = portal_session
    cookie = "; ".join(f"{name}={value}" for name, value in cookies.items())
    assert requests.get(f"{gateway_url}/gateway/demo/iris/v2/models/iris", cookies=cookies,
                        timeout=10).status_code == 200  # fmt: skip
    connection = http.client.HTTPConnection(gateway_url.removeprefix("http://"), timeout=10)
    connection.putrequest("GET", "/gateway/demo/iris/v2/models/iris")
    connection.putheader("Cookie", cookie)  # first, then the key
    connection.putheader("Authorization", "mpk_not-a-real-key")
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 401
    assert json.loads(response.read())["error"]["code"] == "authentication_failed"
    connection.close()


def test_a_portal_sessions_post_without_the_csrf_token_is_refused(gateway_url, portal_session):
    cookies, token = portal_session
    response = infer(gateway_url, None, cookies=cookies)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"
    assert "X-CSRFToken" in response.json()["error"]["message"]
    forged = infer(gateway_url, None, cookies=cookies, headers={"X-CSRFToken": "x" * 32})
    assert forged.json()["error"]["code"] == "csrf_failed"
    elsewhere = infer(
        gateway_url,
        None,
        cookies=cookies,
        headers={"X-CSRFToken": token, "Origin": "http://evil.example"},
    )
    assert elsewhere.json()["error"]["code"] == "csrf_failed"


def test_a_token_in_authorization_needs_no_csrf_token_beside_a_session(
    gateway_url, demo, portal_session
):
    cookies, _ = portal_session
    assert infer(gateway_url, demo["bob"], cookies=cookies).status_code == 200


def test_anonymous_callers_get_401(gateway_url, demo):
    response = infer(gateway_url, None)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_bad_token_gets_401_with_a_reason(gateway_url, demo):
    response = infer(gateway_url, "mpt_not-a-real-token")
    assert response.status_code == 401
    assert "unknown, revoked or expired" in response.json()["error"]["message"]


def test_a_members_id_token_may_call_and_a_bad_one_gets_the_apis_reason(gateway_url, demo, oidc):
    oidc.set_accounts({"sub-carol": {"username": "carol", "password": "pw", "groups": ["team"]}})
    token = oidc.id_token("sub-carol")
    response = infer(gateway_url, token)
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["data"] == demo["expected"]
    assert infer(gateway_url, f"Bearer {token}").status_code == 200

    expired = infer(gateway_url, oidc.id_token("sub-carol", expires_in=-120))
    assert expired.status_code == 401
    assert expired.json()["error"]["code"] == "token_expired"
    foreign = infer(gateway_url, oidc.id_token("sub-carol", client_id=OTHER_CLIENT_ID))
    assert foreign.json()["error"]["code"] == "wrong_audience"


def test_an_id_token_of_another_tenants_member_gets_404(gateway_url, demo, oidc):
    oidc.set_accounts({"sub-olga": {"username": "olga", "password": "pw", "groups": ["others"]}})
    response = infer(gateway_url, oidc.id_token("sub-olga"))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "tenant_not_found"


def test_without_single_sign_on_an_id_token_is_refused(gateway_url, demo, settings):
    settings.OIDC_ISSUER = ""
    response = infer(gateway_url, "eyJhbGciOiJSUzI1NiJ9.e30.c2ln")
    assert response.status_code == 401
    assert "personal access tokens (mpt_…)" in response.json()["error"]["message"]


def test_another_tenants_member_gets_404(gateway_url, demo):
    response = infer(gateway_url, demo["eve"])
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "tenant_not_found"


def test_a_revoked_token_stops_working_within_a_second(gateway_url, demo):
    assert infer(gateway_url, demo["bob"]).status_code == 200
    PersonalAccessToken.objects.filter(user__username="bob").update(revoked_at="2026-01-01T00:00Z")
    time.sleep(1.05)
    assert infer(gateway_url, demo["bob"]).status_code == 401


def test_an_unknown_endpoint_gets_404(gateway_url, demo):
    response = infer(gateway_url, demo["bob"], endpoint="nope")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "endpoint_not_found"


def test_an_endpoint_scaled_to_zero_gets_503_with_a_clear_body(gateway_url, demo):
    response = infer(gateway_url, demo["bob"], endpoint="idle")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "endpoint_not_running"
    assert "no running replica" in response.json()["error"]["message"]


def test_a_body_over_the_limit_gets_413(gateway_url, demo, settings):
    settings.MODELPORT_GATEWAY_MAX_BODY_BYTES = 100
    response = infer(gateway_url, demo["bob"])
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "request_too_large"


class _Echo(BaseHTTPRequestHandler):
    """A backend that answers with the headers and body it received."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        payload = json.dumps({"headers": dict(self.headers), "body": body.decode()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def backend_override(monkeypatch):
    """Points the demo/iris endpoint at a given URL (fault injection for the proxy itself)."""

    def point_at(url):
        monkeypatch.setattr(LocalOrchestrator, "endpoint_backends", lambda self, target: [url])

    return point_at


def test_credentials_and_hop_by_hop_headers_never_reach_the_backend(
    gateway_url, demo, backend_override
):
    echo = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    threading.Thread(target=echo.serve_forever, daemon=True).start()
    backend_override(f"http://127.0.0.1:{echo.server_port}")
    response = requests.post(
        f"{gateway_url}/gateway/demo/iris/echo",
        data=b"hello",
        headers={
            "Authorization": demo["bob"],
            "Cookie": "sessionid=secret",
            "Proxy-Authorization": "Basic x",
            "Connection": "keep-alive, X-Custom",
            "X-Request-Id": "abc-123",
        },
        timeout=10,
    )
    echo.shutdown()
    seen = {k.lower(): v for k, v in response.json()["headers"].items()}
    assert response.json()["body"] == "hello"
    assert seen["x-request-id"] == "abc-123"
    assert seen["x-forwarded-for"] == "127.0.0.1"
    for header in ("authorization", "cookie", "proxy-authorization"):
        assert header not in seen


def test_a_backend_that_hangs_up_gets_502(gateway_url, demo, backend_override):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def hang_up():
        connection, _ = listener.accept()
        connection.recv(65536)
        connection.close()

    threading.Thread(target=hang_up, daemon=True).start()
    backend_override(f"http://127.0.0.1:{listener.getsockname()[1]}")
    response = infer(gateway_url, demo["bob"])
    listener.close()
    assert response.status_code == 502
    assert response.json()["error"]["code"] == "backend_error"


def test_an_address_without_an_endpoint_gets_404(gateway_url, demo):
    response = requests.get(f"{gateway_url}/gateway/demo", timeout=10)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_the_rest_of_the_portal_keeps_working_under_asgi(gateway_url, demo):
    response = requests.get(
        f"{gateway_url}/tenants", headers={"Authorization": demo["bob"]}, timeout=10
    )
    assert response.json()["data"] == {"tenants": ["demo"]}
    assert requests.get(f"{gateway_url}/healthz", timeout=10).json() == {"status": "OK"}
    admin_css = requests.get(f"{gateway_url}/static/admin/css/base.css", timeout=10)
    assert admin_css.status_code == 200
