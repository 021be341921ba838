"""The `modelport` command: every call of the management API from a terminal or a script.

    python -m cli login                      # single sign-on: open the URL, paste the code
    python -m cli login --token mpt_…        # or a personal access token
    python -m cli endpoints list demo
    python -m cli models upload demo iris 1 ./model-dir

Lists print as tables; `--json` prints the API's data instead, for scripts. Errors print the
API's sentence and code on stderr and exit 1 (2 for bad command-line usage)."""

import argparse
import sys
import time

from cli import login, models, tenants
from cli.client import Client, CliError, q, unwrap
from cli.credentials import Credentials
from cli.options import JSON_OPTION, TENANT, add_command, add_group, given
from cli.output import listing, show, table


def list_endpoints(client, args):
    return listing(
        client, args, f"/tenants/{q(args.tenant)}/endpoints", "endpoints", ["name", "status", "url"]
    )


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
        "servingName": args.serving,
        "subjectName": args.subject,
        "resources": args.resources or {},
    }
    if args.policy:
        body["modelVersionPolicy"] = args.policy
    if args.replicas is not None:
        body["replicas"] = args.replicas
    data = client.call("POST", f"/tenants/{q(args.tenant)}/endpoints", json=body)
    if args.json:
        return _settled(client, args, data)
    warning = f"\nWarning: {data['warning']}." if data.get("warning") else ""
    return _settled(client, args, f"Endpoint {args.endpoint} created: {data['url']}{warning}")


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


def list_plans(client, args):
    return listing(
        client,
        args,
        "/plans",
        "plans",
        [
            "name",
            "requestsPerMinute",
            "requestsPerDay",
            "concurrentRequests",
            "tokensPerMinute",
        ],
    )


def create_plan(client, args):
    body = {
        "name": args.name,
        "description": args.description,
        **given(
            requestsPerMinute=args.requests_per_minute,
            requestsPerDay=args.requests_per_day,
            concurrentRequests=args.concurrent_requests,
            tokensPerMinute=args.tokens_per_minute,
        ),
    }
    client.call("POST", "/plans", json=body)
    return f"Plan {args.name} created."


def list_applications(client, args):
    items = client.all_pages(f"/tenants/{q(args.tenant)}/applications", "applications")
    if args.json:
        return items
    rows = [{**item, "keys": [key["prefix"] + "…" for key in item["keys"]]} for item in items]
    return table(rows, ["name", "plan", "endpoints", "keys"])


def _with_key(args, data, what):
    if args.json:
        return data
    return f"{what}. Its key, shown only this once:\n{data['key']}"


def create_application(client, args):
    body = {"name": args.name, "plan": args.plan, "endpoints": args.endpoint}
    if args.expires_in_days:
        body["expiresInDays"] = args.expires_in_days
    data = client.call("POST", f"/tenants/{q(args.tenant)}/applications", json=body)
    return _with_key(args, data, f"Application {args.name} created")


def rotate_application(client, args):
    body = {"graceSeconds": args.grace_seconds}
    if args.expires_in_days:
        body["expiresInDays"] = args.expires_in_days
    path = f"/tenants/{q(args.tenant)}/applications/{q(args.name)}/rotate"
    data = client.call("POST", path, json=body)
    return _with_key(
        args, data, f"New key for {args.name}; the old ones work for {args.grace_seconds} s more"
    )


def revoke_application(client, args):
    client.call("POST", f"/tenants/{q(args.tenant)}/applications/{q(args.name)}/revoke", json={})
    return f"Every key of {args.name} is revoked."


def delete_application(client, args):
    client.call("DELETE", f"/tenants/{q(args.tenant)}/applications", json={"name": args.name})
    return f"Application {args.name} and its keys are deleted."


def show_usage(client, args):
    params = given(
        application=args.application,
        endpoint=args.endpoint,
        since=args.since,
        until=args.until,
        granularity=args.granularity,
    )
    if args.csv:
        response = client.send(
            "GET", f"/tenants/{q(args.tenant)}/usage", params={**params, "format": "csv"}
        )
        if response.status_code >= 400:
            unwrap(response)
        return response.text.rstrip("\n")
    data = client.call("GET", f"/tenants/{q(args.tenant)}/usage", params=params)
    if args.json:
        return data
    if not data["series"]:
        return "No calls in this period."
    return table(data["series"], ["time", "requests", "errors", "p50_ms", "p99_ms", "tokens"])


