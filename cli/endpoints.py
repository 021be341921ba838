"""`modelport endpoints …` and `modelport servings …`: inference endpoints, with `--wait` to
follow one until it serves, and the serving templates they are made from."""

import sys
import time

from cli.client import CliError, q
from cli.options import JSON_OPTION, TENANT, add_command, add_group, given
from cli.output import table

POLL_SECONDS = 2
STALE_FAILURE_SECONDS = 15
WAIT = (
    (("--wait",), {"action": "store_true", "help": "wait until it is Ready, showing its phase"}),
    (("--timeout",), {"type": float, "default": 600, "help": "seconds --wait waits (600)"}),
)


# The list's one-word statuses (the reference's) in the words the portal shows.
STATUS_WORDS = {"available": "Ready"}


def gateway_url(client, tenant, endpoint):
    """Where applications call the endpoint through this portal's gateway (the cluster
    ingress's address does not resolve on a machine without the cluster)."""
    return f"{client.server}/gateway/{q(tenant)}/{q(endpoint)}/"


def list_endpoints(client, args):
    items = client.all_pages(f"/tenants/{q(args.tenant)}/endpoints", "endpoints")
    if args.json:
        return items
    rows = [
        {
            "name": item["name"],
            "status": STATUS_WORDS.get(item["status"], item["status"].capitalize()),
            "gateway": gateway_url(client, args.tenant, item["name"]),
        }
        for item in items
    ]
    return table(rows, ["name", "status", "gateway"])


def show_endpoint(client, args):
    return client.call("GET", f"/tenants/{q(args.tenant)}/endpoints/{q(args.endpoint)}")


def _settled(client, args, done):
    """With --wait: poll the endpoint until it serves as asked (its change applied, Ready,
    every replica available), printing its phase as it changes; Failed or the timeout is an
    error. Without --wait: `done` as it is."""
    if not args.wait:
        return done
    path = f"/tenants/{q(args.tenant)}/endpoints/{q(args.endpoint)}"
    started = time.monotonic()
    said, moved = None, False
    while True:
        detail = client.call("GET", path)
        phase, message = detail["phase"], detail["message"]
        if (phase, message) != said:
            print(f"{args.endpoint}: {phase}{f' ({message})' if message else ''}", file=sys.stderr)
            said = (phase, message)
        applied = detail["observedGeneration"] >= detail["generation"]
        available = detail["replicas"]["available"] == detail["desired replicas"]
        if applied and phase == "Ready" and available:
            return f"{done}\nEndpoint {args.endpoint} is Ready." if isinstance(done, str) else done
        moved = moved or phase != "Failed"
        # A failed reconcile leaves the generation unobserved (the resync tries again), so
        # Failed is this change's failure if the endpoint is new, or left Failed meanwhile,
        # or stays Failed longer than the worker takes to pick a change up.
        waited = time.monotonic() - started
        ours = detail["generation"] == 1 or moved or waited > STALE_FAILURE_SECONDS
        if phase == "Failed" and (applied or ours):
            raise CliError(f"Endpoint {args.endpoint} failed: {message}", "endpoint_failed")
        if waited > args.timeout:
            reason = f": {message.rstrip('.')}" if message else ""
            raise CliError(
                f"Endpoint {args.endpoint} is still {phase} after {args.timeout:g} s{reason}.",
                "timeout",
            )
        time.sleep(POLL_SECONDS)


