"""The `modelport` command: every call of the management API from a terminal or a script.

    python -m cli login                      # single sign-on: open the URL, paste the code
    python -m cli login --token mpt_…        # or a personal access token
    python -m cli endpoints list demo
    python -m cli models upload demo iris 1 ./model-dir

Lists print as tables; `--json` prints the API's data instead, for scripts. Errors print the
API's sentence and code on stderr and exit 1 (2 for bad command-line usage)."""

import argparse
import sys

from cli import endpoints, login, models, tenants
from cli.client import Client, CliError, q, unwrap
from cli.credentials import Credentials
from cli.options import TENANT, add_command, add_group, given
from cli.output import listing, show, table


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

    endpoints.register(groups)

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
