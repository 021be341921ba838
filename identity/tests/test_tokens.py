from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from identity.models import PersonalAccessToken, hash_token

pytestmark = pytest.mark.django_db


def test_create_token_prints_the_token_on_its_last_line_and_stores_only_a_hash(make_user, capsys):
    make_user("bob")
    call_command("create_token", "bob")
    token = capsys.readouterr().out.strip().splitlines()[-1]
    assert token.startswith("mpt_")
    row = PersonalAccessToken.objects.get()
    assert row.token_hash == hash_token(token)
    assert token not in (row.token_hash, row.prefix)


def test_create_token_for_an_unknown_user_fails_clearly(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no user called 'ghost'"):
        call_command("create_token", "ghost")


@pytest.mark.parametrize("scheme", ["", "Bearer ", "bearer "])
def test_a_token_works_with_or_without_bearer(make_user, scheme):
    _, token = PersonalAccessToken.issue(make_user("bob"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{scheme}{token}")
    assert client.get("/tenants").status_code == 200


def test_a_revoked_token_is_refused_with_a_reason(make_user):
    row, token = PersonalAccessToken.issue(make_user("bob"))
    PersonalAccessToken.objects.filter(pk=row.pk).update(revoked_at=timezone.now())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=token)
    response = client.get("/tenants")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    assert "revoked or expired" in response.json()["error"]["message"]


def test_an_expired_token_is_refused(make_user):
    _, token = PersonalAccessToken.issue(make_user("bob"), expires_at=timezone.now() - timedelta(1))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=token)
    assert client.get("/tenants").status_code == 401


def test_a_token_of_a_disabled_account_is_refused(make_user):
    user = make_user("bob")
    _, token = PersonalAccessToken.issue(user)
    user.is_active = False
    user.save()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=token)
    assert client.get("/tenants").status_code == 401


def test_use_is_recorded_at_most_once_a_minute(make_user, django_assert_num_queries):
    row, token = PersonalAccessToken.issue(make_user("bob"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=token)
    client.get("/tenants")
    row.refresh_from_db()
    first_use = row.last_used_at
    assert first_use is not None
    client.get("/tenants")
    row.refresh_from_db()
    assert row.last_used_at == first_use
