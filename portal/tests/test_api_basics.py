import pytest

pytestmark = pytest.mark.django_db


def test_an_unknown_address_is_a_json_404(client):
    response = client.get("/no/such/thing")
    assert response.status_code == 404
    assert response.json() == {
        "status": "ERROR",
        "error": {
            "code": "not_found",
            "message": "There is nothing at this address.",
            "fields": {},
        },
    }


def test_a_wrong_method_is_a_405_in_the_envelope(admin_api):
    response = admin_api.put("/tenants", {}, format="json")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_an_unsupported_media_type_is_a_415(admin_api):
    response = admin_api.generic("POST", "/tenants", "name=x", content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"


def test_the_openapi_schema_and_its_docs_page_are_served(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/tenants", "/tenants/{tenant}"} <= set(paths)
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content


def test_the_schema_documents_real_statuses_bodies_and_errors(client):
    paths = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()[
        "paths"
    ]
    create, delete = paths["/tenants"]["post"], paths["/tenants/{tenant}/endpoints"]["delete"]
    assert set(create["responses"]) == {"201", "400", "401", "403", "409", "413", "415"}
    # A DELETE answers 200 with a body, and takes one.
    assert "204" not in delete["responses"]
    assert delete["requestBody"]["required"]
    assert set(delete["responses"]) == {"200", "400", "401", "403", "404", "413", "415"}
    lists = paths["/tenants/{tenant}/models"]["get"]
    assert {p["name"] for p in lists["parameters"]} >= {"page", "page_size"}


def test_the_browsable_api_renders_for_a_browser(admin_api):
    response = admin_api.get("/tenants", HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b"Tenants" in response.content


def test_healthz_answers_without_login(client):
    assert client.get("/healthz").json() == {"status": "OK"}


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_the_probes_answer_the_kubelet_at_the_pods_ip(client, settings, path):
    # The kubelet's Host header is the pod's IP, never in ALLOWED_HOSTS: Django answered 400,
    # so web pods with a real ALLOWED_HOSTS were never ready.
    settings.ALLOWED_HOSTS = ["portal.example.com"]
    assert client.get(path, HTTP_HOST="10.244.1.17:8000").status_code == 200
    assert client.get("/tenants", HTTP_HOST="10.244.1.17:8000").status_code == 400


def test_readyz_checks_each_dependency(client, settings):
    # The test settings use Redis (make test sets REDIS_URL), the test database, the local
    # filesystem store and the local orchestrator.
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    assert response.json()["checks"] == {
        "database": "ok",
        "broker": "ok",
        "storage": "ok",
        "orchestrator": "ok",
    }


def test_readyz_reports_an_unreachable_orchestrator(client, kube_server, settings, tmp_path):
    from testinfra.servers import free_port, write_kubeconfig
    from workers.backends.kube import reset_kube_client

    settings.MODELPORT_ORCHESTRATOR = "kubernetes"
    settings.KUBECONFIG = str(write_kubeconfig(tmp_path / "kc", f"http://127.0.0.1:{free_port()}"))
    reset_kube_client()
    response = client.get("/readyz")
    reset_kube_client()
    assert response.status_code == 503
    assert response.json()["checks"]["orchestrator"] == "unavailable"
    assert response.json()["status"] == "ERROR"
