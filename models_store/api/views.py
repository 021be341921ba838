"""The model store API. Views check who may do what (tenants.access), read the request and call
models_store.services; upload bodies are streamed, never parsed or read whole."""

import io

from django.conf import settings
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from core.api.envelope import envelope
from core.api.views import ApiView, refuse_unknown_fields
from core.errors import CoreErrorCode, Forbidden, Invalid, LengthRequired, NotFound
from models_store import archives, deletion, uploads, validation
from models_store.api.serializers import (
    ModelVersionSerializer,
    UploadAbortSerializer,
    UploadDoneSerializer,
    UploadPresignSerializer,
    UploadStartSerializer,
    model_file_item,
)
from models_store.errors import ModelStoreErrorCode
from models_store.models import ModelFile, MultipartUpload, VersionState
from tenants.access import get_tenant
from tenants.models import Role
from workers.storage import get_object_store, signed_urls
from workers.storage.filesystem import FilesystemObjectStore

MODEL_FIELDS = ("modelName", "modelVersion")
FILE_FIELDS = (*MODEL_FIELDS, "fileName")
UPLOAD_FIELDS = (*FILE_FIELDS, "uploadId")


def content_length(request):
    raw = request.META.get("CONTENT_LENGTH") or ""
    if not raw and "HTTP_TRANSFER_ENCODING" not in request.META:
        return 0  # no body
    if not raw.isdigit():
        raise LengthRequired(
            ModelStoreErrorCode.LENGTH_REQUIRED,
            "Send the body with a Content-Length header (chunked bodies are not accepted).",
        )
    return int(raw)


def body_stream(request):
    """The raw request body as a stream (DRF gives None for an empty body)."""
    return request.stream or io.BytesIO()


class ModelApiView(ApiView):
    def fields(self, known):
        refuse_unknown_fields(self.request.data, known)
        return self.request.data

    @staticmethod
    def model_and_version(source):
        return (
            validation.model_name(source.get("modelName")),
            validation.model_version(source.get("modelVersion")),
        )

    def target(self, source):
        name, version = self.model_and_version(source)
        return name, version, validation.file_path(source.get("fileName"))

    def upload(self, tenant, source):
        name, version, path = self.target(source)
        return uploads.find_upload(
            tenant=tenant,
            name=name,
            version=version,
            path=path,
            upload_id=validation.upload_id(source.get("uploadId")),
        )

    def overwrite(self, body=None):
        query = self.request.query_params.get("overwrite")
        return validation.overwrite_flag(query) or validation.overwrite_flag(
            (body or {}).get("overwrite")
        )


class ModelsView(ModelApiView):
    @extend_schema(
        responses=OpenApiTypes.OBJECT, summary="List the tenant's model files (one entry per file)"
    )
    def get(self, request, tenant):
        tenant = get_tenant(request.user, tenant)
        files = (
            ModelFile.objects.filter(model_version__tenant=tenant)
            .exclude(model_version__state=VersionState.DELETING)
            .select_related("model_version")
            .order_by("model_version__name", "model_version__version", "path")
        )
        return self.paginate("models", files, model_file_item)

    @extend_schema(
        responses=OpenApiTypes.OBJECT,
        summary="Delete a model version",
        request=ModelVersionSerializer,
    )
    def delete(self, request, tenant):
        tenant = get_tenant(request.user, tenant, Role.EDITOR)
        name, version = self.model_and_version(self.fields(MODEL_FIELDS))
        path = deletion.request_version_deletion(tenant=tenant, name=name, version=version)
        return envelope("DELETED", {"model_path": path})


class UploadStartView(ModelApiView):
    @extend_schema(
        responses=OpenApiTypes.OBJECT,
        summary="Start a multipart upload of one file; answers the bare {uploadId}",
        request=UploadStartSerializer,
    )
    def post(self, request, tenant):
        tenant = get_tenant(request.user, tenant, Role.EDITOR)
        body = self.fields((*FILE_FIELDS, "overwrite"))
        name, version, path = self.target(body)
        upload = uploads.start_upload(
            tenant=tenant,
            user=request.user,
            name=name,
            version=version,
            path=path,
            overwrite=self.overwrite(body),
        )
        # The reference answers with the bare object; its upload CLI reads it that way.
        return Response({"uploadId": upload.upload_id})


