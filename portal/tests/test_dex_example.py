"""deploy/dex/config.yaml must fit this portal: its client's redirect URIs are our callbacks, and
the static admin is in a group that can be made a platform admin."""

from pathlib import Path
from urllib.parse import urlsplit

import yaml
from django.urls import resolve

CONFIG = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "deploy/dex/config.yaml").read_text()
)


def test_the_portals_redirect_uris_are_its_callbacks():
    (client,) = CONFIG["staticClients"]
    names = {
        resolve(urlsplit(uri).path).url_name
        for uri in client["redirectURIs"]
        if "modelport.example.com" in uri
    }
    assert names == {"oidc_authentication_callback", "authenticate-callback"}


def test_both_connectors_yield_groups():
    ldap = next(c for c in CONFIG["connectors"] if c["type"] == "ldap")
    assert ldap["config"]["groupSearch"]["nameAttr"]
    assert all(user["groups"] for user in CONFIG["staticPasswords"])
    assert CONFIG["oauth2"]["responseTypes"] == ["code"]
