"""Who may open which portal page: every route in the `ui` namespace, by every kind of caller,
as test_isolation_matrix.py does for the API.

Routes are discovered from the URLconf, so pages added later join the matrix by themselves. A
route's kind comes from its URL and its view: routes under /ui/t/<tenant>/ are tenant pages, and
those among them marked `platform_admins_only` are a tenant's pages for platform admins alone;
other views so marked are for platform admins; the rest are for anyone signed in.
Which methods a route takes comes from its view's `post_only` / `read_only` mark (both, if it has
neither), and the matrix checks the marks are true.

The callers: signed out (sent to sign in), a stranger (an admin of another tenant: team-a's
pages are not found), a viewer of team-a (reads, or a 404 for a made-up name; every write
refused, and a 403 on a page for platform admins alone) and a platform admin (anything short of
a refusal or a server error). Writes send a form
that would change something for a caller allowed to (the last test checks it does), and a refused
write must leave every tenant's rows as they were. No page a caller gets, refused or not, names
another tenant's endpoints, models or groups.
"""

from html import unescape

import pytest
from django.apps import apps
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RoutePattern

from conftest import make_certificate
from endpoints.models import Endpoint, ServingTemplate
from models_store.models import ModelVersion
from tenants.models import Tenant, TenantBinding

pytestmark = pytest.mark.django_db

# The sign-in views are for everyone, signed in or not.
SIGN_IN = {"login", "logout"}

# Objects that exist, by URL parameter; any other parameter gets a made-up name, and routes with
# such parameters are also tried with made-up names throughout.
REAL_NAMES = {"tenant": "team-a", "endpoint": "a-fraud-scorer", "name": "team-a"}
MADE_UP = "does-not-exist"

# What each caller must never see: the other tenant's endpoints, models and groups.
TEAM_A_PRIVATE = ("a-fraud-scorer", "a-private-model", "team-a-viewers", "team-a-editors")
TEAM_B_PRIVATE = ("b-churn-scorer", "b-churn-model", "team-b-admins", "team-b-editors")

# A form that changes something wherever it is allowed: a binding, replicas, a new tenant or
# endpoint, the typed confirmation of a deletion, a quota, a CA certificate.
HOSTILE_FORM = {
    "group": "intruders",
    "role": "admin",
    "replicas": "0",
    "confirm": "team-a",
    "name": "planted",
    "scope": "intruders",
    "endpointName": "planted",
    "modelName": "a-private-model",
    "servingName": "mlserver",
    "subjectName": "intruder",
    "policy": "latest",
    "maxEndpoints": "1",
    "cert": make_certificate(),
}


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def ui_routes():
    """(route, URL name, view) for every route in the `ui` namespace."""
    prefix, resolver = get_resolver().namespace_dict["ui"]
    return sorted(
        ("/" + prefix + route, pattern.name, pattern.callback)
        for route, pattern in _walk(resolver.url_patterns)
        if pattern.name not in SIGN_IN
    )


def kind_of(route, view):
    if "<str:tenant>" in route:
        if getattr(view, "platform_admins_only", False):
            return "tenant, platform admins"
        return "tenant"
    if getattr(view, "platform_admins_only", False):
        return "platform admin"
    return "signed in"


def methods_of(view):
    if getattr(view, "post_only", False):
        return ("POST",)
    if getattr(view, "read_only", False):
        return ("GET",)
    return ("GET", "POST")


def concrete(route, real=True):
    """The route with team-a as the tenant, and real or made-up names for everything else."""
    path = route
    for name in RoutePattern(route).converters:
        value = REAL_NAMES.get(name, MADE_UP) if real or name == "tenant" else MADE_UP
        path = path.replace(f"<str:{name}>", value).replace(f"<{name}>", value)
    return path


def cases():
    found = []
    for route, _, view in ui_routes():
        extra = [p for p in RoutePattern(route).converters if p != "tenant"]
        for real in (True, False) if extra else (True,):
            found.append(pytest.param(route, view, concrete(route, real), id=concrete(route, real)))
    return found


ROUTES = ui_routes()


def test_the_matrix_sees_the_routes_we_know_of_with_their_kinds_and_methods():
    seen = {name: (kind_of(route, view), methods_of(view)) for route, name, view in ROUTES}
    for name, expected in {
        "catalogue": ("signed in", ("GET",)),
        "tenants": ("platform admin", ("GET", "POST")),
        "tenant-delete": ("platform admin", ("POST",)),
        "endpoints": ("tenant", ("GET",)),
        "endpoint-create": ("tenant", ("GET", "POST")),
        "endpoint-scale": ("tenant", ("POST",)),
        "tenant-settings": ("tenant", ("GET",)),
        "tenant-status": ("tenant", ("GET",)),
        "binding-add": ("tenant", ("POST",)),
        "binding-remove": ("tenant", ("POST",)),
        "tenant-quota": ("tenant, platform admins", ("POST",)),
        "tenant-certificate": ("tenant, platform admins", ("POST",)),
    }.items():
        assert seen.get(name) == expected, name


