"""A real Kubernetes control plane for the cluster tests: etcd, kube-apiserver (RBAC and Node
authorization, a service-account issuer), kube-controller-manager, kube-scheduler and kwok, whose
fake nodes take pods and report them Running without containers.

testinfra/build_control_plane.sh builds the binaries into the user's cache. Every process runs in
its own session on free loopback ports with its state and log in one temporary directory; the
admin credential is a client certificate in the group system:masters, in ``kubeconfig_path``.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from testinfra.servers import free_port, stop_process

K8S_VERSION = os.environ.get("K8S_VERSION", "v1.37.2")
BUILD_SCRIPT = "testinfra/build_control_plane.sh"
COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok")
# The Stages kwok runs (it starts with none otherwise), written by the build script.
KWOK_STAGES = "kwok-stages.yaml"
# KServe's InferenceService CRD, copied by the build script from the release's Go module.
KSERVE_VERSION = os.environ.get("KSERVE_VERSION", "v0.20.0")
KSERVE_CRD = f"kserve-{KSERVE_VERSION}/inferenceservices.yaml"
SERVICE_CIDR = "10.96.0.0/16"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
# kwok manages only the nodes with this annotation (kwok's own convention for fake nodes).
KWOK_ANNOTATION = ("kwok.x-k8s.io/node", "fake")


def _cache_root():
    if os.environ.get("MODELPORT_CACHE"):
        return Path(os.environ["MODELPORT_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "modelport"


def control_plane_dir():
    return _cache_root() / "control-plane" / K8S_VERSION


def etcd_binary(bin_dir=None):
    """etcd built by the script into the cache, else Debian's etcd-server on PATH."""
    built = Path(bin_dir or control_plane_dir()) / "etcd"
    if built.is_file() and os.access(built, os.X_OK):
        return built
    found = shutil.which("etcd")
    return Path(found) if found else None


def missing_binaries(bin_dir=None):
    """The names of the binaries that are not built yet (empty when the control plane can start)."""
    bin_dir = Path(bin_dir or control_plane_dir())
    missing = [name for name in COMPONENTS if not os.access(bin_dir / name, os.X_OK)]
    missing += [name for name in (KWOK_STAGES, KSERVE_CRD) if not (bin_dir / name).is_file()]
    if etcd_binary(bin_dir) is None:
        missing.append("etcd")
    return missing


# --- certificates ------------------------------------------------------------------------------


def _write_key(path, key):
    from cryptography.hazmat.primitives import serialization

    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _new_key():
    from cryptography.hazmat.primitives.asymmetric import ec

    return ec.generate_private_key(ec.SECP256R1())


def _certificate(
    subject_cn, key, ca_key=None, ca_cert=None, *, org=None, server_names=(), ca=False
):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]
    if org:
        attributes.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, org))
    subject = x509.Name(attributes)
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject if ca_cert else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True
        )
    else:
        usages = [ExtendedKeyUsageOID.SERVER_AUTH] if server_names else []
        usages.append(ExtendedKeyUsageOID.CLIENT_AUTH)
        builder = builder.add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    if server_names:
        names = []
        for name in server_names:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                names.append(x509.DNSName(name))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(ca_key or key, hashes.SHA256())


def _write_cert(path, cert):
    from cryptography.hazmat.primitives import serialization

    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


# --- the control plane -------------------------------------------------------------------------