class UploadPartView(ModelApiView):
    @extend_schema(
        responses=OpenApiTypes.OBJECT,
        summary="Upload one part (the raw body); answers the bare {ETag}",
        parameters=[
            OpenApiParameter(name, str, required=True) for name in (*UPLOAD_FIELDS, "partNumber")
        ],
        request={"application/octet-stream": bytes},
    )
    def put(self, request, tenant):
        tenant = get_tenant(request.user, tenant, Role.EDITOR)
        upload = self.upload(tenant, request.query_params)
        part_number = validation.part_number(request.query_params.get("partNumber"))
        etag = uploads.receive_part(
            tenant=tenant,
            upload=upload,
            part_number=part_number,
            stream=body_stream(request),
            length=content_length(request),
        )
        return Response({"ETag": etag})


class UploadDoneView(ModelApiView):
    @extend_schema(
        responses=OpenApiTypes.OBJECT,
        summary="Complete a multipart upload",
        request=UploadDoneSerializer,
    )
    def post(self, request, tenant):
        tenant = get_tenant(request.user, tenant, Role.EDITOR)
        body = self.fields((*UPLOAD_FIELDS, "parts"))
        upload = self.upload(tenant, body)
        parts = validation.parts_list(body.get("parts"))
        file = uploads.complete_upload(tenant=tenant, upload=upload, parts=parts)
        return envelope("CREATED", model_file_item(file))


class UploadAbortView(ModelApiView):
    @extend_schema(
        responses=OpenApiTypes.OBJECT,
        summary="Abort a multipart upload",
        request=UploadAbortSerializer,
    )
    def post(self, request, tenant):
        tenant = get_tenant(request.user, tenant, Role.EDITOR)
        upload = self.upload(tenant, self.fields(UPLOAD_FIELDS))
        uploads.abort_upload(tenant=tenant, upload=upload)
        return envelope("DELETED", {"path": upload.key, "uploadId": upload.upload_id})


class UploadPresignView(ModelApiView):
    @extend_schema(
        responses=OpenApiTypes.OBJECT,
        summary="Presigned URLs for parts of an upload (PUT each part's bytes to its URL)",
        request=UploadPresignSerializer,
    )
    def post(self, request, tenant):
        tenant = get_tenant(request.user, tenant, Role.EDITOR)
        body = self.fields((*UPLOAD_FIELDS, "partNumbers", "fileSize"))
        upload = self.upload(tenant, body)
        numbers = body.get("partNumbers")
        if not isinstance(numbers, list) or not 1 <= len(numbers) <= 1000:
            raise Invalid(
                ModelStoreErrorCode.INVALID_PART_NUMBER,
                "partNumbers must be a list of 1 to 1000 part numbers.",
                fields={"partNumbers": ["Must be a list of 1 to 1000 part numbers."]},
            )
        numbers = [validation.part_number(number) for number in numbers]
        uploads.check_declared_size(tenant=tenant, upload=upload, size=body.get("fileSize"))
        store = get_object_store()
        expires = settings.MODELPORT_PRESIGNED_URL_SECONDS
        base_url = request.build_absolute_uri("/").rstrip("/")
        urls = [
            {
                "PartNumber": number,
                "url": store.presigned_part_url(
                    tenant.bucket, upload.key, upload.upload_id, number, expires, base_url
                ),
            }
            for number in numbers
        ]
        return envelope("OK", {"urls": urls, "method": "PUT", "expiresIn": expires})


