"""Endpoints follow their model: when a version becomes ready or disappears, the endpoints
serving that model are reconciled (their version policy may now select other versions)."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from endpoints.services import model_versions_changed
from models_store.models import ModelVersion, VersionState


@receiver(post_save, sender=ModelVersion, dispatch_uid="endpoints-follow-ready-versions")
def version_saved(sender, instance, **kwargs):
    if instance.state == VersionState.READY:
        model_versions_changed(instance.tenant_id, instance.name)


@receiver(post_delete, sender=ModelVersion, dispatch_uid="endpoints-follow-deleted-versions")
def version_deleted(sender, instance, **kwargs):
    model_versions_changed(instance.tenant_id, instance.name)