POLL_SECONDS = 2
STALE_FAILURE_SECONDS = 15
WAIT = (
    (("--wait",), {"action": "store_true", "help": "wait until it is Ready, showing its phase"}),
    (("--timeout",), {"type": float, "default": 600, "help": "seconds --wait waits (600)"}),
)


def parser():
    top = argparse.ArgumentParser(
        prog="modelport", description="The Modelport management API from the command line."
    )
    top.add_argument(
        "--server",
        help="the portal's address (default: MODELPORT_SERVER, or the one you logged in to)",
    )
    top.add_argument("--json", action="store_true", help="print the API's data as JSON")
    groups = top.add_subparsers(dest="group", required=True, metavar="command")

    login.register(groups)

    tenants.register(groups)

    models.register(groups)

    g = add_group(groups, "endpoints", "inference endpoints")
    endpoint = (("endpoint",), {"help": "the endpoint's name"})
    add_command(g, "list", list_endpoints, "the tenant's endpoints", TENANT)
    add_command(
        g, "show", show_endpoint, "an endpoint: status, pods, model, policy", TENANT, endpoint
    )
    add_command(
        g,
        "create",
        create_endpoint,
        "create an endpoint from a serving template",
        TENANT,
        endpoint,
        (("--model",), {"required": True}),
        (("--serving",), {"required": True, "help": "a template (modelport servings list)"}),
        (("--subject",), {"required": True, "help": "the client certificates' subject (CN)"}),
        (("--policy",), {"help": "modelVersionPolicy, e.g. '{latest {}}'"}),
        (("--resources",), {**JSON_OPTION, "help": "JSON of requests/limits"}),
        (("--replicas",), {"type": int}),
        *WAIT,
    )
    add_command(
        g,
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
        g,
        "scale",
        scale_endpoint,
        "set the number of replicas",
        TENANT,
        endpoint,
        (("replicas",), {"type": int}),
        *WAIT,
    )
    add_command(g, "delete", delete_endpoint, "delete an endpoint", TENANT, endpoint)

    g = add_group(groups, "servings", "serving templates")
    add_command(g, "list", list_servings, "the templates")
    add_command(g, "show", show_serving, "a template's files", (("name",), {}))

    g = add_group(groups, "plans", "plans and their limits (platform admins create)")
    add_command(g, "list", list_plans, "the plans")
    add_command(
        g,
        "create",
        create_plan,
        "create a plan",
        (("name",), {}),
        (("--description",), {"default": ""}),
        (("--requests-per-minute",), {"type": int}),
        (("--requests-per-day",), {"type": int}),
        (("--concurrent-requests",), {"type": int}),
        (("--tokens-per-minute",), {"type": int}),
    )

    g = add_group(groups, "applications", "client applications and their API keys")
    name = (("name",), {"help": "the application's name"})
    expiry = (("--expires-in-days",), {"type": int, "help": "the new key's lifetime"})
    add_command(
        g, "list", list_applications, "the tenant's applications (key prefixes only)", TENANT
    )
    add_command(
        g,
        "create",
        create_application,
        "create an application and its key",
        TENANT,
        name,
        (("--plan",), {"required": True}),
        (
            ("--endpoint",),
            {
                "action": "append",
                "required": True,
                "help": "an endpoint it may call (repeat for more)",
            },
        ),
        expiry,
    )
    add_command(
        g,
        "rotate",
        rotate_application,
        "issue a new key; the old ones work for a grace period",
        TENANT,
        name,
        (("--grace-seconds",), {"type": int, "default": 3600}),
        expiry,
    )
    add_command(
        g, "revoke", revoke_application, "stop every key of an application now", TENANT, name
    )
    add_command(g, "delete", delete_application, "delete an application and its keys", TENANT, name)

    usage = add_command(
        groups, "usage", show_usage, "requests, errors, latency and tokens over time", TENANT
    )
    for option in ("--application", "--endpoint", "--since", "--until"):
        usage.add_argument(option)
    usage.add_argument("--granularity", choices=["minute", "hour", "day"])
    usage.add_argument("--csv", action="store_true", help="print the CSV export")
    return top


def main(argv=None, client=None):
    args = parser().parse_args(argv)
    client = client or Client(Credentials.load(server=args.server))
    if args.server:
        client.credentials.server = args.server
    try:
        result = args.handler(client, args)
    except CliError as error:
        print(f"error: {error} ({error.code})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    show(result)
    return 0
