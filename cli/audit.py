"""`modelport audit`: who changed what in a tenant (tenant admins), or anywhere (platform
admins, without a tenant), newest first; `--jsonl` prints the whole export (audit/export)."""

from cli.client import q, unwrap
from cli.options import add_command, given
from cli.output import table

COLUMNS = ["time", "actor", "door", "action", "kind", "name"]


def show_audit(client, args):
    params = given(kind=args.kind, action=args.action, actor=args.actor, since=args.since)
    path = f"/tenants/{q(args.tenant)}/audit" if args.tenant else "/audit"
    if args.jsonl:
        response = client.send("GET", f"{path}/export", params=params)
        if response.status_code >= 400:
            unwrap(response)
        return response.text.rstrip("\n")
    data = client.call("GET", path, params={**params, "page_size": args.limit})
    if args.json:
        return data
    if not data["records"]:
        return "No changes recorded."
    rows = [{**record, "name": _where(record)} for record in data["records"]]
    return table(rows, COLUMNS)


def _where(record):
    if record["tenant"] and record["kind"] != "tenant":
        return f"{record['tenant']}/{record['name']}"
    return record["name"]


def register(commands):
    """Add audit to the top-level commands."""
    add_command(
        commands,
        "audit",
        show_audit,
        "who changed what, newest first",
        (("tenant",), {"nargs": "?", "help": "a tenant (default: every tenant, platform admins)"}),
        (("--kind",), {}),
        (("--action",), {}),
        (("--actor",), {}),
        (("--since",), {"help": "ISO 8601"}),
        (("--limit",), {"type": int, "default": 50, "help": "records shown (default 50)"}),
        (("--jsonl",), {"action": "store_true", "help": "print every match as JSON lines"}),
    )
