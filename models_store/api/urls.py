from django.urls import path

from models_store.api import views

urlpatterns = [
    path("tenants/<str:tenant>/models", views.ModelsView.as_view(), name="models"),
    path(
        "tenants/<str:tenant>/models/download",
        views.DownloadView.as_view(),
        name="model-download",
    ),
    path("tenants/<str:tenant>/upload", views.UploadPartView.as_view(), name="upload-part"),
    path("tenants/<str:tenant>/upload/start", views.UploadStartView.as_view(), name="upload-start"),
    path("tenants/<str:tenant>/upload/done", views.UploadDoneView.as_view(), name="upload-done"),
    path("tenants/<str:tenant>/upload/abort", views.UploadAbortView.as_view(), name="upload-abort"),
    path("tenants/<str:tenant>/upload/dir", views.UploadFolderView.as_view(), name="upload-dir"),
    path(
        "tenants/<str:tenant>/upload/presign",
        views.UploadPresignView.as_view(),
        name="upload-presign",
    ),
    path(
        "tenants/<str:tenant>/upload/archive",
        views.UploadArchiveView.as_view(),
        name="upload-archive",
    ),
    path("storage/parts/<str:token>", views.StoragePartView.as_view(), name="storage-part"),
    path(
        "storage/objects/<str:token>", views.StorageDownloadView.as_view(), name="storage-download"
    ),
]
