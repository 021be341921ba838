"""Object storage behind one interface: S3 (MinIO, AWS, Ceph) in production, a folder on the local
disk in the embedded default. Buckets are per tenant; keys are `<model>/<version>/<file>`.

Both stores speak the same multipart protocol (start, parts, complete, abort) and stream bytes
through a bounded buffer (`streams.CHUNK_SIZE`), so no file or part is ever held whole in memory.
"""

import functools

from django.conf import settings

from workers.storage.filesystem import FilesystemObjectStore
from workers.storage.s3 import S3ObjectStore


@functools.cache
def _store_for(config_items):
    config = dict(config_items)
    if config["backend"] == "s3":
        return S3ObjectStore(
            config["endpoint_url"],
            config["access_key_id"],
            config["secret_access_key"],
            config["region"],
        )
    return FilesystemObjectStore(config["root"])


def get_object_store():
    """The store the settings describe, built once per configuration."""
    return _store_for(tuple(sorted(settings.MODELPORT_STORAGE.items())))
