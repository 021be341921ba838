"""The CLI against a running portal (pytest-django's live server), with real S3 (versitygw)
and the real test OpenID provider. Storage faults are injected into the CLI's HTTP session."""

import io
import json
import stat
import threading
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.core.management import call_command
from django.db import connections

from applications.models import ApiKey, Plan
from audit.models import AuditRecord
from cli.client import Client
from cli.credentials import Credentials
from cli.main import main
from endpoints.models import Endpoint, ServingTemplate
from endpoints.tasks import sync_endpoint_status
from identity.models import PersonalAccessToken
from models_store.tests.conftest import make_ready_tenant, pending_uploads, stored_objects
from tenants.models import Tenant
from testinfra.identity import add_bob
from testinfra.models import train_iris
from workers.backends.local import LocalOrchestrator

pytestmark = pytest.mark.django_db(transaction=True)
MiB = 1024 * 1024


@pytest.fixture
def run(tmp_path, monkeypatch, live_server, capsys):
    """Runs `modelport <argv>` in this process; returns (exit code, stdout, stderr)."""
    monkeypatch.setenv("MODELPORT_CONFIG", str(tmp_path / "config" / "credentials.json"))
    monkeypatch.setenv("MODELPORT_SERVER", live_server.url)
    monkeypatch.delenv("MODELPORT_TOKEN", raising=False)

    def run(*argv, client=None):
        code = main([str(arg) for arg in argv], client=client)
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def team(s3, make_user):
    """Tenant team-a (S3 bucket, Ready) where erin is admin; tenant team-b she can't see."""
    tenant = make_ready_tenant(s3, "team-a", {"team-a-admins": "admin"})
    Tenant.objects.filter(pk=tenant.pk).update(observed_generation=1)  # provisioned
    make_ready_tenant(s3, "team-b", {"team-b-admins": "admin"})
    erin = make_user("erin", groups=["team-a-admins"])
    _, token = PersonalAccessToken.issue(erin)
    return {"tenant": tenant, "token": token, "store": s3}


@pytest.fixture
def signed_in(run, team):
    assert run("login", "--token", team["token"])[0] == 0
    return team


def test_login_with_a_token_keeps_it_in_a_file_only_its_owner_reads(run, team, tmp_path):
    code, out, _ = run("login", "--token", team["token"])
    assert code == 0
    assert out.strip().endswith("as erin (token).")
    path = tmp_path / "config" / "credentials.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["token"] == team["token"]

    code, out, _ = run("--json", "whoami")
    assert json.loads(out)["tenants"] == [{"name": "team-a", "role": "admin"}]

    assert run("logout")[0] == 0
    assert not path.exists()


def test_a_refused_token_is_the_apis_sentence_and_exit_code_1(run, team):
    code, out, err = run("login", "--token", "mpt_not-a-token")
    assert code == 1
    assert out == ""
    assert (
        err.startswith("error: ")
        and "unknown, revoked or expired. Create a new one. (authentication_failed)" in err
    )


def test_models_upload_in_parts_straight_to_storage_and_list(run, signed_in, tmp_path):
    folder = tmp_path / "model"
    (folder / "variables").mkdir(parents=True)
    (folder / "saved_model.pb").write_bytes(b"g" * (8 * MiB + 5))  # two parts
    (folder / "variables" / "variables.index").write_bytes(b"idx")
    code, out, err = run("models", "upload", "team-a", "resnet", 1, folder)
    assert code == 0, err
    assert out.strip() == f"Uploaded 2 file(s), {8 * MiB + 8:,} bytes, to resnet version 1."
    assert "saved_model.pb: 100%" in err

    tenant, store = signed_in["tenant"], signed_in["store"]
    assert stored_objects(store, tenant.bucket) == {
        "resnet/1/saved_model.pb": 8 * MiB + 5,
        "resnet/1/variables/variables.index": 3,
    }
    code, out, _ = run("models", "list", "team-a")
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "VERSION", "PATH", "SIZE"]
    assert "resnet/1/saved_model.pb" in out

    target = tmp_path / "index"
    code, out, err = run(
        "models", "download", "team-a", "resnet", 1, "variables/variables.index", "-o", target
    )
    assert code == 0, err
    assert target.read_bytes() == b"idx"
    missing = run("models", "download", "team-a", "resnet", 1, "nope", "-o", target)
    assert "(model_file_not_found)" in missing[2]
    assert target.read_bytes() == b"idx"

    again = run("models", "upload", "team-a", "resnet", 1, folder)
    assert again[0] == 1
    assert "(file_exists)" in again[2]


