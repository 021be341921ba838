"""Password guessing at every sign-in form (the portal's, the admin site's, the browsable
API's): after the limit, the account and the address are locked out, the right password
included, with a sentence saying why and for how long."""

import pytest
from django.contrib.auth.models import User
from django.test import Client

pytestmark = pytest.mark.django_db

LOGIN_FORMS = ["/ui/login/", "/admin/login/", "/api-auth/login/"]


@pytest.fixture(autouse=True)
def low_limit(settings):
    settings.AXES_FAILURE_LIMIT = 3


@pytest.fixture
def alice(db):
    return User.objects.create_user("alice", password="the-right-password", is_staff=True)


def sign_in(client, url, username, password):
    return client.post(url, {"username": username, "password": password})


@pytest.mark.parametrize("url", LOGIN_FORMS)
def test_after_the_limit_the_right_password_is_refused_too(url, alice):
    client = Client()
    for _ in range(2):
        assert sign_in(client, url, "alice", "wrong").status_code == 200  # the form again
    assert sign_in(client, url, "alice", "wrong").status_code == 429  # the limit: locked
    response = sign_in(client, url, "alice", "the-right-password")
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_an_address_that_guesses_many_accounts_is_locked_out(alice):
    client = Client()
    for name in ("bob", "carol", "dave"):
        sign_in(client, "/ui/login/", name, "guess")
    assert sign_in(client, "/ui/login/", "alice", "the-right-password").status_code == 429
    # Another address may still sign alice in: the lock is per address and per account, and
    # alice's own failures are under the limit.
    elsewhere = Client(REMOTE_ADDR="10.1.2.3")
    assert sign_in(elsewhere, "/ui/login/", "alice", "the-right-password").status_code == 302


def test_a_success_before_the_limit_starts_the_count_again(alice):
    client = Client()
    for _ in range(2):
        sign_in(client, "/ui/login/", "alice", "wrong")
    assert sign_in(client, "/ui/login/", "alice", "the-right-password").status_code == 302
    client.logout()
    for _ in range(2):
        sign_in(client, "/ui/login/", "alice", "wrong")
    assert sign_in(client, "/ui/login/", "alice", "the-right-password").status_code == 302
