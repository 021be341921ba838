"""GET /metrics: every metric in core.metrics, in Prometheus' text format.

Counters and histograms come from the processes that counted them (summed over the
PROMETHEUS_MULTIPROC_DIR files when several processes serve); the state metrics (endpoints by
phase, replicas, storage, queue length) are read from the database and the broker at scrape time,
so any web process answers the same. Scrapers authenticate with MODELPORT_METRICS_TOKEN as a
bearer token; without one set, only scrapes from this machine (loopback) are answered.
"""

import hmac
import ipaddress
import os
from pathlib import Path

import redis
from django.conf import settings
from django.db.models import Count, Sum
from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily

from core import metrics
from core.phase import Phase
from endpoints.models import Endpoint
from models_store.models import ModelFile

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class StateCollector:
    """The STATE_METRICS, read when scraped."""

    def collect(self):
        yield self._endpoints_by_phase()
        yield self._replicas()
        yield self._storage()
        yield self._queue_length()

    def _family(self, name):
        help_text, labels = metrics.STATE_METRICS[name]
        return GaugeMetricFamily(name, help_text, labels=labels)

    def _endpoints_by_phase(self):
        family = self._family("modelport_endpoints")
        counts = dict(Endpoint.objects.values_list("phase").annotate(n=Count("pk")))
        for phase in Phase.values:
            family.add_metric([phase], counts.get(phase, 0))
        return family

    def _replicas(self):
        family = self._family("modelport_endpoint_replicas")
        rows = Endpoint.objects.filter(deletion_requested_at__isnull=True).values_list(
            "tenant__name", "name", "replicas", "available_replicas"
        )
        for tenant, name, desired, available in rows.order_by("tenant__name", "name"):
            family.add_metric([tenant, name, "desired"], desired)
            family.add_metric([tenant, name, "available"], available or 0)
        return family

    def _storage(self):
        family = self._family("modelport_tenant_storage_bytes")
        rows = (
            ModelFile.objects.values_list("model_version__tenant__name")
            .annotate(total=Sum("size"))
            .order_by("model_version__tenant__name")
        )
        for tenant, total in rows:
            family.add_metric([tenant], total or 0)
        return family

    def _queue_length(self):
        family = self._family("modelport_queue_length")
        family.add_metric(["celery"], queue_length("celery"))
        return family


def queue_length(queue):
    """Messages waiting in the broker's `queue`: a Redis list, or files in the embedded
    default's queue folder (`<time>_<id>.<queue>.msg`)."""
    if settings.REDIS_URL:
        with redis.Redis.from_url(settings.REDIS_URL) as client:
            return client.llen(queue)
    folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS["data_folder_in"])
    return sum(1 for _ in folder.glob(f"*.{queue}.msg"))


_state = CollectorRegistry(auto_describe=False)
_state.register(StateCollector())


def exposition():
    """The text a scrape gets."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        counted = CollectorRegistry()
        multiprocess.MultiProcessCollector(counted)
    else:
        counted = REGISTRY
    return generate_latest(counted) + generate_latest(_state)


def _allowed(request):
    token = settings.MODELPORT_METRICS_TOKEN
    if token:
        sent = request.headers.get("Authorization", "")
        return hmac.compare_digest(sent.encode(), f"Bearer {token}".encode())
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:
        return False


@require_GET
def metrics_view(request):
    if not _allowed(request):
        message = (
            "Send MODELPORT_METRICS_TOKEN as a bearer token."
            if settings.MODELPORT_METRICS_TOKEN
            else "Metrics are served to this machine only; set MODELPORT_METRICS_TOKEN to scrape "
            "from elsewhere."
        )
        return JsonResponse(
            {"status": "ERROR", "error": {"code": "metrics_forbidden", "message": message}},
            status=403,
        )
    return HttpResponse(exposition(), content_type=CONTENT_TYPE)