class UploadArchiveView(ModelApiView):
    @extend_schema(
        responses=OpenApiTypes.OBJECT,
        summary="Upload a whole version as one tar, tar.gz or zip archive (the raw body)",
        parameters=[
            OpenApiParameter("modelName", str, required=True),
            OpenApiParameter("modelVersion", int, required=True),
            OpenApiParameter("overwrite", bool),
        ],
        request={"application/octet-stream": bytes},
    )
    def put(self, request, tenant):
        tenant = get_tenant(request.user, tenant, Role.EDITOR)
        name, version = self.model_and_version(request.query_params)
        model_version = archives.upload_archive(
            tenant=tenant,
            user=request.user,
            name=name,
            version=version,
            stream=body_stream(request),
            length=content_length(request),
            overwrite=self.overwrite(),
        )
        files = model_version.files.order_by("path")
        return envelope(
            "CREATED",
            {
                "model_path": model_version.prefix,
                "files": [model_file_item(file) for file in files.select_related("model_version")],
            },
        )


class DownloadView(ModelApiView):
    @extend_schema(
        responses=OpenApiTypes.OBJECT,
        summary="A presigned URL to download one model file",
        parameters=[OpenApiParameter(name, str, required=True) for name in FILE_FIELDS],
    )
    def get(self, request, tenant):
        tenant = get_tenant(request.user, tenant)
        name, version, path = self.target(request.query_params)
        exists = (
            ModelFile.objects.filter(
                model_version__tenant=tenant,
                model_version__name=name,
                model_version__version=version,
                path=path,
            )
            .exclude(model_version__state=VersionState.DELETING)
            .exists()
        )
        if not exists:
            raise NotFound(
                ModelStoreErrorCode.MODEL_FILE_NOT_FOUND,
                f"There is no file {name}/{version}/{path}.",
            )
        expires = settings.MODELPORT_PRESIGNED_URL_SECONDS
        url = get_object_store().presigned_download_url(
            tenant.bucket,
            f"{name}/{version}/{path}",
            expires,
            request.build_absolute_uri("/").rstrip("/"),
        )
        return envelope("OK", {"url": url, "expiresIn": expires})


class SignedStorageView(ApiView):
    """The filesystem backend's presigned URLs: the signed token is the credential."""

    authentication_classes = []
    permission_classes = [AllowAny]

    @staticmethod
    def filesystem_store():
        store = get_object_store()
        if not isinstance(store, FilesystemObjectStore):
            raise NotFound(CoreErrorCode.NOT_FOUND, "There is nothing at this address.")
        return store

    @staticmethod
    def load(loader, token):
        try:
            return loader(token)
        except signed_urls.ExpiredToken as exc:
            # Its own code, so clients know to ask for a new URL (upload.js does).
            raise Forbidden(ModelStoreErrorCode.LINK_EXPIRED, str(exc)) from None
        except signed_urls.InvalidToken as exc:
            raise Forbidden(ModelStoreErrorCode.INVALID_SIGNATURE, str(exc)) from None


class StoragePartView(SignedStorageView):
    @extend_schema(exclude=True)
    def put(self, request, token):
        self.filesystem_store()
        bucket, key, upload_id, part_number = self.load(signed_urls.load_part, token)
        upload = (
            MultipartUpload.objects.select_related("model_version__tenant")
            .filter(upload_id=upload_id)
            .first()
        )
        if upload is None or upload.key != key or upload.model_version.tenant.bucket != bucket:
            raise NotFound(
                CoreErrorCode.NOT_FOUND, "This upload has completed, been aborted or expired."
            )
        etag = uploads.receive_part(
            tenant=upload.model_version.tenant,
            upload=upload,
            part_number=part_number,
            stream=body_stream(request),
            length=content_length(request),
        )
        # S3 answers a part upload with the ETag header; clients read it from there.
        return Response({"ETag": etag}, headers={"ETag": etag})


class StorageDownloadView(SignedStorageView):
    @extend_schema(exclude=True)
    def get(self, request, token):
        store = self.filesystem_store()
        bucket, key = self.load(signed_urls.load_download, token)
        try:
            handle = store.open_object(bucket, key)
        except FileNotFoundError:
            raise NotFound(
                ModelStoreErrorCode.MODEL_FILE_NOT_FOUND, "The file no longer exists."
            ) from None
        return FileResponse(handle, as_attachment=True, filename=key.rsplit("/", 1)[-1])
