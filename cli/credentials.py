"""Where the CLI keeps its server and credentials: a JSON file readable by its owner only
(`$MODELPORT_CONFIG`, default ~/.config/modelport/credentials.json). MODELPORT_SERVER and
MODELPORT_TOKEN override it, so scripts need no file at all."""

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path


def config_path() -> Path:
    configured = os.environ.get("MODELPORT_CONFIG")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(base) / "modelport" / "credentials.json"


@dataclass
class Credentials:
    server: str = ""
    token: str = ""  # a personal access token (mpt_…)
    id_token: str = ""
    refresh_token: str = ""
    username: str = ""
    path: Path = field(default_factory=config_path, repr=False)

    @classmethod
    def load(cls, server=None):
        path = config_path()
        stored = {}
        if path.exists():
            stored = json.loads(path.read_text())
        credentials = cls(
            **{key: stored.get(key, "") for key in ("server", "token", "id_token", "username")},
            refresh_token=stored.get("refresh_token") or "",
            path=path,
        )
        credentials.server = server or os.environ.get("MODELPORT_SERVER") or credentials.server
        if os.environ.get("MODELPORT_TOKEN"):
            credentials.token = os.environ["MODELPORT_TOKEN"]
        return credentials

    def secret(self):
        return self.token or self.id_token

    def store_tokens(self, tokens):
        self.token = ""
        self.id_token = tokens["id_token"]
        self.refresh_token = tokens.get("refresh_token") or self.refresh_token
        self.username = tokens.get("username", self.username)
        self.save()

    def save(self):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        values = {key: value for key, value in asdict(self).items() if key != "path"}
        # Created owner-only, never world-readable even for an instant.
        descriptor = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            json.dump(values, file, indent=2)
        os.chmod(self.path, 0o600)

    def forget(self):
        if self.path.exists():
            self.path.unlink()