def test_a_part_storage_fails_once_is_sent_again(run, signed_in, tmp_path):
    failures = []

    class FlakyStorage(requests.Session):
        def put(self, url, **kwargs):
            if not failures:
                failures.append(url)
                response = requests.Response()
                response.status_code, response.reason, response.url = 503, "Slow Down", url
                return response
            return super().put(url, **kwargs)

    model = tmp_path / "model.joblib"
    model.write_bytes(b"m" * 1000)
    client = Client(Credentials.load(), session=FlakyStorage())
    code, _, err = run("models", "upload", "team-a", "iris", 1, model, client=client)
    assert code == 0, err
    assert len(failures) == 1
    tenant, store = signed_in["tenant"], signed_in["store"]
    assert stored_objects(store, tenant.bucket) == {"iris/1/model.joblib": 1000}


def test_a_part_storage_refuses_aborts_the_upload(run, signed_in, tmp_path, monkeypatch):
    monkeypatch.setattr("cli.upload.RETRY_AFTER", (0, 0, 0))

    class DownStorage(requests.Session):
        def put(self, url, **kwargs):
            raise requests.ConnectionError("storage is down")

    model = tmp_path / "model.joblib"
    model.write_bytes(b"m" * 1000)
    client = Client(Credentials.load(), session=DownStorage())
    code, _, err = run("models", "upload", "team-a", "iris", 1, model, client=client)
    assert code == 1
    assert "A part could not be sent after 4 tries: the connection failed" in err
    tenant, store = signed_in["tenant"], signed_in["store"]
    assert pending_uploads(store, tenant.bucket) == []
    assert stored_objects(store, tenant.bucket) == {}


def test_endpoints_applications_and_usage_from_the_command_line(
    run, signed_in, live_server, settings
):
    Plan.objects.create(name="free", requests_per_minute=60)
    ServingTemplate.objects.get_or_create(name="mlserver")
    code, out, err = run(
        "endpoints", "create", "team-a", "iris", "--model", "iris", "--serving", "mlserver",
        "--subject", "client", "--replicas", 2,
    )  # fmt: skip
    assert code == 0, err
    # The address that works here: the gateway's; the cluster ingress's only on a cluster.
    assert out.startswith(
        f"Endpoint iris created. Call it through the gateway at {live_server.url}/gateway/"
        "team-a/iris/.\n"
    )
    settings.MODELPORT_ORCHESTRATOR = "kubernetes"
    code, out, err = run(
        "endpoints", "create", "team-a", "iris-2", "--model", "iris", "--serving", "mlserver",
    )  # fmt: skip
    assert code == 0, err
    assert out.startswith(
        f"Endpoint iris-2 created. Call it through the gateway at {live_server.url}/gateway/"
        "team-a/iris-2/ (or with a client certificate at the cluster ingress, "
        "iris-2-team-a.modelport.local:443)."
    )
    settings.MODELPORT_ORCHESTRATOR = "local"
    Endpoint.objects.filter(name="iris-2").delete()
    assert "Warning: iris model is not available on the platform." in out
    assert Endpoint.objects.get(name="iris").replicas == 2

    assert run("endpoints", "scale", "team-a", "iris", 0)[0] == 0
    assert Endpoint.objects.get(name="iris").replicas == 0
    # The audit trail says who, and that it came through the CLI.
    created, scaled = AuditRecord.objects.filter(kind="endpoint", name="iris").order_by("id")
    assert (created.action, created.actor, created.door) == ("create", "erin", "cli")
    assert scaled.changes == {"replicas": {"before": 2, "after": 0}}
    code, out, _ = run("--json", "endpoints", "update", "team-a", "iris", "--subject", "client-2")
    assert json.loads(out)["values"] == {"subjectName": "client-2"}
    code, out, _ = run("endpoints", "list", "team-a")
    # The portal's words for the phase, and the gateway's address.
    row = out.splitlines()[1].split()
    assert row == ["iris", "Failed", f"{live_server.url}/gateway/team-a/iris/"]  # no model yet

    code, out, err = run(
        "applications", "create", "team-a", "shop", "--plan", "free", "--endpoint", "iris"
    )
    assert code == 0, err
    key = out.splitlines()[-1]
    assert key.startswith("mpk_")
    assert ApiKey.objects.get().prefix == key[:12]
    code, out, _ = run("applications", "list", "team-a")
    assert f"{key[:12]}…" in out and key not in out
    code, out, _ = run("--json", "applications", "rotate", "team-a", "shop", "--grace-seconds", 60)
    assert json.loads(out)["key"] != key
    assert run("applications", "delete", "team-a", "shop")[0] == 0

    assert run("usage", "team-a")[1].startswith("No calls in this period")
    code, out, _ = run("usage", "team-a", "--csv")
    assert out.splitlines()[0].startswith("time,")
    assert run("endpoints", "delete", "team-a", "iris")[0] == 0


