"""Under ASGI (uvicorn, as deployed), requests leave no database connection behind."""

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.db import connection

from identity.models import PersonalAccessToken
from testinfra.fixtures import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def sessions():
    """Connections to the test database, this test's own included."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")
        return cursor.fetchone()[0]


def test_concurrent_requests_do_not_leave_idle_connections(gateway_url, platform_admin):
    if connection.vendor != "postgresql":
        pytest.skip("counts PostgreSQL sessions")
    _, token = PersonalAccessToken.issue(platform_admin)
    before = sessions()

    def call(_):
        response = requests.get(
            f"{gateway_url}/tenants", headers={"Authorization": token}, timeout=30
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=20) as pool:
        assert set(pool.map(call, range(60))) == {200}
    # Without the middleware, this stays near `before` + 20 (one per concurrent request).
    wait_until(lambda: sessions() <= before + 1, timeout=10, message="connections to close")
