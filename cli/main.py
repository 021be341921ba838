"""The `modelport` command: every call of the management API from a terminal or a script.

    python -m cli login                      # single sign-on: open the URL, paste the code
    python -m cli login --token mpt_…        # or a personal access token
    python -m cli endpoints list demo
    python -m cli models upload demo iris 1 ./model-dir

Lists print as tables; `--json` prints the API's data instead, for scripts. Errors print the
API's sentence and code on stderr and exit 1 (2 for bad command-line usage)."""

import argparse
import base64
import json
import sys
import time
from pathlib import Path

from cli import upload
from cli.client import Client, CliError, q, unwrap
from cli.credentials import Credentials
from cli.options import JSON_OPTION, TENANT, add_command, add_group, given
from cli.output import table


def _certificate(path):
    """A CA certificate file as the API takes it: base64 of the PEM."""
    return base64.b64encode(Path(path).read_bytes()).decode()


class Commands:
    """One method per command; each returns what to print (data, a table, or a sentence)."""

    def __init__(self, client: Client, args):
        self.client = client
        self.args = args

    def call(self, method, path, **kwargs):
        return self.client.call(method, path, **kwargs)

    def listing(self, path, key, columns, params=None):
        items = self.client.all_pages(path, key, params)
        if self.args.json:
            return items
        if columns is None:
            return "\n".join(items)
        return table(items, columns)

    # Identity
    def login(self, a):
        credentials = self.client.credentials
        if a.token:
            credentials.token, credentials.id_token, credentials.refresh_token = a.token, "", ""
            me = self.call("GET", "/me")
            credentials.username = me["username"]
            credentials.save()
            return f"Logged in to {self.client.server} as {me['username']} (token)."
        code = a.code
        if not code:
            print(
                f"Open this address in a browser, log in, and paste the code it shows:\n\n"
                f"  {self.client.server}/authenticate\n",
                file=sys.stderr,
            )
            code = input("Code: ").strip()
        tokens = self.call("POST", "/authenticate/token", json={"code": code}, auth=False)
        credentials.store_tokens(tokens)
        return f"Logged in to {self.client.server} as {tokens['username']}."

    def logout(self, a):
        self.client.credentials.forget()
        return "Logged out: the stored credentials are deleted."

    def whoami(self, a):
        return self.call("GET", "/me")

    # Tenants
    def tenants_list(self, a):
        return self.listing("/tenants", "tenants", None)

    def tenants_show(self, a):
        return self.call("GET", f"/tenants/{q(a.tenant)}")

    def tenants_create(self, a):
        body = {"name": a.name, "scope": a.scope, "quota": a.quota or {}}
        if a.cert:
            body["cert"] = _certificate(a.cert)
        self.call("POST", "/tenants", json=body)
        return f"Tenant {a.name} created; its namespace and bucket are being provisioned."

    def tenants_update(self, a):
        body = given(quota=a.quota)
        if a.cert:
            body["cert"] = _certificate(a.cert)
        if a.remove_cert:
            body["cert"] = ""
        if not body:
            raise CliError(
                "Say what to change: --quota, --cert or --remove-cert.", "nothing_to_change"
            )
        return self.call("PATCH", f"/tenants/{q(a.tenant)}", json=body)

    def tenants_delete(self, a):
        self.call("DELETE", "/tenants", json={"name": a.name})
        return f"Tenant {a.name} is being deleted with its endpoints, models and bucket."

    def bindings_list(self, a):
        return self.listing(f"/tenants/{q(a.tenant)}/bindings", "bindings", ["group", "role"])

    def bindings_add(self, a):
        data = self.call(
            "POST", f"/tenants/{q(a.tenant)}/bindings", json={"group": a.group, "role": a.role}
        )
        return f"Group {data['group']} has the {data['role']} role in {a.tenant}."

    def bindings_remove(self, a):
        self.call("DELETE", f"/tenants/{q(a.tenant)}/bindings", json={"group": a.group})
        return f"Group {a.group} no longer has a role in {a.tenant}."

    # Models
    def models_list(self, a):
        return self.listing(
            f"/tenants/{q(a.tenant)}/models", "models", ["name", "version", "path", "size"]
        )

    def models_upload(self, a):
        shown = set()

        def report(name, sent, size):
            if a.quiet:
                return
            if shown and name not in shown:
                print(file=sys.stderr)  # the previous file's line is finished
            shown.add(name)
            percent = 100 if size == 0 else sent * 100 // size
            print(f"\r{name}: {percent}% of {size:,} bytes", end="", file=sys.stderr, flush=True)

        files = upload.files_to_upload(a.paths)
        done = upload.upload_files(
            self.client, a.tenant, a.model, a.version, files, overwrite=a.overwrite, report=report
        )
        if shown:
            print(file=sys.stderr)
        if self.args.json:
            return done
        total = sum(item.get("size") or 0 for item in done)
        return f"Uploaded {len(done)} file(s), {total:,} bytes, to {a.model} version {a.version}."

    def models_download(self, a):
        params = {"modelName": a.model, "modelVersion": a.version, "fileName": a.file}
        link = self.call("GET", f"/tenants/{q(a.tenant)}/models/download", params=params)
        target = Path(a.output or Path(a.file).name)
        upload.download(self.client, link["url"], target)
        return f"Saved {a.file} to {target} ({target.stat().st_size:,} bytes)."

    def models_delete(self, a):
        data = self.call(
            "DELETE",
            f"/tenants/{q(a.tenant)}/models",
            json={"modelName": a.model, "modelVersion": a.version},
        )
        return f"Deleting {data['model_path']}."

    # Endpoints
    def endpoints_list(self, a):
        return self.listing(
            f"/tenants/{q(a.tenant)}/endpoints", "endpoints", ["name", "status", "url"]
        )

    def endpoints_show(self, a):
        return self.call("GET", f"/tenants/{q(a.tenant)}/endpoints/{q(a.endpoint)}")

    def _settled(self, a, done):
        """With --wait: poll the endpoint until it serves as asked (its change applied, Ready,
        every replica available), printing its phase as it changes; Failed or the timeout is an
        error. Without --wait: `done` as it is."""
        if not a.wait:
            return done
        path = f"/tenants/{q(a.tenant)}/endpoints/{q(a.endpoint)}"
        started = time.monotonic()
        said, moved = None, False
        while True:
            detail = self.call("GET", path)
            phase, message = detail["phase"], detail["message"]
            if (phase, message) != said:
                print(f"{a.endpoint}: {phase}{f' ({message})' if message else ''}", file=sys.stderr)
                said = (phase, message)
            applied = detail["observedGeneration"] >= detail["generation"]
            available = detail["replicas"]["available"] == detail["desired replicas"]
            if applied and phase == "Ready" and available:
                return f"{done}\nEndpoint {a.endpoint} is Ready." if isinstance(done, str) else done
            moved = moved or phase != "Failed"
            # A failed reconcile leaves the generation unobserved (the resync tries again), so
            # Failed is this change's failure if the endpoint is new, or left Failed meanwhile,
            # or stays Failed longer than the worker takes to pick a change up.
            waited = time.monotonic() - started
            ours = detail["generation"] == 1 or moved or waited > STALE_FAILURE_SECONDS
            if phase == "Failed" and (applied or ours):
                raise CliError(f"Endpoint {a.endpoint} failed: {message}", "endpoint_failed")
            if waited > a.timeout:
                reason = f": {message.rstrip('.')}" if message else ""
                raise CliError(
                    f"Endpoint {a.endpoint} is still {phase} after {a.timeout:g} s{reason}.",
                    "timeout",
                )
            time.sleep(POLL_SECONDS)

    def endpoints_create(self, a):
        body = {
            "endpointName": a.endpoint,
            "modelName": a.model,
            "servingName": a.serving,
            "subjectName": a.subject,
            "resources": a.resources or {},
        }
        if a.policy:
            body["modelVersionPolicy"] = a.policy
        if a.replicas is not None:
            body["replicas"] = a.replicas
        data = self.call("POST", f"/tenants/{q(a.tenant)}/endpoints", json=body)
        if self.args.json:
            return self._settled(a, data)
        warning = f"\nWarning: {data['warning']}." if data.get("warning") else ""
        return self._settled(a, f"Endpoint {a.endpoint} created: {data['url']}{warning}")

    def endpoints_update(self, a):
        changes = given(
            modelName=a.model,
            modelVersionPolicy=a.policy,
            subjectName=a.subject,
            resources=a.resources,
        )
        if not changes:
            raise CliError(
                "Say what to change: --model, --policy, --subject or --resources.",
                "nothing_to_change",
            )
        data = self.call("PATCH", f"/tenants/{q(a.tenant)}/endpoints/{q(a.endpoint)}", json=changes)
        return self._settled(a, data if self.args.json else f"Endpoint {a.endpoint} updated.")

    def endpoints_scale(self, a):
        self.call(
            "PATCH",
            f"/tenants/{q(a.tenant)}/endpoints/{q(a.endpoint)}/replicas",
            json={"replicas": a.replicas},
        )
        return self._settled(a, f"Endpoint {a.endpoint} scaled to {a.replicas} replica(s).")

    def endpoints_delete(self, a):
        self.call("DELETE", f"/tenants/{q(a.tenant)}/endpoints", json={"endpointName": a.endpoint})
        return f"Endpoint {a.endpoint} is being deleted."

    def servings_list(self, a):
        names = self.call("GET", "/servings")
        return names if self.args.json else "\n".join(names)

    def servings_show(self, a):
        return self.call("GET", f"/servings/{q(a.name)}")

    # Plans, applications, usage
    def plans_list(self, a):
        return self.listing(
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

    def plans_create(self, a):
        body = {
            "name": a.name,
            "description": a.description,
            **given(
                requestsPerMinute=a.requests_per_minute,
                requestsPerDay=a.requests_per_day,
                concurrentRequests=a.concurrent_requests,
                tokensPerMinute=a.tokens_per_minute,
            ),
        }
        self.call("POST", "/plans", json=body)
        return f"Plan {a.name} created."

    def applications_list(self, a):
        items = self.client.all_pages(f"/tenants/{q(a.tenant)}/applications", "applications")
        if self.args.json:
            return items
        rows = [{**item, "keys": [key["prefix"] + "…" for key in item["keys"]]} for item in items]
        return table(rows, ["name", "plan", "endpoints", "keys"])

    def _key(self, data, what):
        if self.args.json:
            return data
        return f"{what}. Its key, shown only this once:\n{data['key']}"

    def applications_create(self, a):
        body = {"name": a.name, "plan": a.plan, "endpoints": a.endpoint}
        if a.expires_in_days:
            body["expiresInDays"] = a.expires_in_days
        data = self.call("POST", f"/tenants/{q(a.tenant)}/applications", json=body)
        return self._key(data, f"Application {a.name} created")

    def applications_rotate(self, a):
        body = {"graceSeconds": a.grace_seconds}
        if a.expires_in_days:
            body["expiresInDays"] = a.expires_in_days
        path = f"/tenants/{q(a.tenant)}/applications/{q(a.name)}/rotate"
        data = self.call("POST", path, json=body)
        return self._key(
            data, f"New key for {a.name}; the old ones work for {a.grace_seconds} s more"
        )

    def applications_revoke(self, a):
        self.call("POST", f"/tenants/{q(a.tenant)}/applications/{q(a.name)}/revoke", json={})
        return f"Every key of {a.name} is revoked."

    def applications_delete(self, a):
        self.call("DELETE", f"/tenants/{q(a.tenant)}/applications", json={"name": a.name})
        return f"Application {a.name} and its keys are deleted."

    def usage(self, a):
        params = given(
            application=a.application,
            endpoint=a.endpoint,
            since=a.since,
            until=a.until,
            granularity=a.granularity,
        )
        if a.csv:
            response = self.client.send(
                "GET", f"/tenants/{q(a.tenant)}/usage", params={**params, "format": "csv"}
            )
            if response.status_code >= 400:
                unwrap(response)
            return response.text.rstrip("\n")
        data = self.call("GET", f"/tenants/{q(a.tenant)}/usage", params=params)
        if self.args.json:
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

    login = add_command(groups, "login", "login", "log in (single sign-on, or --token)")
    login.add_argument("--token", help="a personal access token (mpt_…) instead of single sign-on")
    login.add_argument("--code", help="the code /authenticate showed (else you are asked for it)")
    add_command(groups, "logout", "logout", "forget the stored credentials")
    add_command(groups, "whoami", "whoami", "who you are and your role in each tenant")

    g = add_group(groups, "tenants", "tenants (platform admins create and delete)")
    add_command(g, "list", "tenants_list", "the tenants you belong to")
    add_command(g, "show", "tenants_show", "a tenant: phase, quota and use, bindings", TENANT)
    add_command(
        g,
        "create",
        "tenants_create",
        "create a tenant",
        (("name",), {}),
        (("--scope",), {"required": True, "help": "the OIDC group of its users"}),
        (("--cert",), {"help": "a file with the PEM of the CA of client certificates"}),
        (("--quota",), {**JSON_OPTION, "help": "JSON, e.g. '{\"maxEndpoints\": 5}'"}),
    )
    update = add_command(
        g,
        "update",
        "tenants_update",
        "replace a tenant's quota or CA certificate",
        TENANT,
        (("--quota",), {**JSON_OPTION, "help": "JSON: the whole new quota"}),
    )
    certificate = update.add_mutually_exclusive_group()
    certificate.add_argument("--cert", help="a file with the PEM of the new CA")
    certificate.add_argument("--remove-cert", action="store_true", help="remove the CA")
    add_command(
        g,
        "delete",
        "tenants_delete",
        "delete a tenant with its endpoints, models and bucket",
        (("name",), {}),
    )

    g = add_group(groups, "bindings", "which OIDC groups have which role in a tenant")
    add_command(g, "list", "bindings_list", "the tenant's bindings", TENANT)
    add_command(
        g,
        "add",
        "bindings_add",
        "give a group a role",
        TENANT,
        (("group",), {}),
        (("role",), {"choices": ["viewer", "editor", "admin"]}),
    )
    add_command(
        g, "remove", "bindings_remove", "take a group's role away", TENANT, (("group",), {})
    )

    g = add_group(groups, "models", "model files in the tenant's bucket")
    add_command(g, "list", "models_list", "the tenant's model files", TENANT)
    add_command(
        g,
        "upload",
        "models_upload",
        "upload files (or directories) as a model version",
        TENANT,
        (("model",), {}),
        (("version",), {"type": int}),
        (("paths",), {"nargs": "+", "metavar": "path"}),
        (("--overwrite",), {"action": "store_true", "help": "replace files that exist"}),
        (("--quiet",), {"action": "store_true", "help": "no progress on stderr"}),
    )
    add_command(
        g,
        "download",
        "models_download",
        "download one file of a model version",
        TENANT,
        (("model",), {}),
        (("version",), {"type": int}),
        (("file",), {"help": "its name in the version, e.g. variables/variables.index"}),
        (("-o", "--output"), {"help": "where to save it (default: its name, here)"}),
    )
    add_command(
        g,
        "delete",
        "models_delete",
        "delete a model version",
        TENANT,
        (("model",), {}),
        (("version",), {"type": int}),
    )

    g = add_group(groups, "endpoints", "inference endpoints")
    endpoint = (("endpoint",), {"help": "the endpoint's name"})
    add_command(g, "list", "endpoints_list", "the tenant's endpoints", TENANT)
    add_command(
        g, "show", "endpoints_show", "an endpoint: status, pods, model, policy", TENANT, endpoint
    )
    add_command(
        g,
        "create",
        "endpoints_create",
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
        "endpoints_update",
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
        "endpoints_scale",
        "set the number of replicas",
        TENANT,
        endpoint,
        (("replicas",), {"type": int}),
        *WAIT,
    )
    add_command(g, "delete", "endpoints_delete", "delete an endpoint", TENANT, endpoint)

    g = add_group(groups, "servings", "serving templates")
    add_command(g, "list", "servings_list", "the templates")
    add_command(g, "show", "servings_show", "a template's files", (("name",), {}))

    g = add_group(groups, "plans", "plans and their limits (platform admins create)")
    add_command(g, "list", "plans_list", "the plans")
    add_command(
        g,
        "create",
        "plans_create",
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
        g, "list", "applications_list", "the tenant's applications (key prefixes only)", TENANT
    )
    add_command(
        g,
        "create",
        "applications_create",
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
        "applications_rotate",
        "issue a new key; the old ones work for a grace period",
        TENANT,
        name,
        (("--grace-seconds",), {"type": int, "default": 3600}),
        expiry,
    )
    add_command(
        g, "revoke", "applications_revoke", "stop every key of an application now", TENANT, name
    )
    add_command(
        g, "delete", "applications_delete", "delete an application and its keys", TENANT, name
    )

    usage = add_command(
        groups, "usage", "usage", "requests, errors, latency and tokens over time", TENANT
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
        result = getattr(Commands(client, args), args.handler)(args)
    except CliError as error:
        print(f"error: {error} ({error.code})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    if isinstance(result, str):
        print(result)
    else:
        print(json.dumps(result, indent=2))
    return 0
