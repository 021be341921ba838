from django.db import models


class Phase(models.TextChoices):
    """Where a tenant's or endpoint's observed state stands; only workers write it."""

    PENDING = "Pending"
    PROVISIONING = "Provisioning"
    READY = "Ready"
    FAILED = "Failed"
    DELETING = "Deleting"
