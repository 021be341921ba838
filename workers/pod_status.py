"""Endpoint status from listed Pods and Deployments, with no I/O, so every rule is testable
without a cluster."""

from dataclasses import dataclass

# Container states that will not resolve by waiting: the endpoint is Failed until someone acts.
FAILING_WAITING_REASONS = {
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CrashLoopBackOff",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
}


@dataclass
class EndpointStatus:
    running: int = 0
    pending: int = 0
    failed: int = 0
    # As the Deployment reports them (None when it leaves them out); counted from ready pods
    # when the endpoint has no Deployment of ours (KServe makes its own).
    available: int | None = None
    unavailable: int | None = None
    cluster_replicas: int | None = None  # the Deployment's spec.replicas, None if no Deployment
    failure: str = ""  # why the endpoint can't become ready, from pod and container states


def container_failure(pod):
    """A sentence naming the first container that is stuck, or ''."""
    name = pod["metadata"]["name"]
    status = pod.get("status") or {}
    if status.get("phase") == "Failed":
        reason = status.get("reason") or "Failed"
        detail = f": {status['message']}" if status.get("message") else ""
        return f"Pod {name} failed ({reason}){detail}"
    statuses = [*status.get("initContainerStatuses", []), *status.get("containerStatuses", [])]
    for container in statuses:
        state = container.get("state") or {}
        last = (container.get("lastState") or {}).get("terminated") or {}
        waiting = (state.get("waiting") or {}).get("reason")
        terminated = (state.get("terminated") or {}).get("reason")
        oom = "OOMKilled" in (terminated, last.get("reason"))
        if waiting in FAILING_WAITING_REASONS:
            text = f"Pod {name}: container {container.get('name')} is in {waiting}"
            if oom:
                text += " (last terminated: OOMKilled; raise its memory limit)"
            message = (state.get("waiting") or {}).get("message")
            return f"{text}: {message}" if message and not oom else text
        if terminated == "OOMKilled":
            return (
                f"Pod {name}: container {container.get('name')} was OOMKilled; "
                "raise its memory limit"
            )
    return ""


def _is_ready(pod):
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


class StatusTally:
    """Endpoint status counted from listed Pods and Deployments (already narrowed to endpoint
    objects by label), one object at a time, so a list read page by page is never held whole.
    `replicas` is {(namespace, endpoint name): desired replica count}; objects of other endpoints
    are ignored."""

    def __init__(self, replicas, endpoint_label):
        self.replicas = replicas
        self.endpoint_label = endpoint_label
        self.statuses = {key: EndpointStatus() for key in replicas}
        self.ready = dict.fromkeys(replicas, 0)
        self.with_deployment = set()

    def _owner(self, obj):
        meta = obj["metadata"]
        return meta.get("namespace"), (meta.get("labels") or {}).get(self.endpoint_label)

    def add_pod(self, pod):
        key = self._owner(pod)
        status = self.statuses.get(key)
        # A pod being deleted (a scale down, a rollout) still says Running for its grace period:
        # it is going, not serving.
        if status is None or pod["metadata"].get("deletionTimestamp"):
            return
        phase = (pod.get("status") or {}).get("phase", "Pending")
        if phase == "Running":
            status.running += 1
            self.ready[key] += _is_ready(pod)
        elif phase == "Pending":
            status.pending += 1
        elif phase == "Failed":
            status.failed += 1
        if not status.failure:
            status.failure = container_failure(pod)

    def add_deployment(self, deployment):
        key = self._owner(deployment)
        status = self.statuses.get(key)
        if status is None:
            return
        self.with_deployment.add(key)
        observed = deployment.get("status") or {}
        # Pods the cluster refuses to create (LimitRanger, the tenant's quota): the Deployment
        # says why in its ReplicaFailure condition, and no pod ever shows it.
        refused = next(
            (
                c.get("message", "")
                for c in observed.get("conditions") or []
                if c.get("type") == "ReplicaFailure" and c.get("status") == "True"
            ),
            None,
        )
        if refused is not None and not status.failure:
            status.failure = f"The cluster refuses to create the endpoint's pods: {refused}"
        status.available = observed.get("availableReplicas")
        status.unavailable = observed.get("unavailableReplicas")
        status.cluster_replicas = (deployment.get("spec") or {}).get("replicas", 1)

    def result(self):
        """{(namespace, endpoint name): EndpointStatus}. An endpoint without a Deployment of ours
        (KServe makes its own) counts its ready pods as available."""
        for key, wanted in self.replicas.items():
            if key not in self.with_deployment:
                status = self.statuses[key]
                status.available = self.ready[key]
                missing = wanted - status.available
                status.unavailable = missing if missing > 0 else None
        return self.statuses
