from celery import shared_task

from audit.services import purge_expired


@shared_task(acks_late=True)
def purge_expired_records():
    """Beat, daily: the records older than the retention period go."""
    return {"purged": purge_expired()}
