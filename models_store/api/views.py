"""The model store API. Views check who may do what (TenantScopedView), read the request and
call models_store.services; upload bodies are streamed, never parsed or read whole."""

import io

from django.conf import settings
from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from core.api.envelope import envelope
from core.api.fields import integer
from core.api.schema import answers, answers_page
from core.api.views import ApiView
from core.errors import CoreErrorCode, Forbidden, LengthRequired, NotFound
from models_store import archives, deletion, uploads, validation
from models_store.api.serializers import (
    FILE_PATH,
    FOLDER_KEY,
    MODEL_NAME,
    PART_NUMBER,
    UPLOAD_ID,
    AbortedUploadSerializer,
    ArchiveUploadedSerializer,
    CompletedUploadSerializer,
    DownloadUrlSerializer,
    FolderPathSerializer,
    FolderSerializer,
    ModelFileSerializer,
    ModelPathSerializer,
    ModelVersionSerializer,
    PresignedPartsSerializer,
    UploadDoneSerializer,
    UploadIdSerializer,
    UploadPartSerializer,
    UploadPresignSerializer,
    UploadSerializer,
    UploadStartSerializer,
    model_file_item,
)
from models_store.errors import ModelStoreErrorCode
from models_store.models import ModelFile, MultipartUpload, VersionState
from tenants.api.views import TenantScopedView
from workers.storage import get_object_store, signed_urls
from workers.storage.filesystem import FilesystemObjectStore

# Storage unreachable (503) or refusing (502), for the calls that reach it.
STORAGE_ERRORS = (502, 503)
RAW_BODY = {"application/octet-stream": OpenApiTypes.BINARY}


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


def _query(name, schema, required=True):
    return OpenApiParameter(name, schema, required=required)


# The query parameters of the raw-body calls, checked by the same functions as the bodies.
MODEL_QUERY = [
    _query("modelName", MODEL_NAME),
    _query("modelVersion", integer(1, validation.MAX_VERSION)),
]
FILE_QUERY = [*MODEL_QUERY, _query("fileName", FILE_PATH)]
OVERWRITE_QUERY = _query(
    "overwrite", {"enum": ["", "true", "false", "1", "0", "yes", "no"]}, required=False
)


class ModelApiView(TenantScopedView):
    def model_and_version(self, source):
        return (
            validation.model_name(source.get("modelName")),
            validation.model_version(source.get("modelVersion")),
        )

    def target(self, source):
        """(name, version, path) from the query string."""
        name, version = self.model_and_version(source)
        return name, version, validation.file_path(source.get("fileName"))

    @staticmethod
    def upload(tenant, data):
        """The upload in progress that a validated body or query names (404 if none)."""
        return uploads.find_upload(
            tenant=tenant,
            name=data["modelName"],
            version=data["modelVersion"],
            path=data["fileName"],
            upload_id=data["uploadId"],
        )

    def overwrite_query(self):
        return validation.overwrite_flag(self.request.query_params.get("overwrite"))


class ModelsView(ModelApiView):
    @answers_page(
        "models",
        ModelFileSerializer(),
        name="ModelFiles",
        summary="List the tenant's model files (one entry per file)",
    )
    def get(self, request, tenant):
        tenant = self.tenant(tenant)
        files = (
            ModelFile.objects.filter(model_version__tenant=tenant)
            .exclude(model_version__state=VersionState.DELETING)
            .select_related("model_version")
            .order_by("model_version__name", "model_version__version", "path")
        )
        return self.paginate("models", files, model_file_item)

    @answers(
        "DELETED",
        ModelPathSerializer,
        errors=(400, 403, 404, 409),
        summary="Delete a model version",
        request=ModelVersionSerializer,
    )
    def delete(self, request, tenant):
        tenant = self.tenant(tenant)
        data = self.body(ModelVersionSerializer)
        path = deletion.request_version_deletion(
            tenant=tenant, name=data["modelName"], version=data["modelVersion"]
        )
        return envelope("DELETED", {"model_path": path})


class UploadStartView(ModelApiView):
    @answers(
        "OK",
        UploadIdSerializer,
        errors=(400, 403, 404, 409, 413, *STORAGE_ERRORS),
        summary="Start a multipart upload of one file",
        parameters=[OVERWRITE_QUERY],
        request=UploadStartSerializer,
    )
    def post(self, request, tenant):
        tenant = self.tenant(tenant)
        data = self.body(UploadStartSerializer)
        upload = uploads.start_upload(
            tenant=tenant,
            user=request.user,
            name=data["modelName"],
            version=data["modelVersion"],
            path=data["fileName"],
            overwrite=self.overwrite_query() or data["overwrite"],
        )
        return envelope("OK", {"uploadId": upload.upload_id})


