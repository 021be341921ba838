from django.db import models
from django.utils import timezone


class ImmutableRecord(Exception):
    """Audit records are written once and never changed or deleted, except by retention."""


class AuditQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise ImmutableRecord("Audit records can't be changed.")

    def delete(self):
        raise ImmutableRecord("Audit records can't be deleted; retention removes old ones.")

    def purge(self):
        """Delete these records: for retention (audit.services.purge_expired) alone."""
        return models.QuerySet.delete(self)


class AuditRecord(models.Model):
    """One change: who (a user, an application or the system) made it through which door, to
    what (kind, tenant, name), when, in which request, and the fields' values before and after
    (secrets only as changed). Names, not foreign keys: the record outlives what it is about."""

    time = models.DateTimeField(default=timezone.now, db_index=True)
    actor_kind = models.CharField(max_length=16)
    actor = models.CharField(max_length=150)
    door = models.CharField(max_length=16)
    action = models.CharField(max_length=32)
    kind = models.CharField(max_length=32)
    tenant = models.CharField(max_length=63, blank=True)
    name = models.CharField(max_length=255, blank=True)
    request_id = models.CharField(max_length=128, blank=True, db_index=True)
    changes = models.JSONField(default=dict, blank=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-time", "-id"]
        indexes = [models.Index(fields=["tenant", "-time"])]

    def __str__(self):
        return f"{self.time:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.kind} {self.name}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ImmutableRecord("Audit records can't be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableRecord("Audit records can't be deleted; retention removes old ones.")
