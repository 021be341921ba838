"""Who may call what: every API route by every kind of caller, with the status each should get.

Routes are discovered from the URLconf, so routes added later join the matrix by themselves. A
route's kind comes from its view: AllowAny views are public; views under /tenants/<tenant>/ need
the role `tenants.access.role_for_method` gives the method (viewers read, editors write, unless
the view's `required_roles` says more), or platform admins alone for the methods in the view's
`platform_admin_methods` (members who see the tenant get a 403, others a 404); other routes are
platform-wide (anyone signed in reads, platform admins write; a read listed in the view's
`platform_admin_methods` is for platform admins alone). The callers authenticate with
real ID tokens from the test provider.

Writes send an empty JSON body: a caller without the role must be refused before the body is
looked at, and a caller with it gets past authorization (to a 400 or a 404 for a made-up object).
"""

import base64
import json

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.permissions import AllowAny
from rest_framework.test import APIClient
from rest_framework.views import APIView

from tenants.access import role_for_method
from tenants.models import Role, Tenant, TenantBinding
from testinfra.identity import OTHER_CLIENT_ID

pytestmark = pytest.mark.django_db

OK = "allowed"  # past authorization: 2xx, or a 400/404/409 about the request itself
E404 = "404 tenant_not_found"  # another tenant's data: as if it did not exist
E403 = "403"  # visible, but the role is too low
E401 = "401"  # no credential, or one we refuse
PUB = "no login needed"  # anything but a 401 (a signed URL may still refuse its signature)
ANY = "not checked"

CALLERS = (
    "platform admin",
    "tenant admin",
    "editor",
    "viewer",
    "other tenant",
    "anonymous",
    "expired token",
    "wrong audience",
    "forged signature",
)

# fmt: off
#                    platform tenant                  other          expired wrong  forged
#                    admin    admin   editor  viewer  tenant  anon.  token   aud.   signature
EXPECTED = {
    "public":          (PUB,  PUB,    PUB,    PUB,    PUB,    PUB,   ANY,    ANY,   ANY),
    "platform read":   (OK,   OK,     OK,     OK,     OK,     E401,  E401,   E401,  E401),
    "platform write":  (OK,   E403,   E403,   E403,   E403,   E401,  E401,   E401,  E401),
    "platform admin":  (OK,   E403,   E403,   E403,   E403,   E401,  E401,   E401,  E401),
    "tenant read":     (OK,   OK,     OK,     OK,     E404,   E401,  E401,   E401,  E401),
    "tenant write":    (OK,   OK,     OK,     E403,   E404,   E401,  E401,   E401,  E401),
    "tenant admin":    (OK,   OK,     E403,   E403,   E404,   E401,  E401,   E401,  E401),
    "tenant platform": (OK,   E403,   E403,   E403,   E404,   E401,  E401,   E401,  E401),
}
# fmt: on
TENANT_KIND = {Role.VIEWER: "tenant read", Role.EDITOR: "tenant write", Role.ADMIN: "tenant admin"}

# Not part of the management API: Django's admin site and DRF's login pages (their own login),
# the browser login views of mozilla-django-oidc, and the static files.
NOT_API = ("admin/", "api-auth/", "oidc/", "static/")
METHODS = ("get", "post", "put", "patch", "delete")


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry.callback


def api_routes():
    """(method, route, view class) for every DRF view in the URLconf."""
    found = []
    for route, callback in _walk(get_resolver().url_patterns):
        view = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
        if route.startswith(NOT_API) or not (view and issubclass(view, APIView)):
            continue
        for method in METHODS:
            if hasattr(view, method):
                found.append((method.upper(), "/" + route.lstrip("^").rstrip("$"), view))
    return sorted(found, key=lambda item: (item[1], METHODS.index(item[0].lower())))


def kind_of(method, route, view):
    if any(p is AllowAny for p in view.permission_classes):
        return "public"
    platform_only = method in getattr(view, "platform_admin_methods", ())
    if "<str:tenant>" in route or "<tenant>" in route:
        if platform_only:
            return "tenant platform"
        return TENANT_KIND[role_for_method(method, getattr(view, "required_roles", None))]
    if method == "GET":
        return "platform admin" if platform_only else "platform read"
    return "platform write"


def concrete(route):
    """The route with team-a as the tenant and made-up names for everything else."""
    path = route.replace("<str:tenant>", "team-a").replace("<tenant>", "team-a")
    while "<" in path:
        start = path.index("<")
        path = path[:start] + "does-not-exist" + path[path.index(">", start) + 1 :]
    return path


