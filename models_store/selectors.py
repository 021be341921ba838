"""Reads of the model index that other apps need (endpoints choose versions from these)."""

from collections import defaultdict

from models_store.models import ModelVersion, VersionState


def ready_versions(tenant, model_name):
    """The version numbers of the model that are ready to serve, lowest first."""
    return list(
        ModelVersion.objects.filter(tenant=tenant, name=model_name, state=VersionState.READY)
        .order_by("version")
        .values_list("version", flat=True)
    )


def ready_versions_by_model(tenant, model_names):
    """{model name: its ready version numbers} for the tenant's models `model_names`, in one
    query however many models there are."""
    versions = defaultdict(list)
    ready = ModelVersion.objects.filter(
        tenant=tenant, name__in=model_names, state=VersionState.READY
    ).order_by("version")
    for name, version in ready.values_list("name", "version"):
        versions[name].append(version)
    return versions


def has_ready_version(tenant, model_name):
    return ModelVersion.objects.filter(
        tenant=tenant, name=model_name, state=VersionState.READY
    ).exists()
