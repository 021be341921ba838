"""The Helm chart (deploy/chart) checked by helm itself and by a real kube-apiserver
(testinfra/control_plane.py, kwok's fake nodes).

`helm lint --strict` with the defaults and with the bundled databases; `helm template` applied
with server-side apply into a fresh namespace the way `helm install` orders it (the pre-install
hooks first, then the rest): every object is accepted by the apiserver's validation and
admission, the migrations Job completes (kwok ends a Job's pods with Succeeded), the web, worker
and beat Deployments become available, the PodDisruptionBudgets allow one disruption. The
worker's ServiceAccount has the rights the product uses (SubjectAccessReview) and runs a tenant
and an endpoint from provisioning to deletion with a TokenRequest token; the web server's
account has none. What kwok cannot show: the containers never run (no image is built here), so
the probes, the commands and the read-only root filesystem are not exercised.

Run: testinfra/build_helm.sh, then .venv/bin/pytest -m cluster deploy/tests/test_chart.py
"""

import json
import uuid
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.rest import ApiException
from kubernetes.dynamic import DynamicClient

from core.phase import Phase
from endpoints.tests.conftest import new_endpoint
from tenants.models import Tenant
from tenants.services import request_tenant_deletion
from testinfra.fixtures import wait_until
from workers.backends.kube import reset_kube_client
from workers.tests.test_real_cluster import (
    DEPLOY_MANIFEST,
    read,
    reconcile,
    status_until,
)

from .conftest import HelmError

pytestmark = [pytest.mark.cluster]

CHART = Path(__file__).resolve().parents[1] / "chart"
CHART_YAML = yaml.safe_load((CHART / "Chart.yaml").read_text())
FIELD_MANAGER = "helm-test"
# What an install needs besides the defaults; settings a real install would have.
SETTINGS = [
    "settings.SECRET_KEY=test-secret-key-test-secret-key-test",
    "settings.DATABASE_URL=postgres://modelport:secret@db.example.com:5432/modelport",
    "settings.ALLOWED_HOSTS=modelport.example.com\\,localhost",
]
BUNDLED = ["postgresql.enabled=true", "postgresql.password=secret123", "redis.enabled=true"]
# Helm's install order for the kinds the chart has (pkg/release/util/kind_sorter.go).
INSTALL_ORDER = [
    "NetworkPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "ClusterRole",
    "ClusterRoleBinding",
    "Service",
    "Deployment",
    "StatefulSet",
    "Job",
    "Ingress",
]


def render(helm, release, namespace, *values):
    output = helm(
        "template", release, str(CHART), "--namespace", namespace, *(f"--set={v}" for v in values)
    )
    return [document for document in yaml.safe_load_all(output) if document]


def by_kind(documents, kind):
    return {d["metadata"]["name"]: d for d in documents if d["kind"] == kind}


def hook(document):
    return document["metadata"].get("annotations", {}).get("helm.sh/hook")


def containers(documents):
    """Every Modelport container (not the bundled databases') with its object's name."""
    for document in documents:
        if document["kind"] in ("Deployment", "Job", "StatefulSet"):
            component = document["metadata"]["labels"]["app.kubernetes.io/component"]
            if component in ("web", "worker", "beat", "migrations"):
                for container in document["spec"]["template"]["spec"]["containers"]:
                    yield document["metadata"]["name"], container


def apply(dynamic, documents, namespace):
    """Server-side apply, one object at a time, in Helm's install order; the apiserver validates
    and admits each (an ApiException is the test's failure)."""
    for document in sorted(documents, key=lambda d: INSTALL_ORDER.index(d["kind"])):
        resource = dynamic.resources.get(api_version=document["apiVersion"], kind=document["kind"])
        dynamic.server_side_apply(
            resource,
            body=document,
            namespace=namespace if resource.namespaced else None,
            field_manager=FIELD_MANAGER,
        )


def new_namespace(admin):
    name = f"mp-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(admin).create_namespace({"metadata": {"name": name}})
    return name


def delete_namespace(admin, name):
    try:
        client.CoreV1Api(admin).delete_namespace(name)
    except ApiException as exc:
        if exc.status != 404:
            raise


def job_complete(admin, namespace, name):
    job = client.BatchV1Api(admin).read_namespaced_job_status(name, namespace)
    conditions = {c.type: c.status for c in job.status.conditions or []}
    assert conditions.get("Failed") != "True", job.status
    return conditions.get("Complete") == "True"