ROUTES = api_routes()


def test_the_matrix_sees_the_routes_we_know_of_with_their_kinds():
    kinds = {(method, route): kind_of(method, route, view) for method, route, view in ROUTES}
    for route, kind in {
        ("GET", "/tenants"): "platform read",
        ("POST", "/tenants"): "platform write",
        ("DELETE", "/tenants"): "platform write",
        ("GET", "/tenants/<str:tenant>"): "tenant read",
        ("PATCH", "/tenants/<str:tenant>"): "tenant platform",
        ("GET", "/tenants/<str:tenant>/bindings"): "tenant read",
        ("POST", "/tenants/<str:tenant>/bindings"): "tenant admin",
        ("DELETE", "/tenants/<str:tenant>/bindings"): "tenant admin",
        ("GET", "/me"): "platform read",
        ("GET", "/audit"): "platform admin",
        ("GET", "/tenants/<str:tenant>/audit"): "tenant admin",
        ("GET", "/authenticate"): "public",
        ("POST", "/authenticate/token"): "public",
    }.items():
        assert kinds.get(route) == kind, route


def _forge(token):
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["groups"] = ["platform-admins"]
    payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{payload}.{signature}"


@pytest.fixture
def callers(oidc, settings):
    settings.MODELPORT_PLATFORM_ADMIN_GROUPS = ["platform-admins"]
    team_a = Tenant.objects.create(name="team-a", scope="team-a-editors")
    team_b = Tenant.objects.create(name="team-b", scope="team-b-editors")
    for tenant, group, role in [
        (team_a, "team-a-admins", "admin"),
        (team_a, "team-a-editors", "editor"),
        (team_a, "team-a-viewers", "viewer"),
        (team_b, "team-b-admins", "admin"),
    ]:
        TenantBinding.objects.create(tenant=tenant, group=group, role=role)
    people = {
        "platform admin": ["platform-admins"],
        "tenant admin": ["team-a-admins"],
        "editor": ["team-a-editors"],
        "viewer": ["team-a-viewers"],
        "other tenant": ["team-b-admins"],
    }
    oidc.set_accounts(
        {
            name: {"username": name.replace(" ", "-"), "password": "x", "groups": groups}
            for name, groups in people.items()
        }
    )
    tokens = {name: oidc.id_token(name) for name in people}
    tokens["anonymous"] = None
    tokens["expired token"] = oidc.id_token("editor", expires_in=-300)
    tokens["wrong audience"] = oidc.id_token("editor", client_id=OTHER_CLIENT_ID)
    tokens["forged signature"] = _forge(tokens["editor"])
    return tokens


def outcome(response):
    """What the caller got, in the words of the EXPECTED table."""
    code = response.json().get("error", {}).get("code") if _is_json(response) else None
    if response.status_code == 401:
        return E401
    if response.status_code == 403:
        return E403
    if response.status_code == 404 and code == "tenant_not_found":
        return E404
    if response.status_code < 500:
        return OK
    return f"{response.status_code} {code}"


def _is_json(response):
    return response.get("Content-Type", "").startswith("application/json")


@pytest.mark.parametrize(
    ("method", "route", "view"), ROUTES, ids=[f"{m} {r}" for m, r, _ in ROUTES]
)
def test_every_caller_gets_what_the_route_kind_promises(callers, method, route, view):
    kind = kind_of(method, route, view)
    path = concrete(route)
    wrong = []
    for caller, expected in zip(CALLERS, EXPECTED[kind], strict=True):
        if expected == ANY:
            continue
        client = APIClient()
        if callers[caller]:
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {callers[caller]}")
        response = client.generic(method, path, "{}", content_type="application/json")
        got = outcome(response)
        if expected == PUB and got != E401 and response.status_code < 500:
            continue
        if got != expected:
            wrong.append(f"{caller}: expected {expected}, got {got} ({response.status_code})")
    assert not wrong, f"{method} {path} ({kind}):\n" + "\n".join(wrong)


def test_lists_never_include_another_tenants_rows(callers):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {callers['other tenant']}")
    assert client.get("/tenants").json()["data"] == {"tenants": ["team-b"]}
    assert client.get("/me").json()["data"]["tenants"] == [{"name": "team-b", "role": "admin"}]