def test_another_tenant_is_not_found_and_bad_input_names_the_field(run, signed_in):
    code, _, err = run("endpoints", "list", "team-b")
    assert code == 1
    assert "(tenant_not_found)" in err

    code, _, err = run(
        "endpoints", "create", "team-a", "Bad_Name", "--model", "m", "--serving", "mlserver",
        "--subject", "c",
    )  # fmt: skip
    assert code == 1
    assert "endpointName:" in err

    with pytest.raises(SystemExit) as usage:
        run("endpoints", "create", "team-a", "iris", "--resources", "{not json")
    assert usage.value.code == 2


def test_single_sign_on_login_and_an_expired_id_token_is_refreshed(
    run, oidc, live_server, settings, tmp_path
):
    add_bob(oidc, role="viewer")
    callback = f"{live_server.url}/authenticate/callback"
    oidc.set_clients([callback])
    settings.OIDC_CLI_REDIRECT_URI = callback
    redirect = requests.get(f"{live_server.url}/authenticate", allow_redirects=False, timeout=10)
    back = oidc.log_in(redirect.headers["Location"], "bob", "bob-password")
    code_value = parse_qs(urlsplit(back).query)["code"][0]

    code, out, err = run("login", "--code", code_value)
    assert code == 0, err
    assert out.strip() == f"Logged in to {live_server.url} as bob."
    assert run("tenants", "list")[1].split() == ["team-a"]

    # An ID token the API refuses is traded for a new one with the refresh token, once.
    path = tmp_path / "config" / "credentials.json"
    stored = json.loads(path.read_text())
    path.write_text(json.dumps({**stored, "id_token": "expired"}))
    code, out, err = run("tenants", "list")
    assert code == 0, err
    assert out.split() == ["team-a"]
    # (The provider may sign the same claims again within a second: the same token.)
    assert json.loads(path.read_text())["id_token"].count(".") == 2


def test_platform_admins_manage_tenants_plans_and_bindings(
    run, s3, platform_admin, ca_pem, tmp_path
):
    _, token = PersonalAccessToken.issue(platform_admin)
    assert run("login", "--token", token)[0] == 0
    cert = tmp_path / "ca.pem"
    cert.write_text(ca_pem)
    code, out, err = run(
        "tenants", "create", "team-c", "--scope", "team-c-users", "--cert", cert,
        "--quota", '{"maxEndpoints": 2}',
    )  # fmt: skip
    assert code == 0, err
    code, out, _ = run("--json", "tenants", "show", "team-c")
    shown = json.loads(out)
    assert shown["quota"] == {"maxEndpoints": 2}
    assert shown["cert"]["subject"] == "CN=Modelport test CA"

    code, out, err = run("--json", "tenants", "update", "team-c", "--quota", '{"maxEndpoints": 4}')
    assert code == 0, err
    assert json.loads(out)["quota"] == {"maxEndpoints": 4}
    code, out, err = run("--json", "tenants", "update", "team-c", "--remove-cert")
    assert code == 0, err
    assert json.loads(out)["cert"] is None

    assert run("bindings", "add", "team-c", "team-c-admins", "admin")[0] == 0
    code, out, _ = run("bindings", "list", "team-c")
    assert [line.split() for line in out.splitlines()] == [
        ["GROUP", "ROLE"],
        ["team-c-admins", "admin"],
        ["team-c-users", "editor"],
    ]
    assert run("bindings", "remove", "team-c", "team-c-admins")[0] == 0

    code, out, err = run("plans", "create", "gold", "--requests-per-minute", 600)
    assert code == 0, err
    assert Plan.objects.get(name="gold").requests_per_minute == 600
    code, _, err = run("plans", "create", "gold")
    assert code == 1 and "(plan_exists)" in err

    assert run("tenants", "delete", "team-c")[0] == 0
    assert "team-c" not in run("tenants", "list")[1].split()


def test_a_folder_goes_up_whole_or_not_at_all(run, signed_in, tmp_path):
    """The second file's part is refused after the first file's parts are in storage: neither
    file is kept, in storage or in the version."""

    class RefusesTheSecondPut(requests.Session):
        puts = 0

        def put(self, url, **kwargs):
            self.puts += 1
            if self.puts == 2:
                response = requests.Response()
                response.status_code, response.reason, response.url = 403, "Forbidden", url
                response._content = b"<Error><Message>Access Denied</Message></Error>"
                return response
            return super().put(url, **kwargs)

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "a.bin").write_bytes(b"a" * 10)
    (folder / "b.bin").write_bytes(b"b" * 10)
    client = Client(Credentials.load(), session=RefusesTheSecondPut())
    code, _, err = run("models", "upload", "team-a", "two", 1, folder, client=client)
    assert code == 1
    assert "error: Storage refused a part: Access Denied (storage_refused)" in err
    tenant, store = signed_in["tenant"], signed_in["store"]
    assert stored_objects(store, tenant.bucket) == {}
    assert pending_uploads(store, tenant.bucket) == []
    assert run("--json", "models", "list", "team-a")[1].strip() == "[]"