class UploadPartView(ModelApiView):
    @answers(
        "OK",
        UploadPartSerializer,
        errors=(400, 403, 404, 409, 411, 413, *STORAGE_ERRORS),
        summary="Upload one part (the raw body); its ETag is also the ETag header",
        parameters=[
            *FILE_QUERY,
            _query("key", FOLDER_KEY, required=False),
            _query("uploadId", UPLOAD_ID),
            _query("partNumber", PART_NUMBER),
        ],
        request=RAW_BODY,
    )
    def put(self, request, tenant):
        tenant = self.tenant(tenant)
        query = request.query_params
        name, version, path = self.target(query)
        upload = uploads.find_upload(
            tenant=tenant,
            name=name,
            version=version,
            path=validation.in_folder(query.get("key"), path),
            upload_id=validation.upload_id(query.get("uploadId")),
        )
        part_number = validation.part_number(query.get("partNumber"))
        etag = uploads.receive_part(
            tenant=tenant,
            upload=upload,
            part_number=part_number,
            stream=body_stream(request),
            length=content_length(request),
        )
        response = envelope("OK", {"ETag": etag, "op": "upload_part"})
        response["ETag"] = etag  # for clients that read it as S3 gives it
        return response


class UploadDoneView(ModelApiView):
    @answers(
        "OK",
        CompletedUploadSerializer,
        errors=(400, 403, 404, 409, 413, *STORAGE_ERRORS),
        summary="Complete a multipart upload",
        request=UploadDoneSerializer,
    )
    def post(self, request, tenant):
        tenant = self.tenant(tenant)
        data = self.body(UploadDoneSerializer)
        upload = self.upload(tenant, data)
        file = uploads.complete_upload(tenant=tenant, upload=upload, parts=data["parts"])
        return envelope("OK", {**model_file_item(file), "uploadId": upload.upload_id})


class UploadAbortView(ModelApiView):
    @answers(
        "OK",
        AbortedUploadSerializer,
        errors=(400, 403, 404, *STORAGE_ERRORS),
        summary="Abort a multipart upload",
        request=UploadSerializer,
    )
    def post(self, request, tenant):
        tenant = self.tenant(tenant)
        upload = self.upload(tenant, self.body(UploadSerializer))
        uploads.abort_upload(tenant=tenant, upload=upload)
        return envelope("OK", {"path": upload.key, "uploadId": upload.upload_id})


class UploadFolderView(ModelApiView):
    @answers(
        "OK",
        FolderPathSerializer,
        errors=(400, 403, 404, 409, *STORAGE_ERRORS),
        summary="Make an empty folder in a model version (as the reference's upload tool does)",
        request=FolderSerializer,
    )
    def post(self, request, tenant):
        tenant = self.tenant(tenant)
        data = self.body(FolderSerializer)
        path = uploads.make_folder(
            tenant=tenant,
            name=data["modelName"],
            version=data["modelVersion"],
            folder=data.get("key"),
        )
        return envelope("OK", {"path": path})


class UploadPresignView(ModelApiView):
    @answers(
        "OK",
        PresignedPartsSerializer,
        errors=(400, 403, 404, 409, 413, *STORAGE_ERRORS),
        summary="Presigned URLs for parts of an upload (PUT each part's bytes to its URL)",
        request=UploadPresignSerializer,
    )
    def post(self, request, tenant):
        tenant = self.tenant(tenant)
        data = self.body(UploadPresignSerializer)
        upload = self.upload(tenant, data)
        lengths = uploads.declare_size(
            tenant=tenant,
            upload=upload,
            size=data["fileSize"],
            part_size=data["partSize"],
            part_numbers=data["partNumbers"],
        )
        store = get_object_store()
        expires = settings.MODELPORT_PRESIGNED_URL_SECONDS
        base_url = request.build_absolute_uri("/").rstrip("/")
        urls = [
            {
                "PartNumber": number,
                "url": store.presigned_part_url(
                    tenant.bucket, upload.key, upload.upload_id, number, length, expires, base_url
                ),
                "size": length,
            }
            for number, length in lengths.items()
        ]
        return envelope("OK", {"urls": urls, "method": "PUT", "expiresIn": expires})


class UploadArchiveView(ModelApiView):
    @answers(
        "CREATED",
        ArchiveUploadedSerializer,
        errors=(400, 403, 404, 409, 411, 413, *STORAGE_ERRORS),
        summary="Upload a whole version as one tar, tar.gz or zip archive (the raw body)",
        parameters=[*MODEL_QUERY, OVERWRITE_QUERY],
        request=RAW_BODY,
    )
    def put(self, request, tenant):
        tenant = self.tenant(tenant)
        name, version = self.model_and_version(request.query_params)
        model_version = archives.upload_archive(
            tenant=tenant,
            user=request.user,
            name=name,
            version=version,
            stream=body_stream(request),
            length=content_length(request),
            overwrite=self.overwrite_query(),
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
    @answers(
        "OK",
        DownloadUrlSerializer,
        errors=(400, 404),
        summary="A presigned URL to download one model file",
        parameters=FILE_QUERY,
    )
    def get(self, request, tenant):
        tenant = self.tenant(tenant)
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
