"""The model index: which versions and files a tenant has, and which uploads are in progress.

Storage holds the bytes and is the source of truth for them; these rows make listing, quotas and
permissions cheap, and a periodic task (models_store.tasks.sync_model_index) repairs them when
objects are added or removed behind the platform's back.
"""

from django.conf import settings
from django.db import models

from tenants.models import Tenant


class VersionState(models.TextChoices):
    UPLOADING = "Uploading"
    READY = "Ready"
    DELETING = "Deleting"


class ModelVersion(models.Model):
    """`<tenant bucket>/<name>/<version>/`: one version of one model."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="model_versions")
    name = models.CharField(max_length=100)
    version = models.PositiveBigIntegerField()
    state = models.CharField(
        max_length=16, choices=VersionState.choices, default=VersionState.UPLOADING
    )
    # Bytes an archive being unpacked into this version will add: counted against the quota
    # from the check until its files are recorded (or it fails), so concurrent archives can't
    # all take the same free bytes.
    reserved_bytes = models.PositiveBigIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tenant", "name", "version"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "name", "version"], name="one_model_version_per_tenant"
            )
        ]

    def __str__(self):
        return f"{self.tenant.name}/{self.prefix}"

    @property
    def prefix(self):
        return f"{self.name}/{self.version}/"


class ModelFile(models.Model):
    """One object of a version. `path` is relative to the version folder; `etag` is the storage
    checksum (S3's ETag; the filesystem backend computes the same MD5-based value)."""

    model_version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="files")
    path = models.CharField(max_length=1024)
    size = models.PositiveBigIntegerField()
    etag = models.CharField(max_length=80, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["model_version", "path"]
        constraints = [
            models.UniqueConstraint(fields=["model_version", "path"], name="one_file_per_path")
        ]

    def __str__(self):
        return f"{self.model_version.prefix}{self.path}"

    @property
    def key(self):
        return f"{self.model_version.prefix}{self.path}"


class MultipartUpload(models.Model):
    """A multipart upload that has started and not yet completed or been aborted.

    `part_sizes` maps part numbers (as strings) to the bytes accepted for them, so the storage
    quota can count bytes in flight; rows older than MODELPORT_UPLOAD_MAX_AGE_HOURS are aborted.
    Asking for presigned part URLs declares the file's size and part size: the declared size is
    reserved against the quota until the upload completes or is aborted, and every part must then
    be exactly its declared length (storage refuses other lengths at a presigned URL).
    """

    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="uploads"
    )
    path = models.CharField(max_length=1024)
    upload_id = models.CharField(max_length=1024, unique=True)
    part_sizes = models.JSONField(default=dict, blank=True)
    declared_size = models.PositiveBigIntegerField(null=True, blank=True)
    part_size = models.PositiveBigIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [models.Index(fields=["created_at"])]

    def __str__(self):
        return f"{self.model_version.prefix}{self.path} ({self.upload_id[:12]}…)"

    @property
    def key(self):
        return f"{self.model_version.prefix}{self.path}"

    @property
    def bytes_received(self):
        return sum(self.part_sizes.values())

    @property
    def bytes_counted(self):
        """What the upload counts against the quota: its declared size, or the bytes received
        if more (parts streamed through the API before a declaration)."""
        return max(self.declared_size or 0, self.bytes_received)

    @property
    def part_count(self):
        """How many parts the declared file has (None before a declaration)."""
        if self.declared_size is None:
            return None
        return max(1, -(-self.declared_size // self.part_size))

    def part_length(self, number):
        """The declared length of part `number`: whole parts, then the rest in the last one."""
        return min(self.part_size, self.declared_size - (number - 1) * self.part_size)
