"""API calls with ID tokens signed by a real OpenID provider (npm oidc-provider over HTTP)."""

import base64
import json
import logging
from unittest import mock

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from identity.models import OidcIdentity
from testinfra.identity import OTHER_CLIENT_ID, add_bob

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider(oidc, settings):
    settings.MODELPORT_PLATFORM_ADMIN_GROUPS = ["platform-admins"]
    return add_bob(oidc, role="editor")


def api(token, bearer=True):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}" if bearer else token)
    return client


def error_of(response):
    return response.status_code, response.json()["error"]["code"]


def test_a_provider_token_authenticates_and_brings_its_groups(provider):
    response = api(provider.id_token("sub-bob")).get("/me")
    assert response.status_code == 200, response.json()
    assert response.json()["data"] == {
        "username": "bob",
        "groups": ["team-a-users"],
        "platformAdmin": False,
        "tenants": [{"name": "team-a", "role": "editor"}],
    }
    identity = OidcIdentity.objects.get(subject="sub-bob")
    assert identity.issuer == provider.issuer
    assert identity.user.email == "bob@example.com"


def test_the_token_works_without_bearer_as_the_reference_cli_sends_it(provider):
    response = api(provider.id_token("sub-bob"), bearer=False).get("/tenants")
    assert response.json()["data"] == {"tenants": ["team-a"]}


def test_removal_from_a_group_takes_effect_on_the_next_request(provider):
    assert api(provider.id_token("sub-bob")).get("/tenants/team-a").status_code == 200
    provider.set_groups("sub-bob", [])
    response = api(provider.id_token("sub-bob")).get("/tenants/team-a")
    assert error_of(response) == (404, "tenant_not_found")
    assert not User.objects.get(username="bob").groups.exists()


def test_a_platform_admin_group_makes_a_platform_admin_and_leaving_it_undoes_it(provider):
    provider.set_groups("sub-bob", ["platform-admins"])
    created = api(provider.id_token("sub-bob")).post(
        "/tenants", {"name": "team-b", "scope": "b"}, format="json"
    )
    assert created.status_code == 201
    assert User.objects.get(username="bob").is_superuser
    provider.set_groups("sub-bob", [])
    response = api(provider.id_token("sub-bob")).post(
        "/tenants", {"name": "team-c", "scope": "c"}, format="json"
    )
    assert error_of(response) == (403, "permission_denied")
    assert not User.objects.get(username="bob").is_superuser


def test_users_are_matched_by_subject_not_by_name(provider, make_user):
    make_user("admin", superuser=True)  # the local break-glass account
    provider.set_accounts(
        {"sub-eve": {"username": "admin", "password": "x", "email": "eve@example.com"}}
    )
    data = api(provider.id_token("sub-eve")).get("/me").json()["data"]
    assert data["username"].startswith("admin-")
    assert data["platformAdmin"] is False
    provider.set_accounts(
        {"sub-eve": {"username": "eve", "password": "x", "email": "eve@example.com"}}
    )
    assert (
        api(provider.id_token("sub-eve")).get("/me").json()["data"]["username"]
        == (data["username"])
    )
    assert OidcIdentity.objects.filter(subject="sub-eve").count() == 1


def test_an_expired_token_is_refused_with_its_reason(provider):
    response = api(provider.id_token("sub-bob", expires_in=-120)).get("/me")
    assert error_of(response) == (401, "token_expired")
    assert "expired" in response.json()["error"]["message"]
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_token_expired_within_the_leeway_is_still_accepted(provider):
    assert api(provider.id_token("sub-bob", expires_in=-10)).get("/me").status_code == 200


def test_a_token_for_another_application_is_refused(provider):
    response = api(provider.id_token("sub-bob", client_id=OTHER_CLIENT_ID)).get("/me")
    assert error_of(response) == (401, "wrong_audience")


def test_a_token_from_another_issuer_is_refused(provider, settings):
    token = provider.id_token("sub-bob")
    settings.OIDC_ISSUER = provider.issuer.replace("127.0.0.1", "localhost")
    with mock.patch("identity.provider.discovery", return_value=_discovery(provider)):
        response = api(token).get("/me")
    assert error_of(response) == (401, "wrong_issuer")


def _discovery(provider):
    return requests.get(f"{provider.issuer}/.well-known/openid-configuration", timeout=5).json()


def _reencode(token, **changes):
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims.update(changes)
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{forged}.{signature}"


def test_a_token_with_altered_claims_is_refused_as_a_bad_signature(provider):
    forged = _reencode(provider.id_token("sub-bob"), groups=["platform-admins"])
    assert error_of(api(forged).get("/me")) == (401, "bad_signature")


def test_a_token_signed_with_our_own_key_under_the_providers_kid_is_refused(provider):
    real = provider.id_token("sub-bob")
    kid = jwt.get_unverified_header(real)["kid"]
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(
        jwt.decode(real, options={"verify_signature": False}), key, "RS256", headers={"kid": kid}
    )
    assert error_of(api(forged).get("/me")) == (401, "bad_signature")


