"""People and clients shared by every app's tests: a platform admin, a tenant member, a stranger."""

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.contrib.auth.models import Group, User
from django.test import Client
from rest_framework.test import APIClient

from identity.models import PersonalAccessToken


@pytest.fixture
def make_user(db):
    def make(username, groups=(), superuser=False):
        user = User.objects.create_user(username, password=None, is_superuser=superuser)
        for name in groups:
            user.groups.add(Group.objects.get_or_create(name=name)[0])
        return user

    return make


@pytest.fixture
def client_for(db):
    """An API client that sends the user's personal access token, as the reference CLI does."""

    def make(user, bearer=False):
        _, token = PersonalAccessToken.issue(user)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}" if bearer else token)
        return client

    return make


@pytest.fixture
def browser_for(db):
    """A browser-like client for the portal pages, signed in as the user (a session cookie)."""

    def make(user):
        client = Client()
        client.force_login(user)
        return client

    return make


@pytest.fixture
def platform_admin(make_user, settings):
    settings.MODELPORT_PLATFORM_ADMIN_GROUPS = ["platform-admins"]
    return make_user("alice", groups=["platform-admins"])


@pytest.fixture
def admin_api(platform_admin, client_for):
    return client_for(platform_admin)


def make_certificate(*, ca=True, days=365, not_before_days=1):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Modelport test CA")])
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=not_before_days))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


@pytest.fixture(scope="session")
def ca_pem():
    return make_certificate()
