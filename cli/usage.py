"""`modelport usage`: a tenant's calls over time (requests, errors, latency, tokens), as a
table, JSON or the CSV export."""

from cli.client import q, unwrap
from cli.options import TENANT, add_command, given
from cli.output import table


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


def register(commands):
    """Add usage to the top-level commands."""
    add_command(
        commands,
        "usage",
        show_usage,
        "requests, errors, latency and tokens over time",
        TENANT,
        (("--application",), {}),
        (("--endpoint",), {}),
        (("--since",), {}),
        (("--until",), {}),
        (("--granularity",), {"choices": ["minute", "hour", "day"]}),
        (("--csv",), {"action": "store_true", "help": "print the CSV export"}),
    )