@pytest.mark.parametrize("algorithm", ["none", "HS256"])
def test_tokens_with_a_symmetric_or_no_algorithm_are_refused(provider, settings, algorithm):
    claims = jwt.decode(provider.id_token("sub-bob"), options={"verify_signature": False})
    key = settings.OIDC_CLIENT_SECRET if algorithm == "HS256" else None
    forged = jwt.encode(claims, key, algorithm)
    assert error_of(api(forged).get("/me")) == (401, "algorithm_not_allowed")


def test_garbage_in_the_header_is_refused_with_a_sentence(provider):
    response = api("not-a-token").get("/me")
    assert error_of(response) == (401, "malformed_token")
    assert "personal access token" in response.json()["error"]["message"]


def test_a_key_rotation_is_picked_up_without_a_restart(provider):
    assert api(provider.id_token("sub-bob")).get("/me").status_code == 200
    provider.rotate_keys(keep_previous=True)
    # A token with the new key: its kid is unknown here, so the keys are fetched again.
    assert api(provider.id_token("sub-bob")).get("/me").status_code == 200


def test_a_token_whose_key_was_withdrawn_is_refused_as_unknown(provider):
    old = provider.id_token("sub-bob")
    provider.rotate_keys(keep_previous=False)
    response = api(old).get("/me")
    assert error_of(response) == (401, "unknown_signing_key")
    assert "log in again" in response.json()["error"]["message"]


def test_unknown_keys_make_us_refetch_the_keys_at_most_once_a_minute(provider):
    fetched = []
    real_get = requests.get

    def counting_get(url, **kwargs):
        fetched.append(url)
        return real_get(url, **kwargs)

    token = provider.id_token("sub-bob")
    _header, payload, signature = token.split(".")
    with mock.patch("identity.provider.requests.get", side_effect=counting_get):
        for n in range(5):
            fake_header = (
                base64.urlsafe_b64encode(
                    json.dumps({"alg": "RS256", "kid": f"made-up-{n}"}).encode()
                )
                .rstrip(b"=")
                .decode()
            )
            response = api(f"{fake_header}.{payload}.{signature}").get("/me")
            assert error_of(response) == (401, "unknown_signing_key")
    jwks_fetches = [url for url in fetched if url.endswith("/jwks")]
    assert len(jwks_fetches) == 2  # the first look, and one refetch for the unknown kid


def test_a_provider_that_is_down_is_a_503_not_a_401(provider):
    token = provider.id_token("sub-bob")
    with mock.patch(
        "identity.provider.requests.get", side_effect=requests.ConnectionError("refused")
    ):
        response = api(token).get("/me")
    assert error_of(response) == (503, "identity_provider_unavailable")


def test_tokens_are_refused_when_single_sign_on_is_off(provider, settings):
    token = provider.id_token("sub-bob")
    settings.OIDC_ISSUER = ""
    response = api(token).get("/me")
    assert error_of(response) == (401, "oidc_disabled")


def test_the_token_never_reaches_the_logs(provider, caplog):
    caplog.set_level(logging.DEBUG)
    good = provider.id_token("sub-bob")
    expired = provider.id_token("sub-bob", expires_in=-120)
    api(good).get("/me")
    api(expired).get("/me")
    api(_reencode(good, sub="x")).get("/me")
    for token in (good, expired):
        assert token.split(".")[2] not in caplog.text
        assert token.split(".")[1] not in caplog.text


def test_personal_access_tokens_keep_working_beside_oidc(provider, make_user, client_for):
    client = client_for(make_user("carol", groups=["team-a-users"]))
    assert client.get("/me").json()["data"]["tenants"] == [{"name": "team-a", "role": "editor"}]


def test_without_a_preferred_username_the_email_names_the_user(provider):
    provider.set_accounts({"sub-dan": {"email": "dan@example.com", "groups": []}})
    data = api(provider.id_token("sub-dan")).get("/me").json()["data"]
    assert data["username"] == "dan@example.com"


def test_a_discovery_document_naming_another_issuer_is_not_trusted(provider, settings):
    # The same provider under another host name: its discovery document names 127.0.0.1.
    settings.OIDC_ISSUER = provider.issuer.replace("127.0.0.1", "localhost")
    response = api(provider.id_token("sub-bob")).get("/me")
    assert error_of(response) == (503, "identity_provider_unavailable")
    assert "different issuer" in response.json()["error"]["message"]


def test_a_user_disabled_in_the_portal_is_refused_despite_a_valid_token(provider):
    api(provider.id_token("sub-bob")).get("/me")
    User.objects.filter(username="bob").update(is_active=False)
    response = api(provider.id_token("sub-bob")).get("/me")
    assert error_of(response) == (401, "account_disabled")
    assert "disabled" in response.json()["error"]["message"]
