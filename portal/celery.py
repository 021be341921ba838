"""The Celery application. Task defaults (acks_late, prefetch 1, time limits) are in settings."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

app = Celery("modelport")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
