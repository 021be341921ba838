"""Endpoint pages: the tenant's endpoints, creating one, and an endpoint's own page with its live
status, scale, edit, delete and quickstart. Every change goes through the serializers and
services the API uses, so the rules and the messages are the same."""

import json

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse

from endpoints import services
from endpoints.api.serializers import (
    EndpointCreateSerializer,
    EndpointUpdateSerializer,
    ScaleSerializer,
    create_endpoint,
    list_status,
)
from endpoints.api.views import get_endpoint
from endpoints.models import DEFAULT_VERSION_POLICY, Endpoint, ServingTemplate
from endpoints.selectors import served_metadata
from endpoints.validation import parse_version_policy
from models_store.models import ModelVersion, VersionState
from tenants.models import Role
from ui.pages import TenantPage, attempt, page, post_only, read_only, validated

# The request each serving template's protocol takes, for the quickstart snippets. Inputs are an
# example: a model's own input names and shapes are in its metadata (GET the model's URL).
V2_EXAMPLE = {
    "inputs": [
        {"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": [5.1, 3.5, 1.4, 0.2]}
    ]
}
PROTOCOLS = {
    "tf-serving": {
        "name": "TensorFlow Serving REST (v1)",
        "path": "v1/models/{model}:predict",
        "metadata": "v1/models/{model}/metadata",
        "body": {"instances": [[5.1, 3.5, 1.4, 0.2]]},
    },
    "v2": {
        "name": "Open Inference Protocol (KServe V2)",
        "path": "v2/models/{model}/infer",
        "metadata": "v2/models/{model}",
        "body": V2_EXAMPLE,
    },
}


# A value of each Open Inference Protocol datatype, to fill a sample request with.
SAMPLE_VALUES = (
    {"BOOL": False, "BYTES": ""}
    | dict.fromkeys(("FP16", "FP32", "FP64"), 0.0)
    | dict.fromkeys(("INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"), 0)
)


def sample_from_metadata(metadata):
    """A V2 request of one row that the model's metadata says it takes (every value zero), or
    None if the metadata does not say enough."""
    tensors = []
    for tensor in (metadata or {}).get("inputs") or []:
        datatype, shape = tensor.get("datatype"), tensor.get("shape") or []
        if datatype not in SAMPLE_VALUES or not all(isinstance(d, int) for d in shape):
            return None
        shape = [1 if size < 0 else size for size in shape] or [1]
        count = 1
        for size in shape:
            count *= size
        data = [SAMPLE_VALUES[datatype]] * count
        tensors.append({"name": tensor["name"], "shape": shape, "datatype": datatype, "data": data})
    return {"inputs": tensors} if tensors else None


def protocol(endpoint):
    """The protocol the endpoint speaks, with a sample request: for V2, one built from what the
    running model describes when it can be asked, else an example."""
    kind = "tf-serving" if endpoint.serving.name == "tf-serving" else "v2"
    spec = PROTOCOLS[kind]
    sample = sample_from_metadata(served_metadata(endpoint)) if kind == "v2" else None
    return {
        "name": spec["name"],
        "path": spec["path"].format(model=endpoint.model_name),
        "metadata": spec["metadata"].format(model=endpoint.model_name),
        "body": json.dumps(sample or spec["body"]),
        "from_metadata": sample is not None,
    }


def policy_text(kind, versions):
    """The modelVersionPolicy for the form's choice; specific versions are a list like `1, 3`."""
    if kind == "specific":
        numbers = [part for part in versions.replace(",", " ").split() if part]
        return "{specific {" + " ".join(f"versions: {n}" for n in numbers) + "}}"
    return "{all {}}" if kind == "all" else DEFAULT_VERSION_POLICY


def resources_from(form):
    """requests/limits of cpu and memory from the form; empty inputs are left out."""
    resources = {}
    for section in ("requests", "limits"):
        values = {
            name: form.get(f"{section}_{name}", "").strip()
            for name in ("cpu", "memory")
            if form.get(f"{section}_{name}", "").strip()
        }
        if values:
            resources[section] = values
    return resources


def _form_context(tenant, form=None, fields=None):
    models = (
        ModelVersion.objects.filter(tenant=tenant, state=VersionState.READY)
        .order_by("name")
        .values_list("name", flat=True)
        .distinct()
    )
    return {
        "servings": ServingTemplate.objects.order_by("name"),
        "default_serving": settings.MODELPORT_DEFAULT_SERVING,
        "model_names": list(models),
        "form": form or {},
        "fields": fields or {},
    }


@read_only
@page
def endpoint_list(request, tenant):
    context = TenantPage(request, tenant)
    endpoints = Endpoint.objects.filter(tenant=context.tenant).select_related("serving")
    rows = [(endpoint, list_status(endpoint)) for endpoint in endpoints.order_by("name")]
    return render(request, "ui/endpoints.html", context.context("endpoints", rows=rows))


