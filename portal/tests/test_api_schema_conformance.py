"""The OpenAPI schema at /api/schema/ is the truth about the API: schemathesis (a client nobody
here wrote) reads it from the running portal, generates requests from it (valid ones and broken
ones), sends them as a platform admin, and checks every answer with all its checks: no 5xx, the
status and the body each documented, valid data accepted, invalid data refused, authentication
not ignored.

The portal runs for real (Django's live server over HTTP, PostgreSQL, Redis as the broker) with a
tenant, a model version with a file, an endpoint and an application in it. Celery runs no task:
the API writes the desired state and queues its reconciles, as it does when the worker is busy,
so the fuzzer's endpoints start no model server.

To run it alone and read the figures it prints (operations, test cases, failures):
    pytest -s portal/tests/test_api_schema_conformance.py
"""

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from applications.models import Plan
from applications.services import create_application_from_names
from core.phase import Phase
from endpoints.models import Endpoint, ServingTemplate
from identity.models import PersonalAccessToken
from models_store.models import ModelFile, ModelVersion, VersionState
from portal.celery import app
from tenants.models import Tenant, TenantBinding
from workers.storage import get_object_store

CONFIG = Path(__file__).with_name("schemathesis.toml")
# Test cases per operation in the fuzzing phase (the coverage phase adds its own: each field's
# boundaries and wrong types, other methods, no credential); with it the run takes about two and
# a half minutes on two cores.
MAX_EXAMPLES = 10


@pytest.fixture
def portal(live_server, platform_admin, ca_pem, settings):
    """The running portal with one of everything, and a platform admin's token for it."""
    settings.MODELPORT_DOMAIN = "test-domain.com"
    call_command("seed_serving_templates")  # transactional tests start with empty tables
    tenant = Tenant.objects.create(
        name="test",
        scope="group-a",
        ca_cert=ca_pem,
        quota={"maxEndpoints": 5},
        phase=Phase.READY,
        observed_generation=1,
    )
    TenantBinding.objects.create(tenant=tenant, group="group-a", role="editor")
    store = get_object_store()
    store.ensure_bucket(tenant.bucket)
    version = ModelVersion.objects.create(
        tenant=tenant, name="resnet", version=1, state=VersionState.READY
    )
    store.put_stream(tenant.bucket, "resnet/1/saved_model.pb", io.BytesIO(b"model bytes"), 11)
    ModelFile.objects.create(model_version=version, path="saved_model.pb", size=11)
    endpoint = Endpoint.objects.create(
        tenant=tenant,
        name="endpoint",
        model_name="resnet",
        serving=ServingTemplate.objects.get(name="tf-serving"),
        subject_name="client",
        resources={"requests": {"cpu": "1", "memory": "1Gi"}},
        replicas=1,
    )
    plan = Plan.objects.create(name="basic")
    create_application_from_names(
        tenant=tenant,
        name="app",
        plan_name=plan.name,
        endpoint_names=[endpoint.name],
        created_by=platform_admin,
    )
    _, token = PersonalAccessToken.issue(platform_admin)
    app.conf.task_always_eager = False
    yield live_server.url, token
    app.control.purge()  # the reconciles it queued are for rows the test database forgets


def run_schemathesis(url, token, report):
    """The schemathesis CLI against the running portal; its JSON report."""
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(CONFIG),
        "run",
        f"{url}/api/schema/",
        "--header",
        f"Authorization: Bearer {token}",
        "--max-examples",
        str(MAX_EXAMPLES),
        "--continue-on-failure",
        "--report",
        "json",
        "--report-json-path",
        str(report),
    ]
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=540, check=False, cwd=report.parent
    )
    print(completed.stdout)
    return json.loads(report.read_text()), completed


@pytest.mark.timeout(600)
def test_every_answer_is_the_one_the_schema_documents(portal, tmp_path):
    url, token = portal
    report, completed = run_schemathesis(url, token, tmp_path / "report.json")
    operations, cases = report["operations"], report["test_cases"]
    print(
        f"schemathesis: {operations['tested']} of {operations['total']} operations, "
        f"{cases['generated']} test cases, {cases['with_failures']} with failures, "
        f"{len(report['failures'])} kinds of failure, {len(report['errors'])} errors"
    )
    assert report["complete"], completed.stderr[-3000:]
    assert operations["tested"] == operations["total"]
    assert not report["errors"], report["errors"]
    assert not report["failures"], json.dumps(report["failures"], indent=1)
    assert report["exit_code"] == 0
