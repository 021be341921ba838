"""`modelport tenants …` and `modelport bindings …`: tenants, and which OIDC groups have which
role in them."""

import base64
from pathlib import Path

from cli.client import CliError, q
from cli.options import JSON_OPTION, TENANT, add_command, add_group, given
from cli.output import listing


def _certificate(path):
    """A CA certificate file as the API takes it: base64 of the PEM."""
    return base64.b64encode(Path(path).read_bytes()).decode()


def list_tenants(client, args):
    return listing(client, args, "/tenants", "tenants", None)


def show_tenant(client, args):
    return client.call("GET", f"/tenants/{q(args.tenant)}")


def create_tenant(client, args):
    body = {"name": args.name, "scope": args.scope, "quota": args.quota or {}}
    if args.cert:
        body["cert"] = _certificate(args.cert)
    client.call("POST", "/tenants", json=body)
    return f"Tenant {args.name} created; its namespace and bucket are being provisioned."


def update_tenant(client, args):
    body = given(quota=args.quota)
    if args.cert:
        body["cert"] = _certificate(args.cert)
    if args.remove_cert:
        body["cert"] = ""
    if not body:
        raise CliError("Say what to change: --quota, --cert or --remove-cert.", "nothing_to_change")
    return client.call("PATCH", f"/tenants/{q(args.tenant)}", json=body)


def delete_tenant(client, args):
    client.call("DELETE", "/tenants", json={"name": args.name})
    return f"Tenant {args.name} is being deleted with its endpoints, models and bucket."


def list_bindings(client, args):
    return listing(
        client, args, f"/tenants/{q(args.tenant)}/bindings", "bindings", ["group", "role"]
    )


def add_binding(client, args):
    data = client.call(
        "POST", f"/tenants/{q(args.tenant)}/bindings", json={"group": args.group, "role": args.role}
    )
    return f"Group {data['group']} has the {data['role']} role in {args.tenant}."


def remove_binding(client, args):
    client.call("DELETE", f"/tenants/{q(args.tenant)}/bindings", json={"group": args.group})
    return f"Group {args.group} no longer has a role in {args.tenant}."


def register(commands):
    """Add the tenants and bindings groups to the top-level commands."""
    tenant_commands = add_group(commands, "tenants", "tenants (platform admins create and delete)")
    add_command(tenant_commands, "list", list_tenants, "the tenants you belong to")
    add_command(
        tenant_commands, "show", show_tenant, "a tenant: phase, quota and use, bindings", TENANT
    )
    add_command(
        tenant_commands,
        "create",
        create_tenant,
        "create a tenant",
        (("name",), {}),
        (("--scope",), {"required": True, "help": "the OIDC group of its users"}),
        (("--cert",), {"help": "a file with the PEM of the CA of client certificates"}),
        (("--quota",), {**JSON_OPTION, "help": "JSON, e.g. '{\"maxEndpoints\": 5}'"}),
    )
    update_command = add_command(
        tenant_commands,
        "update",
        update_tenant,
        "replace a tenant's quota or CA certificate",
        TENANT,
        (("--quota",), {**JSON_OPTION, "help": "JSON: the whole new quota"}),
    )
    certificate = update_command.add_mutually_exclusive_group()
    certificate.add_argument("--cert", help="a file with the PEM of the new CA")
    certificate.add_argument("--remove-cert", action="store_true", help="remove the CA")
    add_command(
        tenant_commands,
        "delete",
        delete_tenant,
        "delete a tenant with its endpoints, models and bucket",
        (("name",), {}),
    )

    binding_commands = add_group(
        commands, "bindings", "which OIDC groups have which role in a tenant"
    )
    add_command(binding_commands, "list", list_bindings, "the tenant's bindings", TENANT)
    add_command(
        binding_commands,
        "add",
        add_binding,
        "give a group a role",
        TENANT,
        (("group",), {}),
        (("role",), {"choices": ["viewer", "editor", "admin"]}),
    )
    add_command(
        binding_commands,
        "remove",
        remove_binding,
        "take a group's role away",
        TENANT,
        (("group",), {}),
    )
