"""Request bodies are judged before they are read: a real uvicorn server, and clients that send
headers and then wait, as an attacker or a slow client would."""

import socket

import pytest

from identity.models import PersonalAccessToken
from tenants.models import Tenant, TenantBinding
from testinfra.fixtures import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

GiB = 1024**3


def answer_to_headers(gateway_url, request_head, timeout=5):
    """Send only the request line and headers, never the body they announce, and return the
    status the server answers with (None if it waits for the body)."""
    host, port = gateway_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as connection:
        connection.sendall(request_head.encode())
        try:
            first = connection.recv(65536).split(b"\r\n", 1)[0]
        except TimeoutError:
            return None
    return int(first.split()[1]) if first else None


def head(method, path, length, *extra):
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {length}", *extra]
    return "\r\n".join(lines) + "\r\n\r\n"


@pytest.fixture
def team(make_user, gateway_url):
    from portal.asgi import gateway

    gateway.reset()
    tenant = Tenant.objects.create(name="team-a", scope="team-a-editors")
    TenantBinding.objects.create(tenant=tenant, group="team-a-editors", role="editor")
    TenantBinding.objects.create(tenant=tenant, group="team-a-viewers", role="viewer")
    return {
        "editor": PersonalAccessToken.issue(make_user("erin", groups=["team-a-editors"]))[1],
        "viewer": PersonalAccessToken.issue(make_user("vic", groups=["team-a-viewers"]))[1],
    }


UPLOAD = "/tenants/team-a/upload?modelName=m&modelVersion=1&fileName=f&partNumber=1&uploadId=u"


def test_an_anonymous_upload_is_refused_before_its_body_is_read(gateway_url, team):
    assert answer_to_headers(gateway_url, head("PUT", UPLOAD, GiB)) == 401
    archive = "/tenants/team-a/upload/archive?modelName=m&modelVersion=1"
    assert answer_to_headers(gateway_url, head("PUT", archive, GiB)) == 401


def test_an_upload_by_someone_without_the_editor_role_is_refused_first(gateway_url, team):
    viewer = f"Authorization: {team['viewer']}"
    assert answer_to_headers(gateway_url, head("PUT", UPLOAD, GiB, viewer)) == 403
    other = UPLOAD.replace("team-a", "team-z")
    editor = f"Authorization: {team['editor']}"
    assert answer_to_headers(gateway_url, head("PUT", other, GiB, editor)) == 404


def test_a_presigned_part_with_a_bad_signature_is_refused_first(gateway_url, team):
    assert answer_to_headers(gateway_url, head("PUT", "/storage/parts/forged", GiB)) == 403


def test_an_editors_upload_goes_on_to_be_read(gateway_url, team):
    editor = f"Authorization: {team['editor']}"
    # The server waits for the body: the upload was let through.
    assert answer_to_headers(gateway_url, head("PUT", UPLOAD, 1024, editor), timeout=2) is None


def test_a_body_larger_than_its_address_takes_is_refused_at_once(gateway_url, team, settings):
    assert answer_to_headers(gateway_url, head("POST", "/healthz", 6 * 10**9)) == 413
    editor = f"Authorization: {team['editor']}"
    too_big_part = 5 * GiB + 1
    assert answer_to_headers(gateway_url, head("PUT", UPLOAD, too_big_part, editor)) == 413


def test_a_chunked_body_is_cut_off_at_the_limit(gateway_url, team, settings):
    settings.MODELPORT_REQUEST_MAX_BYTES = 2048
    host, port = gateway_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        connection.sendall(
            b"POST /tenants HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Type: application/json\r\n\r\n"
        )
        chunk = b"x" * 1024
        answer = b""

        def refused():
            nonlocal answer
            try:
                connection.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                connection.settimeout(0.2)
                answer += connection.recv(65536)
            except (TimeoutError, BrokenPipeError, ConnectionResetError):
                pass
            return answer

        wait_until(refused, timeout=10, message="an answer to the chunked body")
    assert answer.startswith(b"HTTP/1.1 413")