@pytest.fixture
def world(make_user, settings):
    """team-a and team-b, each with an endpoint, a model and groups; the callers."""
    settings.MODELPORT_PLATFORM_ADMIN_GROUPS = ["platform-admins"]
    mlserver = ServingTemplate.objects.get(name="mlserver")
    for team, endpoint, model in [
        ("team-a", "a-fraud-scorer", "a-private-model"),
        ("team-b", "b-churn-scorer", "b-churn-model"),
    ]:
        tenant = Tenant.objects.create(name=team, scope=f"{team}-editors")
        for role in ("admin", "editor", "viewer"):
            TenantBinding.objects.create(tenant=tenant, group=f"{team}-{role}s", role=role)
        Endpoint.objects.create(
            tenant=tenant, name=endpoint, model_name=model, serving=mlserver, subject_name="c"
        )
        ModelVersion.objects.create(tenant=tenant, name=model, version=1)

    def signed_in(username, group):
        client = Client()
        client.force_login(make_user(username, groups=[group]))
        return client

    return {
        "signed out": Client(),
        "stranger": signed_in("mallory", "team-b-admins"),
        "viewer": signed_in("victor", "team-a-viewers"),
        "platform admin": signed_in("alice", "platform-admins"),
    }


def tenant_rows():
    """Every row that belongs to a tenant, by model: what a refused write must leave alone."""
    related = [
        model
        for model in apps.get_models()
        if model is Tenant
        or any(field.related_model is Tenant for field in model._meta.get_fields())
    ]
    return {
        model._meta.label: sorted(map(repr, model.objects.order_by("pk").values()))
        for model in related
    }


def call(client, method, path):
    if method == "GET":
        return client.get(path)
    return client.post(path, HOSTILE_FORM)


def text(response):
    return unescape(response.content.decode())


def unseen(caller):
    """What `caller` must never find in a page."""
    return {
        "stranger": TEAM_A_PRIVATE,
        "viewer": TEAM_B_PRIVATE,
        "signed out": TEAM_A_PRIVATE + TEAM_B_PRIVATE,
    }.get(caller, ())


def expectation(kind, caller, method, view):
    """The statuses `caller` may get, or None if any answer short of a server error will do. A
    viewer reads every page of the tenant, except a form that only writers can submit."""
    if caller == "signed out":
        return {302}
    if caller == "platform admin":
        return None
    if kind == "tenant, platform admins":
        return {404} if caller == "stranger" else {403}
    if kind == "tenant":
        if caller == "stranger":
            return {404}
        if method == "POST":
            return {403, 404}
        if getattr(view, "tenant_admins_only", False):
            return {403}
        return {200, 404} if getattr(view, "read_only", False) else {200, 403, 404}
    if kind == "platform admin":
        return {403}
    return {200} if method == "GET" else {403, 404}


@pytest.mark.parametrize(("route", "view", "path"), cases())
def test_every_caller_gets_what_the_route_kind_promises(world, route, view, path):
    kind = kind_of(route, view)
    wrong = []
    for method in ("GET", "POST"):
        for caller, client in world.items():
            before = tenant_rows()
            response = call(client, method, path)
            got = response.status_code
            if method not in methods_of(view):
                if got != 405:
                    wrong.append(f"{caller} {method}: {got}, not 405 (is the view marked right?)")
                continue
            expected = expectation(kind, caller, method, view)
            if expected is None:
                if got >= 500 or got in (403, 405):
                    wrong.append(f"{caller} {method}: {got}")
                continue
            if got not in expected:
                wrong.append(f"{caller} {method}: {got}, expected one of {sorted(expected)}")
            location = response.get("Location", "")
            if caller == "signed out" and not location.startswith("/ui/login/?next="):
                wrong.append(f"signed out {method}: sent to {response['Location']}")
            leaked = [secret for secret in unseen(caller) if secret in text(response)]
            if leaked:
                wrong.append(f"{caller} {method}: the page names {leaked}")
            if method == "POST" and tenant_rows() != before:
                wrong.append(f"{caller} {method}: a refused form changed tenant data")
    assert not wrong, f"{path}:\n" + "\n".join(wrong)


def test_unmarked_routes_answer_both_methods(world):
    """A view that takes only POST but is not marked post_only would be tested as a page."""
    admin = world["platform admin"]
    for route, name, view in ROUTES:
        if methods_of(view) == ("GET", "POST"):
            assert admin.get(concrete(route)).status_code != 405, name


@pytest.mark.parametrize(
    "name",
    [
        "binding-add",
        "endpoint-scale",
        "tenant-delete",
        "tenants",
        "tenant-quota",
        "tenant-certificate",
    ],
)
def test_the_hostile_form_changes_things_for_those_allowed(world, name):
    """Else "a refused form changed nothing" would prove nothing."""
    route = next(route for route, route_name, _ in ROUTES if route_name == name)
    before = tenant_rows()
    response = world["platform admin"].post(concrete(route), HOSTILE_FORM)
    assert response.status_code == 302
    assert tenant_rows() != before
