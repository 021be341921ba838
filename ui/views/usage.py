"""The usage tab: a tenant's gateway calls over a recent range, for all of it or one application
or endpoint, as totals, two server-side charts, a table and a CSV download. The numbers come
from `query_usage`, the function the usage API answers with."""

from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from applications.models import Application
from core.errors import Invalid
from endpoints.models import Endpoint
from gateway.errors import GatewayErrorCode
from gateway.usage import GRANULARITY_SECONDS, query_usage
from ui import charts
from ui.pages import TenantPage, attempt, page, read_only

# The ranges offered, each with the granularity that gives a readable number of bars.
RANGES = {
    "1h": ("Last hour", timedelta(hours=1), "minute"),
    "24h": ("Last 24 hours", timedelta(days=1), "hour"),
    "7d": ("Last 7 days", timedelta(days=7), "hour"),
    "30d": ("Last 30 days", timedelta(days=30), "day"),
}
MEMBERS = "-"  # the application filter's value for members' own calls (no application)


def _iso(moment):
    return moment.isoformat().replace("+00:00", "Z")


def usage_params(choice, now):
    """The usage API's query parameters for the page's filters: since is put on a period
    boundary, so the first bar covers a whole period like the others."""
    if choice["range"] not in RANGES:
        raise Invalid(GatewayErrorCode.INVALID_RANGE, f"range: use one of {', '.join(RANGES)}.")
    _, span, default = RANGES[choice["range"]]
    granularity = choice["granularity"] or default
    params = {"granularity": granularity, "until": _iso(now)}
    step = GRANULARITY_SECONDS.get(granularity)
    if step:  # an unknown one is for query_usage to explain
        since = int((now - span).timestamp()) // step * step
        params["since"] = _iso(datetime.fromtimestamp(since, tz=UTC))
    if choice["application"]:
        params["application"] = "" if choice["application"] == MEMBERS else choice["application"]
    if choice["endpoint"]:
        params["endpoint"] = choice["endpoint"]
    return params


def _names(model, tenant, chosen):
    """The tenant's applications or endpoints for a filter; one that is chosen but gone (its
    usage outlives it) stays in the list, so the filter shows what is shown."""
    names = list(
        model.objects.filter(tenant=tenant).order_by("name").values_list("name", flat=True)
    )
    if chosen and chosen != MEMBERS and chosen not in names:
        names.append(chosen)
    return names


@read_only
@page
def usage(request, tenant):
    context = TenantPage(request, tenant)
    choice = {
        "range": request.GET.get("range", "24h"),
        "granularity": request.GET.get("granularity", ""),
        "application": request.GET.get("application", ""),
        "endpoint": request.GET.get("endpoint", ""),
    }
    extra = {"choice": choice, "report": None}

    def read():
        params = usage_params(choice, timezone.now())
        return params, query_usage(context.tenant, params)

    outcome = attempt(request, read)
    if outcome.ok:
        params, report = outcome.value
        chart_args = {
            "since": report.since,
            "until": report.until,
            "granularity": report.granularity,
            "step": GRANULARITY_SECONDS[report.granularity],
            "totals": report.totals,
        }
        extra.update(
            report=report,
            requests_chart=charts.requests_chart(report.series, **chart_args),
            latency_chart=charts.latency_chart(report.series, **chart_args),
            csv_url=reverse("usage", kwargs={"tenant": context.tenant.name})
            + "?"
            + urlencode({**params, "format": "csv"}),
        )
    return render(
        request,
        "ui/usage.html",
        context.context(
            "usage",
            ranges=[(key, label) for key, (label, _, _) in RANGES.items()],
            granularities=list(GRANULARITY_SECONDS),
            applications=_names(Application, context.tenant, choice["application"]),
            endpoints=_names(Endpoint, context.tenant, choice["endpoint"]),
            members=MEMBERS,
            **extra,
        ),
    )