class ControlPlane:
    """etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok with ``nodes`` fake
    nodes. ``start()`` returns once the apiserver is ready, the controllers answer /healthz and
    every fake node is Ready; ``stop()`` ends them all and removes the temporary directory."""

    def __init__(self, bin_dir=None, nodes=1, keep_dir=False):
        self.bin_dir = Path(bin_dir or control_plane_dir())
        missing = missing_binaries(self.bin_dir)
        if missing:
            raise RuntimeError(
                f"the Kubernetes control plane is not built ({', '.join(missing)} missing in "
                f"{self.bin_dir}): run {BUILD_SCRIPT}"
            )
        self.etcd = etcd_binary(self.bin_dir)
        self.node_names = [f"kwok-node-{index}" for index in range(nodes)]
        self.keep_dir = keep_dir
        self.dir = None
        self.url = None
        self.kubeconfig_path = None
        self.processes = {}
        self.timings = {}

    # -- lifecycle

    def start(self, timeout=120):
        started = time.monotonic()
        self.dir = Path(tempfile.mkdtemp(prefix="modelport-control-plane-"))
        try:
            self._write_credentials()
            self._start_etcd(timeout)
            self._start_apiserver(timeout)
            self._start_controller_manager(timeout)
            self._start_scheduler(timeout)
            self._start_kwok(timeout)
            self._create_nodes(timeout)
        except BaseException:
            self.stop()
            raise
        self.timings["total"] = time.monotonic() - started
        return self

    def stop(self):
        # The clients first, the apiserver next, etcd last.
        for name in ("kwok", "kube-scheduler", "kube-controller-manager", "kube-apiserver", "etcd"):
            process = self.processes.pop(name, None)
            if process is not None:
                stop_process(process)
        if self.dir is not None and not self.keep_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def log(self, name):
        """What one component has written so far (for a failing test's message)."""
        path = self.dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # -- credentials

    def _write_credentials(self):
        pki = self.dir / "pki"
        pki.mkdir()
        ca_key = _new_key()
        ca_cert = _certificate("modelport-test-ca", ca_key, ca=True)
        _write_key(pki / "ca.key", ca_key)
        _write_cert(pki / "ca.crt", ca_cert)
        server_key = _new_key()
        service_ip = str(next(ipaddress.ip_network(SERVICE_CIDR).hosts()))
        server_names = (
            "127.0.0.1",
            "localhost",
            service_ip,
            "kubernetes",
            "kubernetes.default",
            "kubernetes.default.svc",
            "kubernetes.default.svc.cluster.local",
        )
        server_cert = _certificate(
            "kube-apiserver", server_key, ca_key, ca_cert, server_names=server_names
        )
        _write_key(pki / "apiserver.key", server_key)
        _write_cert(pki / "apiserver.crt", server_cert)
        # Service-account tokens: the apiserver signs with the private key, verifies with the
        # public one; the controller manager signs the tokens of the controllers' own accounts.
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        _write_key(pki / "sa.key", sa_key)
        (pki / "sa.pub").write_bytes(
            sa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        # One client certificate per user: the admin (system:masters, also used by kwok, which
        # plays every node's kubelet) and the users the bootstrap RBAC policy grants the
        # controller manager's and the scheduler's rights to.
        users = {
            "admin": ("kubernetes-admin", "system:masters"),
            "kube-controller-manager": ("system:kube-controller-manager", None),
            "kube-scheduler": ("system:kube-scheduler", None),
        }
        self.kubeconfigs = {}
        for name, (common_name, org) in users.items():
            key = _new_key()
            cert = _certificate(common_name, key, ca_key, ca_cert, org=org)
            _write_key(pki / f"{name}.key", key)
            _write_cert(pki / f"{name}.crt", cert)
            self.kubeconfigs[name] = self.dir / f"{name}.kubeconfig"
        self.ca_file = pki / "ca.crt"
        self.kubeconfig_path = self.kubeconfigs["admin"]

    def _write_kubeconfig(self, name):
        pki = self.dir / "pki"
        self.kubeconfigs[name].write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [
                        {
                            "name": "modelport-test",
                            "cluster": {
                                "server": self.url,
                                "certificate-authority": str(self.ca_file),
                            },
                        }
                    ],
                    "users": [
                        {
                            "name": name,
                            "user": {
                                "client-certificate": str(pki / f"{name}.crt"),
                                "client-key": str(pki / f"{name}.key"),
                            },
                        }
                    ],
                    "contexts": [
                        {"name": name, "context": {"cluster": "modelport-test", "user": name}}
                    ],
                    "current-context": name,
                },
                indent=2,
            )
        )

    # -- processes

    def _spawn(self, name, args):
        log = (self.dir / f"{name}.log").open("ab")
        try:
            self.processes[name] = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.dir,
                start_new_session=True,
            )
        finally:
            log.close()
        return self.processes[name]

    def _wait_healthy(self, name, url, timeout, context=None):
        """Until ``url`` answers 200: a component that is still starting answers 500 or nothing."""
        process = self.processes[name]
        started = time.monotonic()
        deadline = started + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with {process.returncode} before {url} was healthy; "
                    f"its log ends:\n{self.log(name)[-4000:]}"
                )
            try:
                with urllib.request.urlopen(url, timeout=5, context=context) as response:
                    if response.status == 200:
                        self.timings[name] = time.monotonic() - started
                        return
            except urllib.error.HTTPError as exc:
                last = f"{exc.code}: {exc.read()[-2000:].decode(errors='replace')}"
            except OSError as exc:
                last = str(exc)
            time.sleep(0.1)
        raise TimeoutError(
            f"{name} not healthy within {timeout}s at {url} ({last}); "
            f"its log ends:\n{self.log(name)[-4000:]}"
        )

    def _start_etcd(self, timeout):
        client_port, peer_port = free_port(), free_port()
        self.etcd_url = f"http://127.0.0.1:{client_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        args = [
            str(self.etcd),
            "--name=modelport-test",
            f"--data-dir={self.dir / 'etcd'}",
            f"--listen-client-urls={self.etcd_url}",
            f"--advertise-client-urls={self.etcd_url}",
            f"--listen-peer-urls={peer_url}",
            f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=modelport-test={peer_url}",
            "--log-level=warn",
            "--logger=zap",
        ]
        if self._etcd_has_flag("--unsafe-no-fsync"):
            args.append("--unsafe-no-fsync")  # a test cluster need not survive a power cut
        self._spawn("etcd", args)
        self._wait_healthy("etcd", f"{self.etcd_url}/health", timeout)

    def _etcd_has_flag(self, flag):
        result = subprocess.run(
            [str(self.etcd), "--help"], capture_output=True, text=True, check=False
        )
        return flag in result.stdout + result.stderr

    def _start_apiserver(self, timeout):
        port = free_port()
        self.url = f"https://127.0.0.1:{port}"
        pki = self.dir / "pki"
        self._spawn(
            "kube-apiserver",
            [
                str(self.bin_dir / "kube-apiserver"),
                f"--etcd-servers={self.etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                # The reconciler refuses a loopback address for the kubernetes Service's
                # endpoints; nothing in the tests reaches the apiserver through that Service.
                "--endpoint-reconciler-type=none",
                f"--secure-port={port}",
                f"--cert-dir={pki}",
                f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--client-ca-file={pki / 'ca.crt'}",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--authorization-mode=Node,RBAC",
                "--enable-admission-plugins=NodeRestriction",
                "--allow-privileged=true",
                "--profiling=false",
                "--v=1",
            ],
        )
        context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        self._wait_healthy("kube-apiserver", f"{self.url}/readyz", timeout, context)
        for name in self.kubeconfigs:
            self._write_kubeconfig(name)

    def _start_controller_manager(self, timeout):
        port = free_port()
        kubeconfig = self.kubeconfigs["kube-controller-manager"]
        pki = self.dir / "pki"
        self._spawn(
            "kube-controller-manager",
            [
                str(self.bin_dir / "kube-controller-manager"),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={self.dir / 'kube-controller-manager-certs'}",
                f"--service-account-private-key-file={pki / 'sa.key'}",
                f"--root-ca-file={pki / 'ca.crt'}",
                # Each controller acts as its own ServiceAccount, as in a real cluster.
                "--use-service-account-credentials=true",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                # Every controller on by default (v1.37 has no cloud controllers left in it).
                "--controllers=*",
                "--leader-elect=false",
                # kwok renews its fake nodes' leases from a process that shares the machine with
                # the suite: a late renewal must not make a node NotReady, whose pods kwok's
                # stages would then never make Ready again (they ready Pending pods only).
                "--node-monitor-grace-period=10m",
                "--profiling=false",
                "--v=1",
            ],
        )
        self._wait_healthy(
            "kube-controller-manager",
            f"https://127.0.0.1:{port}/healthz",
            timeout,
            _unverified_context(),
        )

    def _start_scheduler(self, timeout):
        port = free_port()
        kubeconfig = self.kubeconfigs["kube-scheduler"]
        self._spawn(
            "kube-scheduler",
            [
                str(self.bin_dir / "kube-scheduler"),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={self.dir / 'kube-scheduler-certs'}",
                "--leader-elect=false",
                "--profiling=false",
                "--v=1",
            ],
        )
        self._wait_healthy(
            "kube-scheduler", f"https://127.0.0.1:{port}/healthz", timeout, _unverified_context()
        )

    def _start_kwok(self, timeout):
        port = free_port()
        key, value = KWOK_ANNOTATION
        self._spawn(
            "kwok",
            [
                str(self.bin_dir / "kwok"),
                f"--kubeconfig={self.kubeconfig_path}",
                f"--config={self.bin_dir / KWOK_STAGES}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={key}={value}",
                f"--server-address=127.0.0.1:{port}",
                "--node-ip=127.0.0.1",
                "--cidr=10.244.0.0/16",
                # Nodes renew a Lease, so the node lifecycle controller keeps them Ready.
                "--node-lease-duration-seconds=40",
                "--v=INFO",
            ],
        )
        self._wait_healthy("kwok", f"http://127.0.0.1:{port}/healthz", timeout)

    def _create_nodes(self, timeout):
        started = time.monotonic()
        for name in self.node_names:
            self.request("POST", "/api/v1/nodes", _fake_node(name))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready = [name for name in self.node_names if self._node_ready(name)]
            if len(ready) == len(self.node_names):
                self.timings["nodes"] = time.monotonic() - started
                return
            time.sleep(0.2)
        raise TimeoutError(
            f"the kwok nodes were not Ready within {timeout}s; kwok's log ends:\n"
            f"{self.log('kwok')[-4000:]}"
        )

    def _node_ready(self, name):
        node = self.request("GET", f"/api/v1/nodes/{name}")
        conditions = node.get("status", {}).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    # -- a minimal client (the tests use the official one)

    def request(self, method, path, body=None):
        """One call to the apiserver as the admin; returns the decoded JSON answer."""
        pki = self.dir / "pki"
        context = ssl.create_default_context(cafile=str(self.ca_file))
        context.load_cert_chain(pki / "admin.crt", pki / "admin.key")
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.url}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            return json.loads(response.read() or b"{}")

    def service_account_kubeconfig(self, namespace, account, path):
        """A kubeconfig at `path` with a token minted for the ServiceAccount through the
        TokenRequest API (an hour): the cluster as a pod running under that account sees it."""
        answer = self.request(
            "POST",
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token",
            {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
             "spec": {"audiences": [], "expirationSeconds": 3600}},
        )  # fmt: skip
        cluster = {"server": self.url, "certificate-authority": str(self.ca_file)}
        Path(path).write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "test", "cluster": cluster}],
                    "users": [{"name": account, "user": {"token": answer["status"]["token"]}}],
                    "contexts": [
                        {"name": account, "context": {"cluster": "test", "user": account}}
                    ],
                    "current-context": account,
                }
            )
        )
        return str(path)

    def install_kserve_crds(self, timeout=60):
        """KServe's InferenceService CRD, established: the apiserver then validates
        InferenceServices against its schema (no KServe controller acts on them)."""
        self.kubectl("apply", "--server-side", "-f", str(self.bin_dir / KSERVE_CRD))
        # (`kubectl wait --for=condition=Established` fails while the CRD has no conditions yet.)
        path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            crd = self.request("GET", path + "inferenceservices.serving.kserve.io")
            conditions = (crd.get("status") or {}).get("conditions") or []
            if any(c["type"] == "Established" and c["status"] == "True" for c in conditions):
                return
            time.sleep(0.2)
        raise RuntimeError(f"KServe's InferenceService CRD not established in {timeout}s")

    def kubectl(self, *args, input=None, kubeconfig=None, check=True):
        """Run the kubectl built with the control plane (as the admin, or with `kubeconfig`);
        returns the finished process, its output as text."""
        command = [
            str(self.bin_dir / "kubectl"),
            "--kubeconfig",
            str(kubeconfig or self.kubeconfig_path),
        ]
        finished = subprocess.run(
            [*command, *args], input=input, capture_output=True, text=True, timeout=120
        )
        if check and finished.returncode:
            raise AssertionError(f"kubectl {' '.join(args)} failed: {finished.stderr.strip()}")
        return finished


def _unverified_context():
    # The controller manager and the scheduler serve /healthz with a certificate they make up.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _fake_node(name):
    """A Node as kwok's documentation writes one, without its NoSchedule taint: there are no real
    nodes here, so the product's pods (which carry no toleration) must land on the fake ones."""
    key, value = KWOK_ANNOTATION
    resources = {"cpu": "32", "memory": "256Gi", "pods": "110"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {key: value, "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/role": "agent",
                "node-role.kubernetes.io/agent": "",
                "type": "kwok",
            },
        },
        "status": {"allocatable": resources, "capacity": resources},
    }