@pytest.fixture
def iris(run, signed_in, tmp_path):
    """Model iris version 1 (a scikit-learn classifier) uploaded to team-a, the serving
    templates seeded; the model servers the local runtime starts are stopped after the test."""
    call_command("seed_serving_templates", stdout=io.StringIO())
    model = tmp_path / "model.joblib"
    train_iris(model)
    assert run("models", "upload", "team-a", "iris", 1, model)[0] == 0
    yield
    LocalOrchestrator().runtime.stop_all()


@pytest.fixture
def status_sync(iris):
    """What beat does every few seconds in production: read the model servers' state into the
    endpoints (here every half second, in a thread)."""
    stop = threading.Event()

    def loop():
        try:
            while not stop.wait(0.5):
                sync_endpoint_status.apply()
        finally:
            connections.close_all()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=10)


CREATE_IRIS = (
    "endpoints", "create", "team-a", "iris", "--serving", "mlserver", "--subject", "client",
)  # fmt: skip


def test_wait_follows_an_endpoint_until_it_serves_and_after_a_scale(run, status_sync):
    assert run(*CREATE_IRIS, "--model", "irs")[0] == 0  # a typo: the endpoint fails
    code, out, err = run("endpoints", "update", "team-a", "iris", "--model", "iris", "--wait")
    assert code == 0, err
    assert out.strip() == "Endpoint iris updated.\nEndpoint iris is Ready."
    assert err.splitlines()[-1] == "iris: Ready"
    detail = json.loads(run("--json", "endpoints", "show", "team-a", "iris")[1])
    assert (detail["phase"], detail["replicas"]["available"]) == ("Ready", 1)

    code, out, err = run("endpoints", "scale", "team-a", "iris", 0, "--wait", "--timeout", 60)
    assert code == 0, err
    detail = json.loads(run("--json", "endpoints", "show", "team-a", "iris")[1])
    assert (detail["desired replicas"], detail["replicas"]["available"]) == (0, 0)


def test_wait_stops_at_a_failure_with_its_reason(run, status_sync):
    code, out, err = run(*CREATE_IRIS, "--model", "nothing-uploaded", "--wait")
    assert code == 1
    assert out == ""
    assert (
        "error: Endpoint iris failed: nothing-uploaded has no ready version that {latest {}} "
        "selects in tenant team-a; upload one and the endpoint starts. (endpoint_failed)"
    ) in err


def test_wait_gives_up_at_the_timeout_with_the_endpoints_phase(run, iris):
    """Nothing reads the model server's state here, so the endpoint stays Provisioning."""
    code, out, err = run(*CREATE_IRIS, "--model", "iris", "--wait", "--timeout", 1)
    assert (code, out) == (1, "")
    assert (
        "error: Endpoint iris is still Provisioning after 1 s: Objects applied; waiting for the "
        "pods to become ready. (timeout)"
    ) in err


def test_a_login_code_that_starts_with_a_dash_is_sent_as_the_code(run, settings):
    """Codes are random base64url: argparse must not take `-Zx9_Q` for an option (it did, and
    the CLI exited 2 before sending anything)."""
    settings.OIDC_ISSUER = ""
    code, _, err = run("login", "--code", "-Zx9_Q")
    # The code reached the API, which has no identity provider to trade it with.
    assert code == 1
    assert "(oidc_disabled)" in err


def test_the_audit_trail_from_the_command_line(run, signed_in):
    assert run("bindings", "add", "team-a", "auditors", "viewer")[0] == 0
    assert run("bindings", "remove", "team-a", "auditors")[0] == 0
    code, out, err = run("audit", "team-a")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["TIME", "ACTOR", "DOOR", "ACTION", "KIND", "NAME"]
    assert [line.split()[1:] for line in lines[1:]] == [
        ["erin", "cli", "unbind", "binding", "team-a/auditors"],
        ["erin", "cli", "bind", "binding", "team-a/auditors"],
    ]
    code, out, _ = run("audit", "team-a", "--action", "bind", "--jsonl")
    [line] = out.splitlines()
    assert json.loads(line)["changes"] == {"role": {"before": None, "after": "viewer"}}
    # Everyone's trail is for platform admins.
    code, _, err = run("audit")
    assert code == 1 and "platform admin" in err
