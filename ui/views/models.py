"""The Models tab: a tenant's model versions, deleting one, and uploading files. Uploads go from
the browser straight to storage (static/ui/upload.js drives the API's multipart upload with
presigned part URLs); deleting goes through the validation and service the API uses."""

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Max, Prefetch, Sum
from django.shortcuts import redirect, render

from endpoints.selectors import serving_by_version
from models_store import deletion, validation
from models_store.models import ModelFile, ModelVersion
from tenants.models import Role
from ui.pages import TenantPage, attempt, page, post_only, read_only
from workers.backends import describe_runtime

VERSIONS_PER_PAGE = 50
# A version made from an archive may hold thousands of files; the page lists the first ones.
FILES_SHOWN = 100
# Parts of 8 MiB: above S3's minimum, and small enough for the progress bars to move smoothly;
# upload.js makes them bigger for files that would need more than MAX_PART_NUMBER parts.
UPLOAD_PART_BYTES = 8 * 1024**2


def _versions_page(tenant, number):
    """One page of the tenant's versions, by model name then newest first, each with its file
    count, total size, first files and the endpoints serving it; a fixed number of queries."""
    shown = ModelFile.objects.order_by("path")[:FILES_SHOWN]
    versions = (
        ModelVersion.objects.filter(tenant=tenant)
        .annotate(file_count=Count("files"), total_size=Sum("files__size"))
        .order_by("name", "-version")
        .prefetch_related(Prefetch("files", queryset=shown, to_attr="shown_files"))
    )
    page_obj = Paginator(versions, VERSIONS_PER_PAGE).get_page(number)
    serving = serving_by_version(tenant, {version.name for version in page_obj})
    for version in page_obj:
        version.served_by = serving.get((version.name, version.version), [])
        version.files_not_shown = version.file_count - len(version.shown_files)
    return page_obj


def _list_context(request, context):
    page_obj = _versions_page(context.tenant, request.GET.get("page"))
    return context.context("models", page_obj=page_obj)


def _next_versions(tenant):
    """{model name: the version after its highest}, the upload form's default version."""
    highest = ModelVersion.objects.filter(tenant=tenant).values("name").annotate(top=Max("version"))
    return {row["name"]: row["top"] + 1 for row in highest}


@read_only
@page
def model_list(request, tenant):
    context = TenantPage(request, tenant)
    extra = {}
    if context.may(Role.EDITOR):
        extra = {
            "next_versions": _next_versions(context.tenant),
            "part_bytes": UPLOAD_PART_BYTES,
            "min_part_bytes": validation.MIN_PART_BYTES,
            "max_part_bytes": validation.MAX_PART_BYTES,
            "max_parts": validation.MAX_PART_NUMBER,
        }
    extra["runtime"] = describe_runtime()
    return render(request, "ui/models.html", {**_list_context(request, context), **extra})


@read_only
@page
def model_list_fragment(request, tenant):
    """The list alone, swapped in by htmx after an upload."""
    context = TenantPage(request, tenant)
    return render(request, "ui/models_list.html", _list_context(request, context))


@post_only
@page
def model_delete(request, tenant):
    context = TenantPage(request, tenant, role=Role.EDITOR)
    form = request.POST

    def delete():
        name = validation.model_name(form.get("modelName", "").strip())
        version = validation.model_version(form.get("modelVersion", "").strip())
        deletion.request_version_deletion(tenant=context.tenant, name=name, version=version)
        return name, version

    outcome = attempt(request, delete)
    if outcome.ok:
        name, version = outcome.value
        messages.success(request, f"Version {version} of {name} is being deleted.")
    return redirect("ui:models", tenant=tenant)
