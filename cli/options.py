"""How the resource modules declare their commands: the arguments several commands share and
the helpers that add a command, or a group of commands, to the parser."""

import argparse
import json


def json_argument(text):
    """An argument's JSON, parsed; bad JSON is a usage error (exit 2)."""
    try:
        return json.loads(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not valid JSON: {text!r}") from None


TENANT = (("tenant",), {"help": "the tenant's name"})
JSON_OPTION = {"type": json_argument}


def add_command(subparsers, name, handler, help_text, *arguments):
    """A command: its (names, options) arguments, and the handler that runs it;
    `handler(client, args)` returns what to print (data, a table or a sentence)."""
    command = subparsers.add_parser(name, help=help_text, description=help_text)
    for names, options in arguments:
        command.add_argument(*names, **options)
    command.set_defaults(handler=handler)
    return command


def add_group(commands, name, help_text):
    """A group of commands (`modelport <group> <action>`); add its actions to what it returns."""
    return commands.add_parser(name, help=help_text).add_subparsers(
        dest="action", required=True, metavar="action"
    )


def given(**values):
    """The options given on the command line (those not left out)."""
    return {key: value for key, value in values.items() if value is not None}
