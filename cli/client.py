"""HTTP to the management API: the envelope unwrapped, errors as CliError with the API's code
and sentence, lists followed through their pages, and an expired ID token refreshed once."""

from urllib.parse import quote

import requests

from cli.credentials import Credentials

TIMEOUT = (10, 300)  # connect, read: archives and big parts take a while


class CliError(Exception):
    def __init__(self, message, code="cli_error"):
        super().__init__(message)
        self.code = code


USER_AGENT = "modelport-cli/1"


class Client:
    def __init__(self, credentials: Credentials, session=None):
        self.credentials = credentials
        self.session = session or requests.Session()
        self.session.headers["Accept"] = "application/json"
        # The audit trail says a change came through the CLI by this (core.audit.door_of).
        self.session.headers["User-Agent"] = USER_AGENT

    @property
    def server(self):
        if not self.credentials.server:
            raise CliError(
                "No server: pass --server, set MODELPORT_SERVER, or run `modelport login`.",
                "no_server",
            )
        return self.credentials.server.rstrip("/")

    def call(self, method, path, **kwargs):
        """The `data` of the API's answer (or the bare body of the few calls that answer
        without the envelope)."""
        return unwrap(self.send(method, path, **kwargs))

    def send(self, method, path, *, auth=True, **kwargs):
        """The response; if the API refuses an ID token, it is refreshed and the call made
        again, once. Errors are left to `unwrap`."""
        response = self._send(method, path, auth=auth, **kwargs)
        if auth and response.status_code == 401 and self._refreshed():
            response = self._send(method, path, auth=auth, **kwargs)
        return response

    def all_pages(self, path, key, params=None):
        """Every item of a paginated list, following `pagination.next`."""
        params = {**(params or {}), "page_size": 1000}
        items, page = [], 1
        while True:
            response = self.send("GET", path, params={**params, "page": page})
            body = _json(response)
            items.extend(unwrap(response, body)[key])
            if not (body.get("pagination") or {}).get("next"):
                return items
            page += 1

    def _send(self, method, path, *, auth=True, **kwargs):
        headers = {}
        if auth and self.credentials.secret():
            headers["Authorization"] = f"Bearer {self.credentials.secret()}"
        try:
            return self.session.request(
                method, self.server + path, headers=headers, timeout=TIMEOUT, **kwargs
            )
        except requests.ConnectionError:
            raise CliError(f"Cannot reach {self.server}.", "unreachable") from None

    def _refreshed(self):
        """Trade the stored refresh token for a new ID token; False if there is none."""
        refresh = self.credentials.refresh_token
        if not refresh or self.credentials.token:
            return False
        tokens = unwrap(
            self._send("POST", "/authenticate/token", json={"refresh_token": refresh}, auth=False)
        )
        self.credentials.store_tokens(tokens)
        return True


def q(name):
    """A name as one segment of a URL path."""
    return quote(name, safe="")


def _json(response):
    try:
        return response.json()
    except ValueError:
        return None


def unwrap(response, body=None):
    body = body if body is not None else _json(response)
    if response.status_code >= 400:
        error = (body or {}).get("error") if isinstance(body, dict) else None
        if error:
            message = error.get("message", "")
            for field, problems in (error.get("fields") or {}).items():
                message += f"\n  {field}: {_sentence(problems)}"
            raise CliError(message, error.get("code", "error"))
        raise CliError(
            f"The server answered {response.status_code} {response.reason}.", "http_error"
        )
    if isinstance(body, dict) and "status" in body and "data" in body:
        return body["data"]
    return body


def _sentence(problems):
    if isinstance(problems, dict):
        return "; ".join(f"{key}: {_sentence(value)}" for key, value in problems.items())
    if isinstance(problems, list):
        return " ".join(str(problem) for problem in problems)
    return str(problems)
