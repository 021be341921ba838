"""The task names of the previous release, kept for one release so that messages already queued
and beat schedules written before the upgrade still resolve: each hands its arguments to the task
that now does the job, in the app whose state it changes. Remove in the next release."""

from celery import shared_task

from endpoints.tasks import (
    reconcile_endpoint,
    resync_endpoints,
    scale_endpoint,
    sync_endpoint_status,
)
from gateway.tasks import flush_usage
from models_store.tasks import (
    abort_abandoned_uploads,
    delete_model_version,
    resync_models,
    sync_model_index,
)
from tenants.tasks import reconcile_tenant, resync_tenants

RENAMED = {
    "workers.tasks.reconcile_tenant": reconcile_tenant,
    "workers.tasks.reconcile_endpoint": reconcile_endpoint,
    "workers.tasks.scale_endpoint": scale_endpoint,
    "workers.tasks.sync_endpoint_status": sync_endpoint_status,
    "workers.model_tasks.delete_model_version": delete_model_version,
    "workers.model_tasks.sync_model_index": sync_model_index,
    "workers.model_tasks.resync_models": resync_models,
    "workers.model_tasks.abort_abandoned_uploads": abort_abandoned_uploads,
    "portal.tasks.flush_usage": flush_usage,
}


def _forwarder(old_name, task):
    @shared_task(name=old_name, acks_late=True)
    def forward(**kwargs):
        task.delay(**kwargs)

    return forward


for _old_name, _task in RENAMED.items():
    _forwarder(_old_name, _task)


@shared_task(name="workers.tasks.resync", acks_late=True)
def resync():
    """One task did both before: now tenants and endpoints have one each."""
    resync_tenants.delay()
    resync_endpoints.delay()
