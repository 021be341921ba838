"""`modelport login`, `logout` and `whoami`: who the client calls the API as."""

import sys

from cli.options import add_command


def login(client, args):
    credentials = client.credentials
    if args.token:
        credentials.token, credentials.id_token, credentials.refresh_token = args.token, "", ""
        me = client.call("GET", "/me")
        credentials.username = me["username"]
        credentials.save()
        return f"Logged in to {client.server} as {me['username']} (token)."
    code = args.code
    if not code:
        print(
            f"Open this address in a browser, log in, and paste the code it shows:\n\n"
            f"  {client.server}/authenticate\n",
            file=sys.stderr,
        )
        code = input("Code: ").strip()
    tokens = client.call("POST", "/authenticate/token", json={"code": code}, auth=False)
    credentials.store_tokens(tokens)
    return f"Logged in to {client.server} as {tokens['username']}."


def logout(client, args):
    client.credentials.forget()
    return "Logged out: the stored credentials are deleted."


def whoami(client, args):
    return client.call("GET", "/me")


def register(commands):
    """Add login, logout and whoami to the top-level commands."""
    add_command(
        commands,
        "login",
        login,
        "log in (single sign-on, or --token)",
        (("--token",), {"help": "a personal access token (mpt_…) instead of single sign-on"}),
        (("--code",), {"help": "the code /authenticate showed (else you are asked for it)"}),
    )
    add_command(commands, "logout", logout, "forget the stored credentials")
    add_command(commands, "whoami", whoami, "who you are and your role in each tenant")