def cluster_state(admin, namespace):
    """The namespace's pods and the nodes' readiness and taints, for a test that timed out."""
    core = client.CoreV1Api(admin)
    pods = [
        f"pod {p.metadata.name}: {p.status.phase} on {p.spec.node_name}, "
        + ", ".join(f"{c.type}={c.status} {c.reason or ''}" for c in p.status.conditions or [])
        for p in core.list_namespaced_pod(namespace).items
    ]
    nodes = [
        f"node {n.metadata.name}: "
        + ", ".join(f"{c.type}={c.status}" for c in n.status.conditions or [])
        + f"; taints {[t.key for t in n.spec.taints or []]}"
        for n in core.list_node().items
    ]
    return "\n".join(pods + nodes)


def deployment_available(admin, namespace, name):
    deployment = client.AppsV1Api(admin).read_namespaced_deployment_status(name, namespace)
    conditions = {c.type: c.status for c in deployment.status.conditions or []}
    return (
        conditions.get("Available") == "True"
        and deployment.status.available_replicas == deployment.spec.replicas
        and deployment.status.updated_replicas == deployment.spec.replicas
    )


@pytest.fixture(scope="module")
def installed(helm, admin):
    """The chart as `helm install` would put it into a fresh namespace (the release is named
    after the namespace, so its cluster-scoped objects are its own): the pre-install hooks (the
    settings Secret, then the migrations Job, which must complete), then everything else."""
    namespace = new_namespace(admin)
    documents = render(helm, namespace, namespace, *SETTINGS)
    hooks = sorted(
        (d for d in documents if hook(d)),
        key=lambda d: int(d["metadata"]["annotations"].get("helm.sh/hook-weight", "0")),
    )
    dynamic = DynamicClient(admin)
    fullname = f"{namespace}-modelport"
    for document in hooks:
        apply(dynamic, [document], namespace)
    try:
        wait_until(
            lambda: job_complete(admin, namespace, f"{fullname}-migrate"),
            timeout=120,
            message="the migrations Job to complete",
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{cluster_state(admin, namespace)}") from None
    apply(dynamic, [d for d in documents if not hook(d)], namespace)
    yield {"namespace": namespace, "fullname": fullname, "documents": documents}
    for document in documents:
        if document["kind"] in ("ClusterRole", "ClusterRoleBinding"):
            resource = dynamic.resources.get(
                api_version=document["apiVersion"], kind=document["kind"]
            )
            dynamic.delete(resource, name=document["metadata"]["name"])
    delete_namespace(admin, namespace)


# --- helm's own checks ---------------------------------------------------------------------------


def test_helm_lint_strict_passes_with_the_defaults_and_with_everything_on(helm):
    assert "1 chart(s) linted, 0 chart(s) failed" in helm("lint", "--strict", str(CHART))
    everything = [
        *SETTINGS,
        *BUNDLED,
        "ingress.enabled=true",
        "ingress.className=nginx",
        "ingress.tlsSecret=modelport-tls",
    ]
    output = helm("lint", "--strict", str(CHART), *(f"--set={v}" for v in everything))
    assert "0 chart(s) failed" in output


def test_the_values_schema_refuses_a_setting_that_is_not_a_string(helm):
    """An unquoted number would reach the pods as 2.147483648e+10; the schema says so first."""
    with pytest.raises(HelmError) as failure:
        helm("lint", "--strict", str(CHART), "--set", "settings.MODELPORT_ARCHIVE_MAX_BYTES=1")
    assert "'/settings/MODELPORT_ARCHIVE_MAX_BYTES': got number, want string" in str(failure.value)
    with pytest.raises(HelmError):
        helm("lint", "--strict", str(CHART), "--set", "web.replica=2")  # a misspelt value


def test_the_bundled_postgresql_needs_a_password(helm):
    with pytest.raises(HelmError) as failure:
        render(helm, "modelport", "modelport", "postgresql.enabled=true")
    assert "postgresql.password is required" in failure.value.stderr


# --- the rendered chart --------------------------------------------------------------------------


def test_the_chart_renders_the_product_and_no_databases_by_default(helm):
    documents = render(helm, "modelport", "modelport", *SETTINGS)
    assert sorted((d["kind"], d["metadata"]["name"]) for d in documents) == [
        ("ClusterRole", "modelport-worker"),
        ("ClusterRoleBinding", "modelport-worker"),
        ("Deployment", "modelport-beat"),
        ("Deployment", "modelport-web"),
        ("Deployment", "modelport-worker"),
        ("Job", "modelport-migrate"),
        ("NetworkPolicy", "modelport-default-deny"),
        ("NetworkPolicy", "modelport-web"),
        ("NetworkPolicy", "modelport-worker-metrics"),
        ("PodDisruptionBudget", "modelport-web"),
        ("PodDisruptionBudget", "modelport-worker"),
        ("Secret", "modelport-settings"),
        ("Service", "modelport-web"),
        ("Service", "modelport-worker-metrics"),
        ("ServiceAccount", "modelport"),
        ("ServiceAccount", "modelport-worker"),
    ]
    labels = by_kind(documents, "Deployment")["modelport-web"]["metadata"]["labels"]
    assert labels == {
        "app.kubernetes.io/name": "modelport",
        "app.kubernetes.io/instance": "modelport",
        "app.kubernetes.io/component": "web",
        "app.kubernetes.io/version": CHART_YAML["appVersion"],
        "app.kubernetes.io/managed-by": "Helm",
        "helm.sh/chart": f"modelport-{CHART_YAML['version']}",
    }
    assert {hook(d) for d in documents if hook(d)} == {"pre-install,pre-upgrade"}
    job = by_kind(documents, "Job")["modelport-migrate"]
    (migrate,) = job["spec"]["template"]["spec"]["containers"]
    assert migrate["command"][-1] == (
        "python manage.py migrate --no-input && python manage.py bootstrap"
    )
    beat = by_kind(documents, "Deployment")["modelport-beat"]["spec"]
    assert (beat["replicas"], beat["strategy"]) == (1, {"type": "Recreate"})
    for name, container in containers(documents):
        assert container["image"] == f"modelport:{CHART_YAML['appVersion']}", name
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["MODELPORT_ORCHESTRATOR"] == "kubernetes", name
        assert env["MODELPORT_GATEWAY_NAMESPACE"] == "modelport", name


def test_the_settings_become_the_secret_and_existing_secret_replaces_it(helm):
    documents = render(helm, "modelport", "modelport", *SETTINGS)
    secret = by_kind(documents, "Secret")["modelport-settings"]
    assert secret["stringData"]["ALLOWED_HOSTS"] == "modelport.example.com,localhost"
    assert secret["stringData"]["SECRET_KEY"] == "test-secret-key-test-secret-key-test"
    for name, container in containers(documents):
        assert container["envFrom"] == [{"secretRef": {"name": "modelport-settings"}}], name

    documents = render(helm, "modelport", "modelport", "existingSecret=site-settings")
    assert by_kind(documents, "Secret") == {}
    for name, container in containers(documents):
        assert container["envFrom"] == [{"secretRef": {"name": "site-settings"}}], name
    for deployment in by_kind(documents, "Deployment").values():
        assert "annotations" not in deployment["spec"]["template"]["metadata"]


def test_the_bundled_databases_render_and_the_product_points_at_them(helm):
    documents = render(helm, "modelport", "modelport", *BUNDLED)
    (statefulset,) = by_kind(documents, "StatefulSet").values()
    assert statefulset["metadata"]["name"] == "modelport-postgresql"
    assert statefulset["spec"]["volumeClaimTemplates"][0]["spec"]["resources"] == {
        "requests": {"storage": "8Gi"}
    }
    assert by_kind(documents, "Secret")["modelport-postgresql"]["stringData"] == {
        "password": "secret123"
    }
    assert "modelport-redis" in by_kind(documents, "Deployment")
    assert {"modelport-postgresql", "modelport-redis"} <= set(by_kind(documents, "Service"))
    assert {"modelport-postgresql", "modelport-redis"} <= set(by_kind(documents, "NetworkPolicy"))
    for name, container in containers(documents):
        env = {e["name"]: e for e in container["env"]}
        assert env["DATABASE_URL"]["value"] == (
            "postgres://modelport:$(BUNDLED_POSTGRES_PASSWORD)@modelport-postgresql:5432/modelport"
        ), name
        assert env["REDIS_URL"]["value"] == "redis://modelport-redis:6379/0", name
        # $(VAR) is expanded only from variables listed before it.
        names = list(env)
        assert names.index("BUNDLED_POSTGRES_PASSWORD") < names.index("DATABASE_URL"), name
    # The database is installed with the release: the first migration runs after it.
    assert hook(by_kind(documents, "Job")["modelport-migrate"]) == "post-install,pre-upgrade"


def test_the_ingress_renders_its_host_tls_secret_and_class(helm):
    documents = render(
        helm,
        "modelport",
        "modelport",
        "ingress.enabled=true",
        "ingress.host=portal.example.org",
        "ingress.tlsSecret=portal-tls",
        "ingress.className=nginx",
    )
    spec = by_kind(documents, "Ingress")["modelport"]["spec"]
    assert spec["ingressClassName"] == "nginx"
    assert spec["tls"] == [{"hosts": ["portal.example.org"], "secretName": "portal-tls"}]
    (rule,) = spec["rules"]
    assert rule["host"] == "portal.example.org"
    assert rule["http"]["paths"][0]["backend"]["service"] == {
        "name": "modelport-web",
        "port": {"name": "http"},
    }


def test_the_charts_cluster_role_is_the_deploy_manifests(helm):
    """The rules the real-cluster tests prove sufficient (workers/tests/test_real_cluster.py)."""
    (chart_role,) = by_kind(render(helm, "modelport", "modelport"), "ClusterRole").values()
    manifest = yaml.safe_load_all(DEPLOY_MANIFEST.read_text())
    (manifest_role,) = [d for d in manifest if d and d["kind"] == "ClusterRole"]
    assert chart_role["rules"] == manifest_role["rules"]


# --- on the real apiserver -----------------------------------------------------------------------


def test_the_apiserver_accepts_the_chart_and_the_deployments_become_available(admin, installed):
    namespace, fullname = installed["namespace"], installed["fullname"]
    apps = client.AppsV1Api(admin)
    deployments = [f"{fullname}-web", f"{fullname}-worker", f"{fullname}-beat"]
    for name in deployments:
        wait_until(
            lambda name=name: deployment_available(admin, namespace, name),
            timeout=60,
            message=f"{name} available",
        )
    assert [
        apps.read_namespaced_deployment(n, namespace).status.ready_replicas for n in deployments
    ] == [
        2,
        2,
        1,
    ]

    # The ServiceAccount admission plugin mounts a token only where the chart asks for one.
    core = client.CoreV1Api(admin)
    pods = core.list_namespaced_pod(namespace).items
    accounts = {}
    for pod in pods:
        component = pod.metadata.labels["app.kubernetes.io/component"]
        tokens = [v.name for v in pod.spec.volumes or [] if v.name.startswith("kube-api-access")]
        accounts.setdefault(component, set()).add((pod.spec.service_account_name, bool(tokens)))
    assert accounts == {
        "web": {(fullname, True)},
        "worker": {(f"{fullname}-worker", True)},
        "beat": {(fullname, False)},
        "migrations": {("default", False)},
    }
    for pod in pods:
        assert pod.spec.security_context.run_as_user == 10001
        assert pod.spec.security_context.run_as_non_root

    # The disruption controller counts the pods the budgets cover.
    policy = client.PolicyV1Api(admin)
    for name in (f"{fullname}-web", f"{fullname}-worker"):
        wait_until(
            lambda name=name: (
                policy.read_namespaced_pod_disruption_budget(
                    name, namespace
                ).status.disruptions_allowed
                == 1
            ),
            timeout=30,
            message=f"{name}'s budget to allow one disruption",
        )


def test_the_migrations_job_completed_before_the_release_was_applied(admin, installed):
    """kwok's pod-complete stage ends a Job's pod with Succeeded, exit code 0: the hook ran."""
    job = client.BatchV1Api(admin).read_namespaced_job_status(
        f"{installed['fullname']}-migrate", installed["namespace"]
    )
    assert (job.status.succeeded, job.status.failed) == (1, None)


@pytest.mark.timeout(900)
def test_helm_installs_upgrades_and_uninstalls_the_release(helm, admin, control_plane):
    """helm itself against the apiserver: the pre-install hooks in their order (the settings
    Secret, then the migrations Job, deleted once it succeeded) before the Deployments, which
    `--wait` sees available; an upgrade with another setting runs the migrations again and rolls
    the pods (their settings checksum changed); `helm uninstall` leaves the settings Secret."""
    namespace = f"mp-{uuid.uuid4().hex[:8]}"
    fullname = f"{namespace}-modelport"
    target = ["--kubeconfig", str(control_plane.kubeconfig_path), "--namespace", namespace]
    settings = [f"--set={v}" for v in SETTINGS]
    apps, core = client.AppsV1Api(admin), client.CoreV1Api(admin)
    jobs = client.BatchV1Api(admin)

    def settings_checksum():
        web = apps.read_namespaced_deployment(f"{fullname}-web", namespace)
        return web.spec.template.metadata.annotations["checksum/settings"]

    try:
        helm("install", namespace, str(CHART), *target, "--create-namespace", *settings,
             "--wait", "--timeout=4m", timeout=300)  # fmt: skip
        for component in ("web", "worker", "beat"):
            assert deployment_available(admin, namespace, f"{fullname}-{component}"), component
        assert read(jobs.read_namespaced_job, f"{fullname}-migrate", namespace) is None
        before = settings_checksum()

        helm("upgrade", namespace, str(CHART), *target, *settings,
             "--set=settings.LOG_LEVEL=DEBUG", "--wait", "--timeout=4m", timeout=300)  # fmt: skip
        status = json.loads(helm("status", namespace, *target, "--output=json"))
        assert (status["version"], status["info"]["status"]) == (2, "deployed")
        secret = core.read_namespaced_secret(f"{fullname}-settings", namespace)
        assert secret.data["LOG_LEVEL"] == "REVCVUc="  # DEBUG
        assert settings_checksum() != before
        assert read(jobs.read_namespaced_job, f"{fullname}-migrate", namespace) is None

        helm("uninstall", namespace, *target, "--wait", "--timeout=2m", timeout=180)
        assert apps.list_namespaced_deployment(namespace).items == []
        assert (
            read(client.RbacAuthorizationV1Api(admin).read_cluster_role, f"{fullname}-worker")
            is None
        )
        # A hook, so not part of the release (NOTES.txt and deploy/README.md say so).
        assert core.read_namespaced_secret(f"{fullname}-settings", namespace)
    finally:
        delete_namespace(admin, namespace)


def test_the_bundled_databases_are_accepted_by_the_apiserver(helm, admin):
    """Applied, not waited for: the StatefulSet's claim stays Pending without a storage
    provisioner, which this control plane has none of."""
    namespace = new_namespace(admin)
    try:
        documents = render(helm, namespace, namespace, *SETTINGS, *BUNDLED)
        apply(DynamicClient(admin), documents, namespace)
        fullname = f"{namespace}-modelport"
        statefulset = client.AppsV1Api(admin).read_namespaced_stateful_set(
            f"{fullname}-postgresql", namespace
        )
        assert statefulset.spec.service_name == f"{fullname}-postgresql"
        wait_until(
            lambda: deployment_available(admin, namespace, f"{fullname}-redis"),
            timeout=60,
            message="the bundled Redis available",
        )
    finally:
        dynamic = DynamicClient(admin)
        for kind in ("ClusterRole", "ClusterRoleBinding"):
            resource = dynamic.resources.get(api_version="rbac.authorization.k8s.io/v1", kind=kind)
            dynamic.delete(resource, name=f"{namespace}-modelport-worker")
        delete_namespace(admin, namespace)


# --- the ServiceAccounts' rights, by the real authorizer -----------------------------------------


def allowed(admin, namespace, account, verb, resource=None, *, group="", target=None, path=None):
    """A SubjectAccessReview as the ServiceAccount (its user and groups as the apiserver sees
    them): may it `verb` the `resource` (in namespace `target`), or the non-resource `path`?"""
    spec = client.V1SubjectAccessReviewSpec(
        user=f"system:serviceaccount:{namespace}:{account}",
        groups=[
            "system:serviceaccounts",
            f"system:serviceaccounts:{namespace}",
            "system:authenticated",
        ],
    )
    if path:
        spec.non_resource_attributes = client.V1NonResourceAttributes(path=path, verb=verb)
    else:
        resource, _, subresource = resource.partition("/")
        spec.resource_attributes = client.V1ResourceAttributes(
            verb=verb,
            group=group,
            resource=resource,
            subresource=subresource or None,
            namespace=target,
        )
    review = client.V1SubjectAccessReview(spec=spec)
    return client.AuthorizationV1Api(admin).create_subject_access_review(review).status.allowed


# What the worker does (tenants/manifests.py, endpoints' serving templates, workers/pod_status.py).
WORKER_RIGHTS = [
    ("create", "namespaces", "", None),
    ("delete", "namespaces", "", None),
    ("patch", "resourcequotas", "", "t-tenant"),
    ("patch", "limitranges", "", "t-tenant"),
    ("patch", "secrets", "", "t-tenant"),
    ("get", "secrets", "", "modelport"),  # the wildcard TLS secret it copies
    ("patch", "configmaps", "", "t-tenant"),
    ("patch", "services", "", "t-tenant"),
    ("list", "pods", "", "t-tenant"),
    ("get", "pods/log", "", "t-tenant"),
    ("list", "events", "", "t-tenant"),
    ("create", "deployments", "apps", "t-tenant"),
    ("patch", "deployments", "apps", "t-tenant"),
    ("delete", "deployments", "apps", "t-tenant"),
    ("patch", "networkpolicies", "networking.k8s.io", "t-tenant"),
    ("patch", "ingresses", "networking.k8s.io", "t-tenant"),
    ("create", "roles", "rbac.authorization.k8s.io", "t-tenant"),
    ("escalate", "roles", "rbac.authorization.k8s.io", "t-tenant"),
    ("bind", "roles", "rbac.authorization.k8s.io", "t-tenant"),
    ("create", "rolebindings", "rbac.authorization.k8s.io", "t-tenant"),
    ("create", "inferenceservices", "serving.kserve.io", "t-tenant"),
    ("delete", "inferenceservices", "serving.kserve.io", "t-tenant"),
]
# Least privilege: what no part of the product does.
NOBODYS_RIGHTS = [
    ("create", "pods", "", "t-tenant"),
    ("create", "pods/exec", "", "t-tenant"),
    ("create", "clusterroles", "rbac.authorization.k8s.io", None),
    ("create", "clusterrolebindings", "rbac.authorization.k8s.io", None),
    ("delete", "nodes", "", None),
    ("create", "serviceaccounts/token", "", "t-tenant"),
]


@pytest.mark.parametrize(("verb", "resource", "group", "target"), WORKER_RIGHTS)
def test_the_worker_account_may_do_what_the_worker_does(
    admin, installed, verb, resource, group, target
):
    account = f"{installed['fullname']}-worker"
    assert allowed(
        admin, installed["namespace"], account, verb, resource, group=group, target=target
    )


@pytest.mark.parametrize(("verb", "resource", "group", "target"), NOBODYS_RIGHTS)
def test_no_account_of_the_chart_may_do_more(admin, installed, verb, resource, group, target):
    for account in (installed["fullname"], f"{installed['fullname']}-worker"):
        assert not allowed(
            admin, installed["namespace"], account, verb, resource, group=group, target=target
        ), account


def test_the_web_account_reads_only_the_apiservers_version(admin, installed):
    namespace, web = installed["namespace"], installed["fullname"]
    # The readiness check's GET /version (portal/health.py): open to every authenticated user.
    assert allowed(admin, namespace, web, "get", path="/version")
    for verb, resource, group, target in WORKER_RIGHTS:
        assert not allowed(admin, namespace, web, verb, resource, group=group, target=target), (
            verb,
            resource,
        )


# --- the worker itself, as the chart's ServiceAccount --------------------------------------------


@pytest.mark.django_db
def test_the_worker_runs_a_tenant_and_an_endpoint_as_the_charts_service_account(
    admin, control_plane, installed, tenant, worker_countdown, settings, tmp_path
):
    """Every call the tenant, endpoint, status and resync tasks make, with the chart's worker
    token: a right the ClusterRole lacks is a 403, a Failed row, and a failure here."""
    account = f"{installed['fullname']}-worker"
    kubeconfig = control_plane.service_account_kubeconfig(
        installed["namespace"], account, tmp_path / "kubeconfig"
    )
    worker = config.new_client_from_config(config_file=kubeconfig)
    review = client.AuthenticationV1Api(worker).create_self_subject_review({})
    assert review.status.user_info.username == (
        f"system:serviceaccount:{installed['namespace']}:{account}"
    )
    settings.KUBECONFIG = kubeconfig
    reset_kube_client()

    reconcile(tenant)
    assert (tenant.phase, tenant.message) == (Phase.READY, "")
    endpoint = reconcile(new_endpoint(tenant, "endpoint", "mlserver"))
    assert endpoint.phase == Phase.PROVISIONING, endpoint.message
    status_until(endpoint, lambda e: e.phase == Phase.READY, message="the endpoint Ready")

    request_tenant_deletion(tenant)
    reconcile(tenant)
    assert not Tenant.objects.filter(pk=tenant.pk).exists(), worker_countdown
    assert read(client.CoreV1Api(admin).read_namespace, tenant.name) is None
