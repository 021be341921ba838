"""maxEndpoints holds when many creates race: real threads, each with its own PostgreSQL
connection, against the same tenant."""

import threading

import pytest
from django.db import connection

from endpoints.models import Endpoint
from tenants.models import Tenant, TenantBinding

BODY = {
    "modelName": "resnet",
    "servingName": "tf-serving",
    "subjectName": "client",
}


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_creates_with_max_endpoints_five_make_exactly_five(
    make_user, client_for, settings
):
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL (make test uses it)")
    from endpoints.models import ServingTemplate, ServingTemplateFile
    from endpoints.seeding import seed_serving_templates

    # A transactional test starts from empty tables: put the shipped templates back.
    seed_serving_templates(ServingTemplate, ServingTemplateFile)
    tenant = Tenant.objects.create(
        name="test", scope="group-a", quota={"maxEndpoints": 5}, observed_generation=1
    )
    TenantBinding.objects.create(tenant=tenant, group="group-a", role="editor")
    editor = make_user("erin", groups=["group-a"])
    clients = [client_for(editor) for _ in range(20)]
    start = threading.Barrier(20)
    statuses = [None] * 20

    def create(index):
        try:
            start.wait()
            response = clients[index].post(
                "/tenants/test/endpoints", {**BODY, "endpointName": f"e{index}"}, format="json"
            )
            statuses[index] = (response.status_code, response.json().get("error", {}).get("code"))
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(i,)) for i in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert Endpoint.objects.filter(tenant=tenant).count() == 5
    assert sorted(statuses).count((201, None)) == 5
    assert statuses.count((409, "endpoint_quota_exceeded")) == 15
