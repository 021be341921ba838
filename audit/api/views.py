"""The audit trail over HTTP: a tenant's records for its admins, everyone's for platform admins;
filterable, paginated, and exported whole as JSON lines (`.../audit/export`)."""

import json

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from audit.models import AuditRecord
from core.api.params import instant
from core.api.schema import answers_page, error_responses
from core.api.views import ApiView
from tenants.api.views import TenantScopedView, require_platform_admin
from tenants.models import Role

# Query parameter -> the field it must equal.
EXACT_FILTERS = {
    "kind": "kind",
    "action": "action",
    "actor": "actor",
    "door": "door",
    "name": "name",
    "requestId": "request_id",
}
FILTER_PARAMETERS = [
    *(
        OpenApiParameter(p, str, description=f"Only records whose {p} is this.")
        for p in EXACT_FILTERS
    ),
    OpenApiParameter(
        "since", OpenApiTypes.DATETIME, description="ISO 8601: records from this time on."
    ),
    OpenApiParameter(
        "until", OpenApiTypes.DATETIME, description="ISO 8601: records before this time."
    ),
]
EXPORT = {
    (200, "application/x-ndjson"): OpenApiResponse(
        OpenApiTypes.STR, description="One record (as in the list) per line, newest first."
    )
}


class ChangeSerializer(serializers.Serializer):
    before = serializers.JSONField(allow_null=True)
    after = serializers.JSONField(allow_null=True)


class AuditRecordSerializer(serializers.Serializer):
    time = serializers.DateTimeField()
    actor = serializers.CharField(help_text="A user name, an application's name, or system.")
    actorKind = serializers.ChoiceField(choices=["user", "application", "system"])
    door = serializers.ChoiceField(
        choices=["api", "cli", "portal", "admin", "gateway", "worker", "command"]
    )
    action = serializers.CharField()
    kind = serializers.CharField()
    tenant = serializers.CharField(allow_blank=True)
    name = serializers.CharField(allow_blank=True)
    requestId = serializers.CharField(allow_blank=True)
    changes = serializers.DictField(
        child=ChangeSerializer(), help_text="{field: {before, after}}; secrets never."
    )


def record_item(record):
    return {
        "time": record.time.isoformat().replace("+00:00", "Z"),
        "actor": record.actor,
        "actorKind": record.actor_kind,
        "door": record.door,
        "action": record.action,
        "kind": record.kind,
        "tenant": record.tenant,
        "name": record.name,
        "requestId": record.request_id,
        "changes": record.changes,
    }


def filtered(records, params):
    records = records.filter(
        **{field: params[param] for param, field in EXACT_FILTERS.items() if param in params}
    )
    since, until = instant(params, "since", None), instant(params, "until", None)
    if since is not None:
        records = records.filter(time__gte=since)
    if until is not None:
        records = records.filter(time__lt=until)
    return records


def export(records, filename):
    """Every record, one JSON object per line, streamed."""
    lines = (json.dumps(record_item(r)) + "\n" for r in records.iterator(chunk_size=500))
    response = StreamingHttpResponse(lines, content_type="application/x-ndjson")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


class ExportView(ApiView):
    def perform_content_negotiation(self, request, force=False):
        # The export is written by the view itself; errors are JSON whatever was asked for.
        return JSONRenderer(), JSONRenderer.media_type


class TenantTrail(TenantScopedView):
    required_roles = {"GET": Role.ADMIN}

    def records(self, tenant):
        tenant = self.tenant(tenant)
        records = AuditRecord.objects.filter(tenant=tenant.name)
        return filtered(records, self.request.query_params), f"audit-{tenant.name}.jsonl"


class PlatformTrail(ApiView):
    # For platform admins alone, with what they do (for the 403's sentence).
    platform_admin_methods = {"GET": "read the platform's audit trail"}

    def records(self):
        require_platform_admin(self.request.user, self.platform_admin_methods["GET"])
        records = AuditRecord.objects.all()
        if "tenant" in self.request.query_params:
            records = records.filter(tenant=self.request.query_params["tenant"])
        return filtered(records, self.request.query_params), "audit.jsonl"


TENANT_PARAMETER = OpenApiParameter("tenant", str, description="Only this tenant's records.")


class TenantAuditView(TenantTrail):
    @answers_page(
        "records",
        AuditRecordSerializer(),
        name="AuditRecords",
        errors=(400, 403),
        summary="Who changed what in the tenant, newest first (tenant admins)",
        parameters=FILTER_PARAMETERS,
    )
    def get(self, request, tenant):
        records, _ = self.records(tenant)
        return self.paginate("records", records, record_item)


class TenantAuditExportView(TenantTrail, ExportView):
    @extend_schema(
        summary="The tenant's audit trail as JSON lines, every match (tenant admins)",
        parameters=FILTER_PARAMETERS,
        responses={**EXPORT, **error_responses(400, 401, 403, 404)},
    )
    def get(self, request, tenant):
        return export(*self.records(tenant))


class PlatformAuditView(PlatformTrail):
    @answers_page(
        "records",
        AuditRecordSerializer(),
        name="PlatformAuditRecords",
        errors=(400, 403),
        summary="Who changed what anywhere, newest first (platform admins)",
        parameters=[TENANT_PARAMETER, *FILTER_PARAMETERS],
    )
    def get(self, request):
        records, _ = self.records()
        return self.paginate("records", records, record_item)


class PlatformAuditExportView(PlatformTrail, ExportView):
    @extend_schema(
        summary="The whole audit trail as JSON lines, every match (platform admins)",
        parameters=[TENANT_PARAMETER, *FILTER_PARAMETERS],
        responses={**EXPORT, **error_responses(400, 401, 403)},
    )
    def get(self, request):
        return export(*self.records())
