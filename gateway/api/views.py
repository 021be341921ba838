"""Gateway usage of a tenant's endpoints over time (JSON or CSV)."""

import csv
import io

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers
from rest_framework.renderers import JSONRenderer

from core.api.envelope import envelope
from core.api.schema import answers
from gateway.usage import GRANULARITY_SECONDS, query_usage
from tenants.api.views import TenantScopedView


class UsagePeriodSerializer(serializers.Serializer):
    time = serializers.DateTimeField(help_text="The period's start.")
    requests = serializers.IntegerField(min_value=0)
    errors = serializers.IntegerField(min_value=0)
    p50_ms = serializers.FloatField(allow_null=True, help_text="null when there were no calls.")
    p99_ms = serializers.FloatField(allow_null=True)
    tokens = serializers.IntegerField(min_value=0)
    prompt_tokens = serializers.IntegerField(min_value=0)
    completion_tokens = serializers.IntegerField(min_value=0)


class UsageSerializer(serializers.Serializer):
    series = UsagePeriodSerializer(many=True, help_text="Periods with calls, oldest first.")


class UsageView(TenantScopedView):
    """Gateway calls to the tenant's endpoints over time, from the flushed usage minutes."""

    def perform_content_negotiation(self, request, force=False):
        # `format=csv` is answered by get() itself; errors stay JSON.
        if request.query_params.get("format") == "csv":
            return JSONRenderer(), JSONRenderer.media_type
        return super().perform_content_negotiation(request, force)

    @answers(
        "OK",
        UsageSerializer,
        errors=(400, 404),
        summary="Requests, errors, latency percentiles and tokens over time (JSON or CSV)",
        parameters=[
            OpenApiParameter("application", str, description="Only this application's calls."),
            OpenApiParameter("endpoint", str, description="Only calls to this endpoint."),
            OpenApiParameter("since", str, description="ISO 8601; default: until minus a day."),
            OpenApiParameter("until", str, description="ISO 8601; default: now."),
            OpenApiParameter("granularity", str, enum=list(GRANULARITY_SECONDS)),
            OpenApiParameter("format", str, enum=["json", "csv"]),
        ],
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description="format=csv: time,requests,errors,p50_ms,p99_ms,tokens,"
                "prompt_tokens,completion_tokens",
            )
        },
    )
    def get(self, request, tenant):
        tenant = self.tenant(tenant)
        series = query_usage(tenant, request.query_params).series
        if request.query_params.get("format") == "csv":
            return _csv(series, f"usage-{tenant.name}.csv")
        return envelope("OK", {"series": series})


CSV_COLUMNS = (
    "time",
    "requests",
    "errors",
    "p50_ms",
    "p99_ms",
    "tokens",
    "prompt_tokens",
    "completion_tokens",
)


def _csv(series, filename):
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(series)
    response = HttpResponse(out.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
