"""Liveness and readiness probes. Neither needs a login; neither reveals more than up/down."""

import logging
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from django.db import connection
from django.http import JsonResponse

from portal.celery import app as celery_app
from workers.backends import get_orchestrator
from workers.storage import get_object_store

logger = logging.getLogger(__name__)
CHECK_TIMEOUT_SECONDS = 5


def healthz(request):
    return JsonResponse({"status": "OK"})


def _database():
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _broker():
    with celery_app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT_SECONDS)


CHECKS = {
    "database": _database,
    "broker": _broker,
    "storage": lambda: get_object_store().check(),
    "orchestrator": lambda: get_orchestrator().check(),
}


def readyz(request):
    results = {}
    # The database check runs here: Django connections belong to the thread that opened them.
    others = {name: check for name, check in CHECKS.items() if name != "database"}
    with ThreadPoolExecutor(max_workers=len(others)) as pool:
        futures = {name: pool.submit(check) for name, check in others.items()}
        results["database"] = _run(_database)
        for name, future in futures.items():
            try:
                future.result(timeout=CHECK_TIMEOUT_SECONDS)
                results[name] = "ok"
            except FutureTimeout:
                results[name] = "timed out"
            except Exception as exc:
                logger.warning("readiness check %s failed: %s", name, exc)
                results[name] = "unavailable"
    ready = all(value == "ok" for value in results.values())
    return JsonResponse(
        {"status": "OK" if ready else "ERROR", "checks": results}, status=200 if ready else 503
    )


def _run(check):
    try:
        check()
    except Exception as exc:
        logger.warning("readiness check failed: %s", exc)
        return "unavailable"
    return "ok"
