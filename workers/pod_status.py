"""Endpoint status from listed Pods and Deployments: pure functions, so every rule is testable
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


def summarize_endpoints(replicas, pods, deployments, endpoint_label):
    """{endpoint name: EndpointStatus} for the endpoints in `replicas` ({name: desired replica
    count}), from one namespace's pods and Deployments (already narrowed to endpoint objects by
    label)."""
    result = {name: EndpointStatus() for name in replicas}
    ready = dict.fromkeys(result, 0)
    for pod in pods:
        owner = pod["metadata"].get("labels", {}).get(endpoint_label)
        status = result.get(owner)
        # A pod being deleted (a scale down, a rollout) still says Running for its grace period:
        # it is going, not serving.
        if status is None or pod["metadata"].get("deletionTimestamp"):
            continue
        phase = (pod.get("status") or {}).get("phase", "Pending")
        if phase == "Running":
            status.running += 1
            ready[owner] += _is_ready(pod)
        elif phase == "Pending":
            status.pending += 1
        elif phase == "Failed":
            status.failed += 1
        if not status.failure:
            status.failure = container_failure(pod)
    with_deployment = set()
    for deployment in deployments:
        owner = deployment["metadata"].get("labels", {}).get(endpoint_label)
        status = result.get(owner)
        if status is None:
            continue
        with_deployment.add(owner)
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
    for name, wanted in replicas.items():
        if name not in with_deployment:
            status = result[name]
            status.available = ready[name]
            missing = wanted - status.available
            status.unavailable = missing if missing > 0 else None
    return result
