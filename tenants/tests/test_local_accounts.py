"""`manage.py local_account`: how a local account (no OpenID provider) gets its groups, and so
its tenant roles, without the shell or the admin site."""

import io

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError

from identity.models import OidcIdentity
from tenants.models import Tenant, TenantBinding

pytestmark = pytest.mark.django_db


def local_account(*args, password=None, monkeypatch=None):
    out = io.StringIO()
    if password is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    call_command("local_account", *args, stdout=out)
    return out.getvalue()


def test_a_local_account_gets_the_roles_its_groups_are_bound_to(client_for, monkeypatch):
    Tenant.objects.create(name="team-a", scope="team-a")
    TenantBinding.objects.create(tenant=Tenant.objects.get(), group="team-a", role="viewer")

    printed = local_account(
        "bob", "--groups", "team-a, ops", "--password-stdin",
        password="a long enough passphrase", monkeypatch=monkeypatch,
    )  # fmt: skip

    assert printed == "Created the local account bob; groups: ops, team-a.\n"
    bob = User.objects.get(username="bob")
    assert bob.check_password("a long enough passphrase")
    assert client_for(bob).get("/tenants").json()["data"] == {"tenants": ["team-a"]}

    assert local_account("bob", "--groups", "") == (
        "Changed the local account bob; groups: none.\n"
    )
    assert client_for(bob).get("/tenants").json()["data"] == {"tenants": []}


def test_an_account_without_a_password_is_told_how_to_sign_in():
    printed = local_account("robot", "--groups", "team-a")
    assert printed.splitlines() == [
        "Created the local account robot; groups: team-a.",
        "It has no password: sign in with a token (manage.py create_token robot), or give it "
        "one with --password-stdin.",
    ]
    # Leaving --groups out leaves the groups alone.
    assert local_account("robot").splitlines()[0] == (
        "Changed the local account robot; groups: team-a."
    )


def test_a_weak_password_is_refused_and_nothing_is_created(monkeypatch):
    with pytest.raises(CommandError, match="too short"):
        local_account("bob", "--password-stdin", password="short", monkeypatch=monkeypatch)
    assert not User.objects.filter(username="bob").exists()


def test_people_from_the_provider_keep_the_groups_it_gives_them(make_user):
    carol = make_user("carol", groups=["team-a"])
    OidcIdentity.objects.create(user=carol, issuer="https://dex.example", subject="carol-sub")
    with pytest.raises(CommandError, match="signs in through the OpenID provider"):
        local_account("carol", "--groups", "platform-admins")
    assert list(carol.groups.values_list("name", flat=True)) == ["team-a"]
