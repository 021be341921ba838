"""Browser sessions: writes need the CSRF token; personal access tokens and ID tokens don't (they
are not sent by browsers on their own)."""

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.fixture
def session_client(platform_admin):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(platform_admin)
    return client


def test_a_session_write_without_the_csrf_token_is_refused(session_client):
    response = session_client.post("/tenants", {"name": "team-x", "scope": "g"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    assert "CSRF" in response.json()["error"]["message"]


def test_a_session_write_with_the_csrf_token_goes_through(session_client):
    token = session_client.get("/admin/login/").cookies["csrftoken"].value
    response = session_client.post(
        "/tenants", {"name": "team-x", "scope": "g"}, format="json", HTTP_X_CSRFTOKEN=token
    )
    assert response.status_code == 201, response.json()


def test_a_session_read_needs_no_csrf_token(session_client):
    assert session_client.get("/tenants").status_code == 200


def test_token_writes_need_no_csrf_token(platform_admin, client_for):
    client = client_for(platform_admin)
    client.enforce_csrf_checks = True
    response = client.post("/tenants", {"name": "team-x", "scope": "g"}, format="json")
    assert response.status_code == 201
