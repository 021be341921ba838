"""The `modelport` command: every call of the management API from a terminal or a script.

    python -m cli login                      # single sign-on: open the URL, paste the code
    python -m cli login --token mpt_…        # or a personal access token
    python -m cli endpoints list demo
    python -m cli models upload demo iris 1 ./model-dir

Lists print as tables; `--json` prints the API's data instead, for scripts. Errors print the
API's sentence and code on stderr and exit 1 (2 for bad command-line usage).

Each resource's commands are in a module of their own (cli/tenants.py, cli/endpoints.py, …),
which registers them on the parser assembled here."""

import argparse
import sys

from cli import applications, audit, endpoints, login, models, tenants, usage
from cli.client import Client, CliError
from cli.credentials import Credentials
from cli.output import show

# The resource modules; their commands appear in `modelport --help` in this order.
COMMAND_MODULES = (login, tenants, models, endpoints, applications, usage, audit)
# Options whose values may start with "-" (a login code is random base64url), which argparse
# would take for an option of their own unless written as `--code=<value>`.
DASH_VALUE_OPTIONS = ("--code",)


def _dash_values_joined(argv):
    """`--code -x…` as `--code=-x…`."""
    joined, pending = [], None
    for arg in argv:
        if pending is not None:
            joined.append(f"{pending}={arg}")
            pending = None
        elif arg in DASH_VALUE_OPTIONS:
            pending = arg
        else:
            joined.append(arg)
    return joined + ([pending] if pending is not None else [])


def parser():
    """The global options, then each resource module's commands."""
    top = argparse.ArgumentParser(
        prog="modelport", description="The Modelport management API from the command line."
    )
    top.add_argument(
        "--server",
        help="the portal's address (default: MODELPORT_SERVER, or the one you logged in to)",
    )
    top.add_argument("--json", action="store_true", help="print the API's data as JSON")
    commands = top.add_subparsers(dest="group", required=True, metavar="command")
    for module in COMMAND_MODULES:
        module.register(commands)
    return top


def main(argv=None, client=None):
    """Run the command `argv` asks for; the exit code."""
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(_dash_values_joined(argv))
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
