"""What crosses the gateway, each way: the model server receives exactly the caller's end-to-end
headers (nothing added by the gateway's HTTP client, nothing the caller may not pass on), and the
caller receives only the model server's headers that describe the answer. A real uvicorn server
in front of a real HTTP server that echoes what it received, or answers what a test tells it."""

import gzip
import http.client
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from applications.models import Plan
from applications.services import create_application
from endpoints.models import Endpoint, ServingTemplate
from identity.models import PersonalAccessToken
from tenants.models import Tenant, TenantBinding
from testinfra.fixtures import wait_until
from workers.backends.local import LocalOrchestrator

pytestmark = pytest.mark.django_db(transaction=True)


class Backend(BaseHTTPRequestHandler):
    """Echoes the request line, headers and body as JSON, unless `answer` says otherwise:
    (status, [(header, value), ...], body)."""

    answer = None
    protocol_version = "HTTP/1.1"

    def _respond(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if Backend.answer is not None:
            status, headers, payload = Backend.answer
        else:
            status, headers = 200, [("Content-Type", "application/json")]
            payload = json.dumps(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": [[k.lower(), v] for k, v in self.headers.items()],
                    "body": body.decode("latin-1"),
                }
            ).encode()
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = _respond

    def log_message(self, *args):
        pass


@pytest.fixture
def backend(monkeypatch):
    Backend.answer = None
    server = ThreadingHTTPServer(("127.0.0.1", 0), Backend)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    monkeypatch.setattr(LocalOrchestrator, "endpoint_backends", lambda self, target: [url])
    yield Backend
    server.shutdown()


@pytest.fixture
def member(make_user, gateway_url):
    from portal.asgi import gateway

    gateway.reset()
    tenant = Tenant.objects.create(name="demo", scope="team")
    TenantBinding.objects.create(tenant=tenant, group="team", role="viewer")
    serving, _ = ServingTemplate.objects.get_or_create(name="mlserver")
    Endpoint.objects.create(
        tenant=tenant, name="echo", model_name="m", serving=serving, subject_name="c"
    )
    return PersonalAccessToken.issue(make_user("bob", groups=["team"]))[1]


def call(gateway_url, method, path, headers, body=None):
    """One request with exactly these headers (http.client adds Host and, for a body,
    Content-Length, nothing else)."""
    host, port = gateway_url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.putrequest(method, path, skip_accept_encoding=True)
    for name, value in headers.items():
        connection.putheader(name, value)
    if body is not None:
        connection.putheader("Content-Length", str(len(body)))
    connection.endheaders(body)
    response = connection.getresponse()
    payload = response.read()
    connection.close()
    return response, payload


def seen(payload):
    return json.loads(payload)


def test_the_model_server_gets_no_header_the_caller_did_not_send(gateway_url, member, backend):
    body = b'{"inputs": []}'
    _, payload = call(gateway_url, "POST", "/gateway/demo/echo/v2", {"Authorization": member}, body)
    names = {name for name, _ in seen(payload)["headers"]}
    # No Content-Type (MLServer would read the JSON as a string), no Accept-Encoding (answers
    # would come back compressed to a caller that never asked), no client User-Agent or Accept.
    assert "content-type" not in names
    assert "accept-encoding" not in names
    assert "user-agent" not in names
    assert "accept" not in names
    assert seen(payload)["body"] == body.decode()


def test_a_get_without_a_body_is_sent_without_one(gateway_url, member, backend):
    _, payload = call(
        gateway_url, "GET", "/gateway/demo/echo/v2/health/ready", {"Authorization": member}
    )
    names = {name for name, _ in seen(payload)["headers"]}
    assert "transfer-encoding" not in names
    assert "content-length" not in names


def test_what_the_caller_may_not_pass_on_is_dropped(gateway_url, member, backend):
    headers = {
        "Authorization": member,
        "Cookie": "sessionid=secret",
        "X-CSRFToken": "token",
        "Connection": "keep-alive, X-Hop",
        "X-Hop": "meant for the gateway alone",
        "X-Forwarded-For": "10.0.0.1",
        "Forwarded": "for=10.0.0.1",
        "X-Real-IP": "10.0.0.1",
        "X-Forwarded-Host": "evil.example.com",
        "X-End-To-End": "kept",
    }
    _, payload = call(gateway_url, "POST", "/gateway/demo/echo/x", headers, b"{}")
    received = dict(seen(payload)["headers"])
    for name in ("authorization", "cookie", "x-csrftoken", "x-hop", "forwarded", "x-real-ip"):
        assert name not in received
    assert received["x-forwarded-for"] == "127.0.0.1"
    assert received["x-forwarded-host"] == gateway_url.removeprefix("http://")
    assert received["x-forwarded-proto"] == "http"
    assert received["x-end-to-end"] == "kept"


