"""What endpoints do when the apps below them change: a model version becomes ready or goes away
(the endpoints serving that model are reconciled: their policy may now select other versions), a
tenant's CA is about to be removed (the endpoints that check client certificates against it
object), a tenant's namespace is ready (endpoints waiting for it go ahead). Connected in
EndpointsConfig.ready."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from endpoints.selectors import endpoints_serving, endpoints_verifying_clients
from endpoints.services import model_versions_changed, reconcile_lagging
from models_store.models import ModelVersion, VersionState
from models_store.signals import version_deletion_requested
from tenants.signals import ca_removal_requested, tenant_reconciled


@receiver(post_save, sender=ModelVersion, dispatch_uid="endpoints-follow-ready-versions")
def version_saved(sender, instance, **kwargs):
    if instance.state == VersionState.READY:
        model_versions_changed(instance.tenant_id, instance.name)


@receiver(post_delete, sender=ModelVersion, dispatch_uid="endpoints-follow-deleted-versions")
def version_deleted(sender, instance, **kwargs):
    model_versions_changed(instance.tenant_id, instance.name)


@receiver(version_deletion_requested, dispatch_uid="endpoints-serving-a-version")
def serving_the_version(sender, tenant, name, version, **kwargs):
    return endpoints_serving(tenant, name, version)


@receiver(ca_removal_requested, dispatch_uid="endpoints-verifying-clients")
def verifying_clients(sender, tenant, **kwargs):
    return endpoints_verifying_clients(tenant)


@receiver(tenant_reconciled, dispatch_uid="endpoints-waiting-for-their-tenant")
def tenant_ready(sender, tenant, **kwargs):
    reconcile_lagging(tenant)