def create_endpoint(client, args):
    body = {
        "endpointName": args.endpoint,
        "modelName": args.model,
        "resources": args.resources or {},
        **given(
            servingName=args.serving,
            subjectName=args.subject,
            modelVersionPolicy=args.policy,
            replicas=args.replicas,
        ),
    }
    data = client.call("POST", f"/tenants/{q(args.tenant)}/endpoints", json=body)
    if args.json:
        return _settled(client, args, data)
    warning = f"\nWarning: {data['warning']}." if data.get("warning") else ""
    # The cluster ingress address exists only on a cluster (GET /runtime says which).
    on_cluster = client.call("GET", "/runtime")["orchestrator"] == "kubernetes"
    ingress = f" (or with a client certificate at the cluster ingress, {data['url']})"
    created = (
        f"Endpoint {args.endpoint} created. Call it through the gateway at "
        f"{gateway_url(client, args.tenant, args.endpoint)}{ingress if on_cluster else ''}."
        f"{warning}"
    )
    return _settled(client, args, created)


def update_endpoint(client, args):
    changes = given(
        modelName=args.model,
        modelVersionPolicy=args.policy,
        subjectName=args.subject,
        resources=args.resources,
    )
    if not changes:
        raise CliError(
            "Say what to change: --model, --policy, --subject or --resources.",
            "nothing_to_change",
        )
    data = client.call(
        "PATCH", f"/tenants/{q(args.tenant)}/endpoints/{q(args.endpoint)}", json=changes
    )
    return _settled(client, args, data if args.json else f"Endpoint {args.endpoint} updated.")


def scale_endpoint(client, args):
    client.call(
        "PATCH",
        f"/tenants/{q(args.tenant)}/endpoints/{q(args.endpoint)}/replicas",
        json={"replicas": args.replicas},
    )
    return _settled(client, args, f"Endpoint {args.endpoint} scaled to {args.replicas} replica(s).")


def delete_endpoint(client, args):
    client.call(
        "DELETE", f"/tenants/{q(args.tenant)}/endpoints", json={"endpointName": args.endpoint}
    )
    return f"Endpoint {args.endpoint} is being deleted."


def list_servings(client, args):
    names = client.call("GET", "/servings")
    return names if args.json else "\n".join(names)


def show_serving(client, args):
    return client.call("GET", f"/servings/{q(args.name)}")


def register(commands):
    """Add the endpoints and servings groups to the top-level commands."""
    endpoint_commands = add_group(commands, "endpoints", "inference endpoints")
    endpoint = (("endpoint",), {"help": "the endpoint's name"})
    add_command(endpoint_commands, "list", list_endpoints, "the tenant's endpoints", TENANT)
    add_command(
        endpoint_commands,
        "show",
        show_endpoint,
        "an endpoint: status, pods, model, policy",
        TENANT,
        endpoint,
    )
    add_command(
        endpoint_commands,
        "create",
        create_endpoint,
        "create an endpoint from a serving template",
        TENANT,
        endpoint,
        (("--model",), {"required": True}),
        (
            ("--serving",),
            {"help": "a template (modelport servings list); default: the platform's"},
        ),
        (
            ("--subject",),
            {"help": "the client certificates' subject (CN); default: <endpoint>.<tenant>"},
        ),
        (("--policy",), {"help": "modelVersionPolicy, e.g. '{latest {}}'"}),
        (("--resources",), {**JSON_OPTION, "help": "JSON of requests/limits"}),
        (("--replicas",), {"type": int}),
        *WAIT,
    )
    add_command(
        endpoint_commands,
        "update",
        update_endpoint,
        "change an endpoint's model, policy, subject or resources",
        TENANT,
        endpoint,
        (("--model",), {}),
        (("--policy",), {}),
        (("--subject",), {}),
        (("--resources",), JSON_OPTION),
        *WAIT,
    )
    add_command(
        endpoint_commands,
        "scale",
        scale_endpoint,
        "set the number of replicas",
        TENANT,
        endpoint,
        (("replicas",), {"type": int}),
        *WAIT,
    )
    add_command(
        endpoint_commands, "delete", delete_endpoint, "delete an endpoint", TENANT, endpoint
    )

    serving_commands = add_group(commands, "servings", "serving templates")
    add_command(serving_commands, "list", list_servings, "the templates")
    add_command(serving_commands, "show", show_serving, "a template's files", (("name",), {}))
