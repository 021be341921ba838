"""What every reconcile task shares: task options, backoff, and writing observed state.

Tasks take primary keys (keyword-only), are safe to run twice, and are acknowledged late so a
worker that dies mid-task leaves the message for another. Transient failures retry with
exponential backoff and jitter; permanent ones are written to the row for people to read.
"""

import logging
import random

from django.db import transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from core import metrics
from core.phase import Phase

logger = logging.getLogger(__name__)

MAX_RETRIES = 8
BACKOFF_BASE_SECONDS = 2
BACKOFF_CAP_SECONDS = 300

RECONCILE = {"acks_late": True, "reject_on_worker_lost": True, "max_retries": MAX_RETRIES}


def enqueue_after_commit(task, **kwargs):
    """Queue `task` once the transaction commits. The desired state is already saved then: if
    the broker can't be reached, the change stands and the resync (or the next change) queues
    the work, so the caller is not told that a saved change failed."""

    def send():
        try:
            task.delay(**kwargs)
        except OperationalError as exc:
            logger.warning(
                "%s(%s) not queued, the resync will catch up: %s", task.name, kwargs, exc
            )

    transaction.on_commit(send)


def backoff(retries):
    """Exponential backoff with equal jitter: half fixed, half random, capped."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**retries)
    return ceiling / 2 + random.uniform(0, ceiling / 2)  # noqa: S311 - jitter, not security


def observe(model, pk, *, finished=True, **fields):
    """Write a row's observed state. `reconciled_at` marks the end of a reconcile, not progress."""
    if finished:
        fields["reconciled_at"] = timezone.now()
    model.objects.filter(pk=pk).update(**fields)


def count_generation_lag(kind, row):
    """When `row`'s objects were just applied for a generation not applied before: how long
    after the desired change (its last save) that was."""
    if row.observed_generation < row.generation:
        lag = max(0.0, (timezone.now() - row.updated_at).total_seconds())
        metrics.GENERATION_LAG_SECONDS.labels(kind).observe(lag)
        logger.info(
            "%s %s: generation %s applied %.1f s after the change",
            kind,
            row,
            row.generation,
            lag,
            extra={"kind": kind, "generation": row.generation, "lag_seconds": round(lag, 3)},
        )


def count_repairs(kind, **repairs):
    """What a resync repaired, by kind of repair (requeued, drift, orphan)."""
    for repair, count in repairs.items():
        if count:
            metrics.RESYNC_REPAIRS.labels(kind, repair).inc(count)


def retry_or_fail(task, model, pk, exc):
    """A transient failure: say so on the row and retry later, or give up (Failed) when the
    task has used its retries."""
    if task.request.retries >= task.max_retries:
        message = f"Gave up after {task.max_retries} retries: {exc}"
        observe(model, pk, phase=Phase.FAILED, message=message)
        logger.error("%s of %s %s gave up: %s", task.name, model.__name__, pk, exc)
        return "failed"
    observe(model, pk, finished=False, message=f"Retrying: {exc}")
    raise task.retry(exc=exc, countdown=backoff(task.request.retries))
