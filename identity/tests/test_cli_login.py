"""The CLI's login, as in the reference platform: GET /authenticate sends the browser to the
provider, the provider returns a code, POST /authenticate/token trades it (or a refresh token)
for tokens. Against the real test provider; the "browser" here is an HTTP client."""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from testinfra.identity import add_bob

pytestmark = pytest.mark.django_db


@pytest.fixture
def client():
    """The CLI speaks JSON."""
    return APIClient()


@pytest.fixture
def provider(oidc):
    return add_bob(oidc, role="viewer")


def log_in(client, provider):
    redirect = client.get("/authenticate?state=cli-state")
    assert redirect.status_code == 302
    back = provider.log_in(redirect["Location"], "bob", "bob-password")
    assert back.startswith("http://testserver/authenticate/callback?")
    page = client.get(back.removeprefix("http://testserver"))
    assert page.status_code == 200
    return page.json()["data"]


def test_authenticate_redirects_to_the_providers_authorization_endpoint(client, provider):
    response = client.get("/authenticate")
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert f"{location.scheme}://{location.netloc}" == provider.issuer
    query = parse_qs(location.query)
    assert query["client_id"] == ["modelport"]
    assert query["redirect_uri"] == ["http://testserver/authenticate/callback"]
    assert "groups" in query["scope"][0].split()
    assert "offline_access" in query["scope"][0].split()


def test_a_cli_logs_in_with_a_code_and_uses_the_id_token(client, provider):
    callback = log_in(client, provider)
    assert callback["state"] == "cli-state"

    response = client.post("/authenticate/token", {"code": callback["code"]}, format="json")
    assert response.status_code == 200, response.json()
    tokens = response.json()["data"]
    assert tokens["username"] == "bob"
    assert tokens["refresh_token"]

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=tokens["id_token"])
    assert api.get("/tenants").json()["data"] == {"tenants": ["team-a"]}


def test_a_code_works_once(client, provider):
    code = log_in(client, provider)["code"]
    assert client.post("/authenticate/token", {"code": code}, format="json").status_code == 200
    again = client.post("/authenticate/token", {"code": code}, format="json")
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "invalid_grant"
    assert "Log in again" in again.json()["error"]["message"]


def test_a_refresh_token_brings_a_new_id_token_with_current_groups(client, provider):
    code = log_in(client, provider)["code"]
    refresh = client.post("/authenticate/token", {"code": code}, format="json").json()["data"][
        "refresh_token"
    ]
    provider.set_groups("sub-bob", [])

    response = client.post("/authenticate/token", {"refresh_token": refresh}, format="json")
    assert response.status_code == 200, response.json()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {response.json()['data']['id_token']}")
    assert api.get("/tenants").json()["data"] == {"tenants": []}


def test_a_wrong_password_never_reaches_the_portal(client, provider):
    redirect = client.get("/authenticate")
    with pytest.raises(AssertionError, match="Wrong username or password"):
        provider.log_in(redirect["Location"], "bob", "guess")


@pytest.mark.parametrize(
    "body",
    [{}, {"code": "a", "refresh_token": "b"}, {"code": ""}],
)
def test_the_token_call_wants_a_code_or_a_refresh_token(client, provider, body):
    response = client.post("/authenticate/token", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


def test_a_made_up_refresh_token_is_refused(client, provider):
    response = client.post("/authenticate/token", {"refresh_token": "made-up"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_grant"


def test_the_callback_explains_a_refused_login(client, provider):
    response = client.get("/authenticate/callback?error=access_denied&error_description=nope")
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "login_failed",
        "message": "The identity provider did not log you in: nope.",
        "fields": {},
    }


def test_login_routes_are_not_found_when_single_sign_on_is_off(client, db, settings):
    settings.OIDC_ISSUER = ""
    for response in (
        client.get("/authenticate"),
        client.post("/authenticate/token", {"code": "x"}, format="json"),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "oidc_disabled"
    assert client.get("/oidc/authenticate/").status_code == 404


def test_a_cli_with_its_own_loopback_redirect_gets_the_code_there(client, provider):
    loopback = "http://127.0.0.1:8765/callback"
    provider.set_clients(["http://testserver/authenticate/callback", loopback])
    redirect = client.get(f"/authenticate?redirect_uri={loopback}")
    back = provider.log_in(redirect["Location"], "bob", "bob-password")
    assert back.startswith(f"{loopback}?")
    code = parse_qs(urlsplit(back).query)["code"][0]

    response = client.post(
        "/authenticate/token", {"code": code, "redirect_uri": loopback}, format="json"
    )
    assert response.status_code == 200, response.json()


def test_a_redirect_uri_the_provider_does_not_know_is_refused_there(client, provider):
    redirect = client.get("/authenticate?redirect_uri=https://evil.example.com/steal")
    with pytest.raises(AssertionError, match="redirect_uri"):
        provider.log_in(redirect["Location"], "bob", "bob-password")


def test_a_disabled_account_gets_no_tokens(client, provider):
    code = log_in(client, provider)["code"]
    client.post("/authenticate/token", {"code": code}, format="json")
    User.objects.filter(username="bob").update(is_active=False)

    response = client.post(
        "/authenticate/token", {"code": log_in(client, provider)["code"]}, format="json"
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "account_disabled"
    assert "id_token" not in response.json()


def test_the_reference_clients_find_the_tokens_where_they_read_them(client, provider):
    """The reference platform's login scripts keep `response.json()["data"]["token"]`, send its
    `id_token` as the bare Authorization header, and later trade its `refresh_token`."""
    code = log_in(client, provider)["code"]
    response = client.post("/authenticate/token", {"code": code}, format="json")
    assert response.status_code == 200
    token = response.json()["data"]["token"]
    assert token["token_type"].lower() == "bearer" and token["expires_at"] > 0
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=token["id_token"])
    assert api.get("/tenants").json()["data"] == {"tenants": ["team-a"]}
    refreshed = client.post(
        "/authenticate/token", {"refresh_token": token["refresh_token"]}, format="json"
    )
    assert refreshed.status_code == 200
    assert refreshed.json()["data"]["token"]["id_token"]
