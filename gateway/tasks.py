"""Periodic work of the portal app."""

import redis
from celery import shared_task
from django.conf import settings

from gateway.usage import flush_redis


@shared_task(acks_late=True)
def flush_usage():
    """Copy the gateway's finished usage minutes from Redis into UsageMinute rows. Safe to run
    twice (rows get absolute values). Without Redis the gateway stores its own counters."""
    if not settings.REDIS_URL:
        return 0
    with redis.Redis.from_url(settings.REDIS_URL) as client:
        return flush_redis(client)
