"""Keeping the model index in step with storage: what the bucket holds is the truth."""

import logging
from collections import defaultdict

from django.db import transaction

from core.errors import Invalid
from models_store import validation
from models_store.models import ModelFile, ModelVersion, VersionState

logger = logging.getLogger(__name__)


def parse_key(key):
    """(name, version, path) for a key in the `<model>/<version>/<file>` layout, else None."""
    name, _, rest = key.partition("/")
    version, _, path = rest.partition("/")
    try:
        return (
            validation.model_name(name),
            validation.model_version(version),
            (validation.file_path(path)),
        )
    except Invalid:
        return None


def sync_index(tenant, objects, listed_after):
    """Make the index match `objects` ((key, size, ETag) listed from storage, all of them).

    Files and versions touched after `listed_after` (when the listing began) are left alone, so
    an upload that completed while storage was being listed is not forgotten. Versions being
    deleted are left to their worker. Returns (files added or changed, files removed)."""
    found = defaultdict(dict)
    for key, size, etag in objects:
        parsed = parse_key(key)
        if parsed is None:
            logger.info("ignoring %s/%s: not <model>/<version>/<file>", tenant.bucket, key)
            continue
        name, version, path = parsed
        found[(name, version)][path] = (size, etag)

    added = removed = 0
    with transaction.atomic():
        versions = {
            (v.name, v.version): v
            for v in ModelVersion.objects.select_for_update()
            .filter(tenant=tenant)
            .prefetch_related("files", "uploads")
        }
        for identity, files in found.items():
            model_version = versions.get(identity)
            if model_version is None:
                model_version = ModelVersion.objects.create(
                    tenant=tenant, name=identity[0], version=identity[1], state=VersionState.READY
                )
                known = {}
            elif model_version.state == VersionState.DELETING:
                continue
            else:
                known = {f.path: f for f in model_version.files.all()}
            new, changed = [], []
            for path, (size, etag) in files.items():
                file = known.get(path)
                if file is None:
                    new.append(
                        ModelFile(model_version=model_version, path=path, size=size, etag=etag)
                    )
                elif file.size != size or (etag and file.etag != etag):
                    file.size, file.etag = size, etag or file.etag
                    changed.append(file)
            ModelFile.objects.bulk_create(new)
            ModelFile.objects.bulk_update(changed, ["size", "etag"])
            added += len(new) + len(changed)

        for identity, model_version in versions.items():
            if model_version.state == VersionState.DELETING:
                continue
            present = found.get(identity, {})
            gone = [
                f.pk
                for f in model_version.files.all()
                if f.path not in present and f.updated_at < listed_after
            ]
            if gone:
                ModelFile.objects.filter(pk__in=gone).delete()
                removed += len(gone)
            if (
                not present
                and not model_version.uploads.all()
                and model_version.updated_at < listed_after
                and not model_version.files.exclude(pk__in=gone).exists()
            ):
                model_version.delete()
    return added, removed
