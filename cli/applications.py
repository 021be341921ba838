"""`modelport plans …` and `modelport applications …`: the plans that limit client
applications, and the applications with their API keys."""

from cli.client import q
from cli.options import TENANT, add_command, add_group, given
from cli.output import listing, table

# (option, API field, type) of each limit and price `plans create` sets.
PLAN_OPTIONS = (
    ("--requests-per-minute", "requestsPerMinute", int),
    ("--requests-per-day", "requestsPerDay", int),
    ("--concurrent-requests", "concurrentRequests", int),
    ("--tokens-per-minute", "tokensPerMinute", int),
    ("--tokens-per-day", "tokensPerDay", int),
    ("--tokens-per-month", "tokensPerMonth", int),
    ("--max-tokens-per-call", "maxTokensPerCall", int),
    ("--currency", "currency", str),
    ("--prompt-price-per-1k", "promptPricePer1k", str),
    ("--completion-price-per-1k", "completionPricePer1k", str),
    ("--spend-per-month", "spendPerMonth", str),
)


def list_plans(client, args):
    limits = [
        "requestsPerMinute",
        "requestsPerDay",
        "concurrentRequests",
        "tokensPerMinute",
        "tokensPerDay",
        "tokensPerMonth",
        "spendPerMonth",
    ]
    return listing(client, args, "/plans", "plans", ["name", *limits])


def create_plan(client, args):
    values = {
        field: getattr(args, option[2:].replace("-", "_")) for option, field, _ in PLAN_OPTIONS
    }
    body = {"name": args.name, "description": args.description, **given(**values)}
    client.call("POST", "/plans", json=body)
    return f"Plan {args.name} created."


def list_applications(client, args):
    items = client.all_pages(f"/tenants/{q(args.tenant)}/applications", "applications")
    if args.json:
        return items
    rows = [{**item, "keys": [key["prefix"] + "…" for key in item["keys"]]} for item in items]
    return table(rows, ["name", "plan", "endpoints", "keys"])


def _with_key(args, data, what):
    """`what` and the new key, which the API shows only this once; with --json, the data."""
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


def register(commands):
    """Add the plans and applications groups to the top-level commands."""
    plan_commands = add_group(commands, "plans", "plans and their limits (platform admins create)")
    add_command(plan_commands, "list", list_plans, "the plans")
    add_command(
        plan_commands,
        "create",
        create_plan,
        "create a plan",
        (("name",), {}),
        (("--description",), {"default": ""}),
        *(((option,), {"type": kind}) for option, _, kind in PLAN_OPTIONS),
    )

    application_commands = add_group(
        commands, "applications", "client applications and their API keys"
    )
    name = (("name",), {"help": "the application's name"})
    expiry = (("--expires-in-days",), {"type": int, "help": "the new key's lifetime"})
    add_command(
        application_commands,
        "list",
        list_applications,
        "the tenant's applications (key prefixes only)",
        TENANT,
    )
    add_command(
        application_commands,
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
        application_commands,
        "rotate",
        rotate_application,
        "issue a new key; the old ones work for a grace period",
        TENANT,
        name,
        (("--grace-seconds",), {"type": int, "default": 3600}),
        expiry,
    )
    add_command(
        application_commands,
        "revoke",
        revoke_application,
        "stop every key of an application now",
        TENANT,
        name,
    )
    add_command(
        application_commands,
        "delete",
        delete_application,
        "delete an application and its keys",
        TENANT,
        name,
    )
