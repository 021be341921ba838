import pytest

from core.phase import Phase
from endpoints.models import Endpoint, ServingTemplate
from tenants.models import Tenant, TenantBinding


@pytest.fixture
def tenant(db, ca_pem, settings):
    settings.MODELPORT_DOMAIN = "test-domain.com"
    tenant = Tenant.objects.create(
        name="test",
        scope="group-a",
        ca_cert=ca_pem,
        quota={"maxEndpoints": 5},
        phase=Phase.READY,
        observed_generation=1,
    )
    TenantBinding.objects.create(tenant=tenant, group="group-a", role="editor")
    TenantBinding.objects.create(tenant=tenant, group="group-viewers", role="viewer")
    return tenant


@pytest.fixture
def editor(make_user, tenant):
    return make_user("erin", groups=["group-a"])


@pytest.fixture
def viewer(make_user, tenant):
    return make_user("victor", groups=["group-viewers"])


@pytest.fixture
def editor_api(client_for, editor):
    return client_for(editor)


@pytest.fixture
def viewer_api(client_for, viewer):
    return client_for(viewer)


def new_endpoint(tenant, name="endpoint", serving="tf-serving", **fields):
    """An endpoint row of `tenant` (model resnet, one replica, 1 CPU and 1 GiB), as the API would
    save it; `fields` override."""
    values = {
        "tenant": tenant,
        "name": name,
        "model_name": "resnet",
        "serving": ServingTemplate.objects.get(name=serving),
        "subject_name": "client",
        "resources": {"requests": {"cpu": "1", "memory": "1Gi"}},
        "replicas": 1,
        **fields,
    }
    return Endpoint.objects.create(**values)


@pytest.fixture
def make_endpoint(tenant):
    def make(name="endpoint", **fields):
        return new_endpoint(fields.pop("tenant", tenant), name, **fields)

    return make
