"""The Activity tab: the tenant's audit trail for its admins, newest first, by kind."""

from django.core.paginator import Paginator
from django.shortcuts import render

from audit.models import AuditRecord
from tenants.models import Role
from ui.pages import TenantPage, page, read_only, tenant_admins_only

RECORDS_PER_PAGE = 50
KINDS = ("tenant", "binding", "endpoint", "model_file", "model_version", "application", "api_key")


@tenant_admins_only
@read_only
@page
def activity(request, tenant):
    context = TenantPage(request, tenant, role=Role.ADMIN)
    records = AuditRecord.objects.filter(tenant=context.tenant.name)
    kind = request.GET.get("kind", "")
    if kind in KINDS:
        records = records.filter(kind=kind)
    page_obj = Paginator(records, RECORDS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "ui/activity.html",
        context.context("activity", page_obj=page_obj, kinds=KINDS, kind=kind),
    )
