"""The `modelport` command: every call of the management API from a terminal or a script.

    python -m cli login                      # single sign-on: open the URL, paste the code
    python -m cli login --token mpt_…        # or a personal access token
    python -m cli endpoints list demo
    python -m cli models upload demo iris 1 ./model-dir

Lists print as tables; `--json` prints the API's data instead, for scripts. Errors print the
API's sentence and code on stderr and exit 1 (2 for bad command-line usage)."""

import argparse
import sys

from cli import applications, endpoints, login, models, tenants
from cli.client import Client, CliError, q, unwrap
from cli.credentials import Credentials
from cli.options import TENANT, add_command, given
from cli.output import show, table


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

    applications.register(groups)

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
