"""The two clusters the control-plane benchmark runs against, behind one small interface:
the real control plane (testinfra/control_plane.py: etcd, kube-apiserver, controller manager,
scheduler, kwok nodes) and the in-process emulator (testinfra/kube_emulator.py, here in a process
of its own). Each can start and stop, hand out a kubeconfig, say how many requests its server has
answered, make an endpoint's pod fail, and (the emulator alone, which has no controllers) stand in
for the Deployment controller and the kubelet."""

import json
import math
import re
import ssl
import subprocess
import urllib.parse
import urllib.request
from collections import Counter
from multiprocessing.managers import BaseManager
from pathlib import Path

from testinfra.control_plane import ControlPlane
from testinfra.kube_emulator import KubeEmulator
from testinfra.servers import write_kubeconfig

ENDPOINT_LABEL = "modelport.io/endpoint"
# What kwok's Node says it holds (testinfra/control_plane.py `_fake_node`).
PODS_PER_NODE = 110
REQUEST_TOTAL = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$")


def crash_looping(pod):
    """`pod`'s status as the kubelet reports a server container in CrashLoopBackOff."""
    status = pod.get("status") or {}
    containers = status.get("containerStatuses") or [{"name": "serving"}]
    return {
        "conditions": [
            {**c, "status": "False"} if c.get("type") in ("Ready", "ContainersReady") else c
            for c in status.get("conditions") or [{"type": "Ready"}]
        ],
        "containerStatuses": [
            {
                **container,
                "ready": False,
                "started": False,
                "restartCount": 3,
                "state": {
                    "waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s (bench)"}
                },
            }
            for container in containers
        ],
    }


class RealCluster:
    """The real control plane with enough kwok nodes for `pods` pods."""

    name = "kube-apiserver + kwok"
    has_controllers = True

    def __init__(self, pods):
        self.nodes = math.ceil(pods / (PODS_PER_NODE - 10)) + 1
        self.plane = ControlPlane(nodes=self.nodes)

    def start(self):
        self.plane.start(timeout=180)
        self.kubeconfig = str(self.plane.kubeconfig_path)
        return self

    def stop(self):
        self.plane.stop()

    def _call(self, method, path, body=None, content_type="application/json"):
        pki = self.plane.dir / "pki"
        context = ssl.create_default_context(cafile=str(self.plane.ca_file))
        context.load_cert_chain(pki / "admin.crt", pki / "admin.key")
        request = urllib.request.Request(
            f"{self.plane.url}{path}",
            data=json.dumps(body).encode() if body is not None else None,
            method=method,
            headers={"Content-Type": content_type},
        )
        with urllib.request.urlopen(request, timeout=30, context=context) as response:
            return response.read()

    def versions(self):
        server = json.loads(self._call("GET", "/version"))["gitVersion"]
        bin_dir = self.plane.bin_dir
        kwok = _first_line([str(bin_dir / "kwok"), "--version"])
        etcd = _first_line([str(self.plane.etcd), "--version"])
        return f"kube-apiserver {server}, {kwok}, {etcd}, {self.nodes} kwok nodes"

    def request_counts(self):
        """apiserver_request_total from the apiserver's /metrics, by (verb, resource, scope),
        every client included (controllers, scheduler, kwok): the server's own count."""
        counts = Counter()
        for line in self._call("GET", "/metrics").decode().splitlines():
            match = REQUEST_TOTAL.match(line)
            if match:
                labels = dict(re.findall(r'(\w+)="([^"]*)"', match["labels"]))
                key = (labels.get("verb"), labels.get("resource"), labels.get("scope"))
                counts[key] += int(float(match["value"]))
        return counts

    def play_controllers(self):
        """Nothing to do: the controller manager, the scheduler and kwok run the pods."""

    def fail_pod(self, namespace, endpoint):
        """Make the endpoint's pod report its server container in CrashLoopBackOff (kwok
        leaves a Running pod's status alone)."""
        selector = urllib.parse.quote(f"{ENDPOINT_LABEL}={endpoint}")
        pods = json.loads(
            self._call("GET", f"/api/v1/namespaces/{namespace}/pods?labelSelector={selector}")
        )["items"]
        pod = next(p for p in pods if not p["metadata"].get("deletionTimestamp"))
        path = f"/api/v1/namespaces/{namespace}/pods/{pod['metadata']['name']}/status"
        self._call("PATCH", path, {"status": crash_looping(pod)}, "application/merge-patch+json")

    def describe(self, namespace, endpoint):
        """The endpoint's Deployment status and pods as the apiserver has them (for a message)."""
        deployment = json.loads(
            self._call("GET", f"/apis/apps/v1/namespaces/{namespace}/deployments/{endpoint}")
        )
        selector = urllib.parse.quote(f"{ENDPOINT_LABEL}={endpoint}")
        pods = json.loads(
            self._call("GET", f"/api/v1/namespaces/{namespace}/pods?labelSelector={selector}")
        )["items"]
        return {
            "spec.replicas": deployment["spec"].get("replicas"),
            "status": deployment.get("status"),
            "pods": [(p["metadata"]["name"], p["status"].get("phase")) for p in pods],
        }

    def why_unready(self):
        """Endpoint pods that are not Ready, by node, and what the node lifecycle controller
        did: a kwok node that misses its lease renewal (a loaded machine) is marked NotReady,
        its pods' Ready condition False, and kwok's stages never make a Running pod Ready
        again."""
        selector = urllib.parse.quote(f"{ENDPOINT_LABEL}")
        pods = json.loads(self._call("GET", f"/api/v1/pods?labelSelector={selector}"))["items"]
        unready = Counter(
            pod["spec"].get("nodeName") or "unscheduled"
            for pod in pods
            if not any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in pod["status"].get("conditions") or []
            )
        )
        events = json.loads(self._call("GET", "/api/v1/events"))["items"]
        reasons = Counter(
            e["reason"]
            for e in events
            if e["type"] != "Normal" or e["reason"] in ("NodeNotReady", "TaintManagerEviction")
        )
        return f"pods not Ready by node {dict(unready)}; events {dict(reasons)}"


