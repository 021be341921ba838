"""The OpenID provider the tests log in against: testinfra/oidc/provider.mjs (npm `oidc-provider`)
in a Node process on a free loopback port, driven through its small admin API."""

import json
import re
import shutil
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

from testinfra.servers import free_port, stop_process, wait_for_http

PROVIDER_DIR = Path(__file__).resolve().parent / "oidc"

CLIENT_ID = "modelport"
CLIENT_SECRET = "modelport-test-client-secret-0123456789"
OTHER_CLIENT_ID = "another-application"


class OidcProvider:
    def __init__(self, log_path):
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.process = None

    def start(self):
        node = shutil.which("node")
        if node is None or not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
            raise RuntimeError(
                "The test OpenID provider needs Node.js and `npm ci` in testinfra/oidc "
                "(make test does it)."
            )
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [node, "provider.mjs", str(self.port)],
            cwd=PROVIDER_DIR,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            # Node starts slowly on a busy machine.
            wait_for_http(
                f"{self.issuer}/.well-known/openid-configuration", timeout=90, process=self.process
            )
        except (RuntimeError, TimeoutError) as exc:
            self.stop()
            raise RuntimeError(f"{exc}; its log:\n{self.log_path.read_text()}") from None
        return self

    def stop(self):
        if self.process is not None:
            stop_process(self.process)
            self.log.close()

    def _call(self, method, path, body):
        request = urllib.request.Request(
            self.issuer + path,
            data=json.dumps(body).encode(),
            method=method,
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def set_clients(self, redirect_uris):
        """This portal's client, and another application's (whose tokens we must refuse)."""
        return self._call(
            "PUT",
            "/admin/clients",
            [
                {
                    "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET,
                    "redirect_uris": redirect_uris,
                },
                {
                    "client_id": OTHER_CLIENT_ID,
                    "client_secret": "another-secret-of-32-characters!",
                    "redirect_uris": ["http://127.0.0.1:1/callback"],
                },
            ],
        )

    def set_accounts(self, accounts):
        """{sub: {"username", "password", "email", "groups"}}; replaces every account."""
        self.accounts = accounts
        return self._call("PUT", "/admin/accounts", accounts)

    def set_groups(self, sub, groups):
        self.accounts[sub]["groups"] = list(groups)
        return self.set_accounts(self.accounts)

    def rotate_keys(self, keep_previous=False):
        """A new signing key; the old one stays published only with keep_previous."""
        return self._call("POST", "/admin/rotate", {"keep_previous": keep_previous})["kids"]

    def id_token(self, sub, client_id=CLIENT_ID, expires_in=None):
        """An ID token the provider signs for `sub`, as it would issue at login."""
        body = {"sub": sub, "client_id": client_id}
        if expires_in is not None:
            body["expires_in"] = expires_in
        return self._call("POST", "/admin/id-token", body)["id_token"]

    def log_in(self, authorize_url, username, password):
        """What a person's browser does: open the authorization URL, sign in on the login form,
        and follow the provider's redirects until it sends us back to the client. Returns that
        redirect URL (with ?code=… or ?error=…)."""
        import requests

        session = requests.Session()
        url, method, form = authorize_url, "GET", None
        for _ in range(20):
            response = session.request(method, url, data=form, allow_redirects=False, timeout=10)
            location = response.headers.get("location")
            if location:
                url = urllib.parse.urljoin(url, location)
                if not url.startswith(self.issuer):
                    return url
                method, form = "GET", None
            elif 'name="username"' in response.text and form is None:
                action = re.search(r'action="([^"]+)"', response.text).group(1)
                url = urllib.parse.urljoin(url, action)
                method, form = "POST", {"username": username, "password": password}
            else:
                raise AssertionError(f"the provider stopped at {url}: {response.text[:500]}")
        raise AssertionError("the provider redirected too many times")


def add_bob(oidc, role="editor"):
    """Account `bob` at the provider (password `bob-password`), in group team-a-users, which
    has `role` in tenant team-a."""
    from tenants.models import Tenant, TenantBinding

    oidc.set_accounts(
        {
            "sub-bob": {
                "username": "bob",
                "password": "bob-password",
                "email": "bob@example.com",
                "groups": ["team-a-users"],
            }
        }
    )
    tenant = Tenant.objects.create(name="team-a", scope="team-a-users")
    TenantBinding.objects.create(tenant=tenant, group="team-a-users", role=role)
    return oidc