def test_encoded_question_marks_and_hashes_stay_in_the_path(gateway_url, member, backend):
    path = "/gateway/demo/echo/v2/models/a%3Fb%23c/infer?x=%3F1"
    _, payload = call(gateway_url, "GET", path, {"Authorization": member})
    assert seen(payload)["path"] == "/v2/models/a%3Fb%23c/infer?x=%3F1"


def test_only_headers_that_describe_the_answer_reach_the_caller(gateway_url, member, backend):
    backend.answer = (
        200,
        [
            ("Content-Type", "application/json"),
            ("Content-Type", "text/html"),
            ("Strict-Transport-Security", "max-age=0"),
            ("Clear-Site-Data", '"*"'),
            ("Access-Control-Allow-Origin", "https://evil.example.com"),
            ("Access-Control-Allow-Credentials", "true"),
            ("Location", "https://evil.example.com/"),
            ("Refresh", "0; url=https://evil.example.com/"),
            ("Link", "<https://evil.example.com/x.js>; rel=preload"),
            ("Alt-Svc", 'h3=":443"'),
            ("Set-Cookie", "sessionid=theirs"),
            ("Cache-Control", "no-store"),
            ("X-Request-Id", "abc"),
        ],
        b"{}",
    )
    response, _ = call(gateway_url, "GET", "/gateway/demo/echo/x", {"Authorization": member})
    names = [name.lower() for name, _ in response.getheaders()]
    for refused in (
        "strict-transport-security",
        "clear-site-data",
        "access-control-allow-origin",
        "access-control-allow-credentials",
        "location",
        "refresh",
        "link",
        "alt-svc",
        "set-cookie",
    ):
        assert refused not in names
    assert response.getheader("Content-Type") == "application/json"
    assert names.count("content-type") == 1
    assert response.getheader("Cache-Control") == "no-store"
    # The request id is the gateway's (the one it forwarded and logged), not the model server's.
    assert re.fullmatch(r"[0-9a-f]{32}", response.getheader("X-Request-Id"))


def test_the_request_id_is_forwarded_and_returned(gateway_url, member, backend):
    def ids(headers):
        response, payload = call(gateway_url, "GET", "/gateway/demo/echo/x", headers)
        return dict(seen(payload)["headers"]).get("x-request-id"), response.getheader(
            "X-Request-ID"
        )

    # The caller's own id, when it looks like one, travels both ways.
    assert ids({"Authorization": member, "X-Request-ID": "trace-7f3a"}) == ("trace-7f3a",) * 2
    # Without one, the gateway makes one: the model server and the caller see the same.
    forwarded, returned = ids({"Authorization": member})
    assert forwarded == returned and re.fullmatch(r"[0-9a-f]{32}", returned)
    # Something else (spaces, a header injection attempt, a novel) is replaced, not echoed.
    for junk in ("two words", "x" * 129, "a\tb"):
        forwarded, returned = ids({"Authorization": member, "X-Request-ID": junk})
        assert forwarded == returned != junk


def test_the_caller_may_ask_only_for_codings_the_gateway_reads(gateway_url, member, backend):
    headers = {"Authorization": member, "Accept-Encoding": "br, zstd, gzip;q=0.8"}
    _, payload = call(gateway_url, "GET", "/gateway/demo/echo/x", headers)
    assert dict(seen(payload)["headers"])["accept-encoding"] == "gzip;q=0.8"


def test_tokens_of_a_compressed_answer_are_counted(gateway_url, member, backend):
    tenant = Tenant.objects.get(name="demo")
    plan = Plan.objects.create(name="tiny", tokens_per_minute=10)
    endpoint = Endpoint.objects.get(name="echo")
    _, key = create_application(
        tenant=tenant, name="app", plan=plan, endpoints=[endpoint], created_by=None
    )
    answer = gzip.compress(json.dumps({"usage": {"total_tokens": 10}}).encode())
    backend.answer = (
        200,
        [("Content-Type", "application/json"), ("Content-Encoding", "gzip")],
        answer,
    )
    headers = {"Authorization": key, "Accept-Encoding": "gzip"}
    first, body = call(gateway_url, "POST", "/gateway/demo/echo/v1/chat", headers, b"{}")
    assert first.status == 200
    assert gzip.decompress(body) == gzip.decompress(answer)  # passed on as the caller asked
    # The ten tokens use the plan's minute up (they are counted just after the answer): a call
    # is refused soon.
    wait_until(
        lambda: (
            call(gateway_url, "POST", "/gateway/demo/echo/v1/chat", headers, b"{}")[0].status == 429
        ),
        timeout=5,
        message="the counted tokens to refuse a call",
    )
