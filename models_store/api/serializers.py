"""Request bodies (for the OpenAPI schema; values are checked by models_store.validation, which
gives each mistake its own error code) and the shapes of what the API returns."""

from rest_framework import serializers


class ModelVersionSerializer(serializers.Serializer):
    modelName = serializers.CharField()
    modelVersion = serializers.IntegerField(min_value=1)


class UploadStartSerializer(ModelVersionSerializer):
    fileName = serializers.CharField(help_text="May contain / for subfolders.")
    overwrite = serializers.BooleanField(required=False, default=False)


class PartSerializer(serializers.Serializer):
    ETag = serializers.CharField()
    PartNumber = serializers.IntegerField(min_value=1)


class UploadDoneSerializer(ModelVersionSerializer):
    fileName = serializers.CharField()
    uploadId = serializers.CharField()
    parts = PartSerializer(many=True)


class UploadAbortSerializer(ModelVersionSerializer):
    fileName = serializers.CharField()
    uploadId = serializers.CharField()


class UploadPresignSerializer(UploadAbortSerializer):
    partNumbers = serializers.ListField(child=serializers.IntegerField(min_value=1))
    fileSize = serializers.IntegerField(
        min_value=0, help_text="The whole file's size in bytes, checked against the quota."
    )


def model_file_item(file):
    """One entry of the reference model list."""
    model_version = file.model_version
    return {
        "path": f"{model_version.prefix}{file.path}",
        "name": model_version.name,
        "version": str(model_version.version),
        "size": file.size,
    }
