"""While the broker is down, a change is still saved and answered as saved: the worker is asked
later (by the resync), not the caller told that a saved change failed."""

from unittest import mock

import pytest
from kombu.exceptions import OperationalError

from endpoints.models import Endpoint
from endpoints.tasks import reconcile_endpoint, scale_endpoint
from endpoints.tests.test_endpoints_api import create

pytestmark = pytest.mark.django_db


@pytest.fixture
def broker_down(django_capture_on_commit_callbacks):
    """Sending a task fails as it does when Redis is unreachable (fault injection); the calls
    made in `with broker_down():` run their after-commit work as a committed request would."""
    refused = OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
    with (
        mock.patch.object(reconcile_endpoint, "apply_async", side_effect=refused),
        mock.patch.object(scale_endpoint, "apply_async", side_effect=refused),
    ):
        yield lambda: django_capture_on_commit_callbacks(execute=True)


def test_an_endpoint_created_while_the_broker_is_down_is_201_and_saved(
    editor_api, tenant, broker_down, caplog
):
    with broker_down():
        response = create(editor_api)
    assert response.status_code == 201, response.json()
    assert Endpoint.objects.filter(tenant=tenant, name="endpoint").exists()
    assert "the resync will catch up" in caplog.text


def test_a_scale_while_the_broker_is_down_is_saved(editor_api, tenant, make_endpoint, broker_down):
    make_endpoint()
    with broker_down():
        response = editor_api.patch(
            "/tenants/test/endpoints/endpoint/replicas", {"replicas": 3}, format="json"
        )
    assert response.status_code == 200, response.json()
    assert Endpoint.objects.get(name="endpoint").replicas == 3