@page
def endpoint_create(request, tenant):
    context = TenantPage(request, tenant, role=Role.EDITOR)
    form, fields = None, None
    if request.method == "POST":
        form = request.POST
        data = {
            "endpointName": form.get("endpointName", "").strip(),
            "modelName": form.get("modelName", "").strip(),
            "modelVersionPolicy": policy_text(form.get("policy"), form.get("versions", "")),
            "servingName": form.get("servingName", ""),
            "subjectName": form.get("subjectName", "").strip(),
            "resources": resources_from(form),
            "replicas": _int_or_text(form.get("replicas", "1")),
        }
        if not data["subjectName"]:
            del data["subjectName"]  # the default: <endpoint>.<tenant>

        def create():
            values = validated(EndpointCreateSerializer, data)
            return create_endpoint(values, tenant=context.tenant, created_by=request.user)

        outcome = attempt(request, create, success=f"Endpoint {data['endpointName']} created.")
        if outcome.ok:
            warning = services.model_warning(context.tenant, outcome.value.model_name)
            if warning:
                messages.warning(request, f"Warning: {warning}.")
            return redirect("ui:endpoint", tenant=tenant, endpoint=outcome.value.name)
        fields = outcome.fields
    return render(
        request,
        "ui/endpoint_form.html",
        context.context("endpoints", **_form_context(context.tenant, form, fields)),
    )


def _int_or_text(raw):
    """A number from a form field; anything else is passed on for the validator to explain."""
    raw = (raw or "").strip()
    return int(raw) if raw.isdigit() else raw


def _edit_values(endpoint, policy):
    """The edit form, filled in with what the endpoint has now."""
    values = {
        "modelName": endpoint.model_name,
        "subjectName": endpoint.subject_name,
        "policy": policy.kind,
        "versions": ", ".join(str(v) for v in policy.versions),
    }
    for section, quantities in (endpoint.resources or {}).items():
        for name, quantity in quantities.items():
            values[f"{section}_{name}"] = quantity
    return values


def _detail_context(request, context, endpoint):
    policy = parse_version_policy(endpoint.version_policy)
    base = request.build_absolute_uri("/").rstrip("/")
    return context.context(
        "endpoints",
        endpoint=endpoint,
        status=list_status(endpoint),
        policy=policy,
        edit=_edit_values(endpoint, policy),
        protocol=protocol(endpoint),
        gateway_url=f"{base}/gateway/{endpoint.tenant.name}/{endpoint.name}/",
        applications=endpoint.applications.order_by("name").values_list("name", flat=True),
        **_form_context(context.tenant),
    )


@read_only
@page
def endpoint_detail(request, tenant, endpoint):
    context = TenantPage(request, tenant)
    endpoint = get_endpoint(request.user, tenant, endpoint)
    return render(request, "ui/endpoint.html", _detail_context(request, context, endpoint))


@read_only
@page
def endpoint_status(request, tenant, endpoint):
    """The live part of the endpoint page, polled by htmx every few seconds."""
    endpoint = get_endpoint(request.user, tenant, endpoint)
    return render(
        request,
        "ui/endpoint_status.html",
        {"endpoint": endpoint, "status": list_status(endpoint), "tenant": endpoint.tenant},
    )


def _back(tenant, endpoint):
    return redirect("ui:endpoint", tenant=tenant, endpoint=endpoint)


@post_only
@page
def endpoint_scale(request, tenant, endpoint):
    endpoint = get_endpoint(request.user, tenant, endpoint, role=Role.EDITOR)
    replicas = _int_or_text(request.POST.get("replicas"))
    attempt(
        request,
        lambda: services.scale(
            endpoint, validated(ScaleSerializer, {"replicas": replicas})["replicas"]
        ),
        success=f"Scaling {endpoint.name} to {replicas} replicas.",
    )
    return _back(tenant, endpoint.name)


@post_only
@page
def endpoint_update(request, tenant, endpoint):
    endpoint = get_endpoint(request.user, tenant, endpoint, role=Role.EDITOR)
    form = request.POST
    data = {
        "modelName": form.get("modelName", "").strip(),
        "modelVersionPolicy": policy_text(form.get("policy"), form.get("versions", "")),
        "subjectName": form.get("subjectName", "").strip(),
        "resources": resources_from(form),
    }
    attempt(
        request,
        lambda: services.update_endpoint(endpoint, dict(validated(EndpointUpdateSerializer, data))),
        success=f"Endpoint {endpoint.name} updated.",
    )
    return _back(tenant, endpoint.name)


@post_only
@page
def endpoint_delete(request, tenant, endpoint):
    endpoint = get_endpoint(request.user, tenant, endpoint, role=Role.EDITOR)
    outcome = attempt(
        request,
        lambda: services.request_endpoint_deletion(endpoint),
        success=f"Endpoint {endpoint.name} is being deleted.",
    )
    if not outcome.ok:
        return _back(tenant, endpoint.name)
    return redirect(reverse("ui:endpoints", kwargs={"tenant": tenant}))