class EmulatorProcess(KubeEmulator):
    """The emulator in a process of its own (as bench/endpoints runs it), so that its work does
    not hold this process's interpreter lock."""

    def start(self):
        super().start()  # not returned: the emulator can't travel between processes

    def address(self):
        return self.url

    def request_count(self):
        return len(self.requests)

    def play_controllers(self):
        """What the Deployment controller and the kubelet would do: each Deployment reports its
        replicas available and has that many Running, Ready pods."""
        for deployment in self.objects("Deployment"):
            replicas = deployment["spec"].get("replicas", 1)
            deployment["status"] = {"availableReplicas": replicas, "replicas": replicas}
            self.put_object(deployment)
            meta = deployment["metadata"]
            for index in range(replicas):
                self.put_object(
                    {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "metadata": {
                            "name": f"{meta['name']}-{index}",
                            "namespace": meta["namespace"],
                            "labels": deployment["spec"]["template"]["metadata"]["labels"],
                        },
                        "spec": {"containers": [{"name": "serving", "image": "bench"}]},
                        "status": {
                            "phase": "Running",
                            "conditions": [{"type": "Ready", "status": "True"}],
                            "containerStatuses": [{"name": "serving", "ready": True}],
                        },
                    }
                )

    def fail_pod(self, namespace, endpoint):
        pod = next(
            p
            for p in self.objects("Pod", namespace)
            if p["metadata"]["labels"].get(ENDPOINT_LABEL) == endpoint
        )
        pod["status"] = {**pod["status"], **crash_looping(pod)}
        self.put_object(pod)


class EmulatorManager(BaseManager):
    pass


EmulatorManager.register(
    "Emulator",
    EmulatorProcess,
    exposed=("start", "stop", "address", "request_count", "play_controllers", "fail_pod"),
)


class Emulator:
    name = "emulator"
    has_controllers = False

    def __init__(self, workdir):
        self.workdir = Path(workdir)

    def start(self):
        self.manager = EmulatorManager()
        self.manager.start()
        self.server = self.manager.Emulator()
        self.server.start()
        path = self.workdir / "emulator.kubeconfig"
        self.kubeconfig = str(write_kubeconfig(path, self.server.address()))
        return self

    def stop(self):
        self.server.stop()
        self.manager.shutdown()

    def versions(self):
        return "testinfra/kube_emulator.py (no schema validation, no controllers)"

    def request_counts(self):
        return Counter({("all", "all", "all"): self.server.request_count()})

    def play_controllers(self):
        self.server.play_controllers()

    def describe(self, namespace, endpoint):
        return "no controllers: only what the bench wrote"

    def why_unready(self):
        return "the bench wrote every pod Ready"

    def fail_pod(self, namespace, endpoint):
        self.server.fail_pod(namespace, endpoint)


def _first_line(command):
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    return (result.stdout or result.stderr).strip().splitlines()[0]
