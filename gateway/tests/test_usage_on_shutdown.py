"""Without Redis, the gateway counts usage in its own process; when the server stops (Ctrl-C on
`make run`), the minutes counted so far are stored, not lost. A gateway of its own under a real
uvicorn server, stopped as a signal stops it."""

import threading

import pytest
import requests
import uvicorn
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler

from gateway.access import authorize, check_csrf, endpoint_backends, store_usage
from gateway.models import UsageMinute
from gateway.proxy import Gateway
from gateway.tests.test_gateway_headers import backend, member  # noqa: F401 - fixtures
from portal.asgi import django_application
from testinfra.fixtures import wait_until
from testinfra.servers import free_port

pytestmark = pytest.mark.django_db(transaction=True)


def test_minutes_counted_without_redis_are_stored_when_the_server_stops(
    member,  # noqa: F811
    backend,  # noqa: F811
    settings,
):
    settings.REDIS_URL = ""
    settings.MODELPORT_USAGE_FLUSH_SECONDS = 3600  # nothing but the shutdown stores them
    gateway = Gateway(
        ASGIStaticFilesHandler(django_application),
        authorize,
        endpoint_backends,
        store_usage,
        check_csrf,
    )
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(gateway, host="127.0.0.1", port=port, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_until(lambda: server.started, message="uvicorn to start")
    for _ in range(3):
        response = requests.get(
            f"http://127.0.0.1:{port}/gateway/demo/echo/v2",
            headers={"Authorization": member},
            timeout=10,
        )
        assert response.status_code == 200
    assert not UsageMinute.objects.exists()

    server.should_exit = True  # what SIGINT and SIGTERM do
    thread.join(timeout=30)

    assert sum(UsageMinute.objects.values_list("requests", flat=True)) == 3
