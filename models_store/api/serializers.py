"""Request bodies, checked by models_store.validation (each mistake keeps its own error code and
sentence), and the shapes of what the API answers. The JSON schema beside each field is what
the OpenAPI schema publishes: exactly what the validation function accepts."""

from rest_framework import serializers

from core.api.fields import JsonValue, integer, string
from core.errors import Invalid
from models_store import validation
from models_store.errors import ModelStoreErrorCode

MODEL_NAME = {
    **string(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$", max_length=100),
    "not": {"pattern": r"\.\."},
}
# The reference's clients send the version as a number or as a string of digits.
MODEL_VERSION = {
    "oneOf": [
        integer(1, validation.MAX_VERSION),
        string(r"^0*[1-9][0-9]{0,14}$|^0*1000000000000000$"),
    ],
    "description": "A positive whole number, as a number or a string of digits.",
}
# Bytes in UTF-8 bound the path and each name in it; the schema bounds characters, which is the
# same for ASCII.
NAME = rf"[^/\\\x00-\x1f\x7f]{{1,{validation.SEGMENT_MAX_BYTES}}}"
FILE_PATH = {
    **string(
        rf"^{NAME}(/{NAME})*$",
        max_length=validation.FILE_PATH_MAX_BYTES,
        description="A relative path in the version folder; / separates subfolders. At most "
        f"{validation.FILE_PATH_MAX_BYTES} bytes, each name at most "
        f"{validation.SEGMENT_MAX_BYTES}.",
    ),
    "not": {"pattern": r"(^|/)\.\.?(/|$)"},
}
UPLOAD_ID = string(max_length=1024)
# overwrite_flag's spellings of true and false (Python's 0 and 1 are false and true too).
OVERWRITE = {
    "oneOf": [
        {"type": "boolean"},
        {"type": "string", "enum": ["", "true", "false", "1", "0", "yes", "no"]},
        {"type": "number", "enum": [0, 1]},
    ],
    "nullable": True,
    "default": False,
}
PART_NUMBER = integer(1, validation.MAX_PART_NUMBER)
PARTS = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "properties": {"ETag": {"type": "string"}, "PartNumber": PART_NUMBER},
        "required": ["ETag", "PartNumber"],
    },
    "description": "Each part once, in ascending PartNumber order.",
}


class ModelVersionSerializer(serializers.Serializer):
    modelName = JsonValue(MODEL_NAME, check_absent=True)
    modelVersion = JsonValue(MODEL_VERSION, check_absent=True)

    def validate_modelName(self, value):
        return validation.model_name(value)

    def validate_modelVersion(self, value):
        return validation.model_version(value)


# The reference clients' "key": the subfolder of the version a file or folder is in (null or
# absent or "": the version's own folder).
FOLDER_KEY = {
    "oneOf": [FILE_PATH, {"type": "string", "enum": [""]}],
    "nullable": True,
    "description": 'A subfolder of the version ("" or null: the version\'s own folder).',
}


class FileSerializer(ModelVersionSerializer):
    fileName = JsonValue(FILE_PATH, check_absent=True, help_text="May contain / for subfolders.")
    key = JsonValue(
        FOLDER_KEY, required=False, allow_null=True, help_text="The subfolder fileName is in."
    )

    def validate_fileName(self, value):
        return validation.file_path(value)

    def validate(self, attrs):
        """fileName becomes the file's path in the version: inside `key` when one is given."""
        attrs["fileName"] = validation.in_folder(attrs.pop("key", None), attrs["fileName"])
        return attrs


class FolderSerializer(ModelVersionSerializer):
    key = JsonValue(
        FOLDER_KEY, required=False, allow_null=True, help_text="The folder (none: the version's)."
    )

    def validate_key(self, value):
        return validation.folder_key(value)


class UploadStartSerializer(FileSerializer):
    overwrite = JsonValue(OVERWRITE, check_absent=True, required=False)

    def validate_overwrite(self, value):
        return validation.overwrite_flag(value)


class UploadSerializer(FileSerializer):
    uploadId = JsonValue(UPLOAD_ID, check_absent=True)

    def validate_uploadId(self, value):
        return validation.upload_id(value)


class UploadDoneSerializer(UploadSerializer):
    parts = JsonValue(PARTS, check_absent=True)

    def validate_parts(self, value):
        return validation.parts_list(value)


class UploadPresignSerializer(UploadSerializer):
    partNumbers = JsonValue(
        {"type": "array", "minItems": 1, "maxItems": 1000, "items": PART_NUMBER},
        check_absent=True,
    )
    fileSize = JsonValue(
        integer(0),
        check_absent=True,
        help_text="The whole file's size in bytes, reserved against the quota until the upload "
        "completes or is aborted.",
    )
    partSize = JsonValue(
        integer(1, validation.MAX_PART_BYTES),
        check_absent=True,
        help_text="Bytes in every part but the last, which holds the rest. Each URL accepts "
        f"exactly its part's length; at least {validation.MIN_PART_BYTES} when the file has "
        "more than one part.",
    )

    def validate_fileSize(self, value):
        return validation.file_size(value)

    def validate_partNumbers(self, value):
        if not isinstance(value, list) or not 1 <= len(value) <= 1000:
            raise Invalid(
                ModelStoreErrorCode.INVALID_PART_NUMBER,
                "partNumbers must be a list of 1 to 1000 part numbers.",
                fields={"partNumbers": ["Must be a list of 1 to 1000 part numbers."]},
            )
        return [validation.part_number(number) for number in value]


# --- what the API answers -------------------------------------------------------------------


class ModelFileSerializer(serializers.Serializer):
    path = serializers.CharField(help_text="<model>/<version>/<file>")
    name = serializers.CharField()
    version = serializers.CharField(help_text="The version, as a string of digits.")
    size = serializers.IntegerField(min_value=0)


class ModelPathSerializer(serializers.Serializer):
    model_path = serializers.CharField(help_text="<model>/<version>/")


class UploadIdSerializer(serializers.Serializer):
    uploadId = serializers.CharField()


class UploadPartSerializer(serializers.Serializer):
    ETag = serializers.CharField()
    op = serializers.ChoiceField(choices=["upload_part"])


class CompletedUploadSerializer(ModelFileSerializer):
    uploadId = serializers.CharField()


class FolderPathSerializer(serializers.Serializer):
    path = serializers.CharField(help_text="<model>/<version>/<key>/")


class AbortedUploadSerializer(serializers.Serializer):
    path = serializers.CharField()
    uploadId = serializers.CharField()


class PartUrlSerializer(serializers.Serializer):
    PartNumber = serializers.IntegerField()
    url = serializers.URLField()
    size = serializers.IntegerField(help_text="The bytes this URL accepts: exactly this many.")


class PresignedPartsSerializer(serializers.Serializer):
    urls = PartUrlSerializer(many=True)
    method = serializers.ChoiceField(choices=["PUT"])
    expiresIn = serializers.IntegerField(help_text="Seconds the URLs stay valid.")


class ArchiveUploadedSerializer(serializers.Serializer):
    model_path = serializers.CharField()
    files = ModelFileSerializer(many=True)


class DownloadUrlSerializer(serializers.Serializer):
    url = serializers.URLField()
    expiresIn = serializers.IntegerField()


def model_file_item(file):
    """One entry of the reference model list."""
    model_version = file.model_version
    return {
        "path": f"{model_version.prefix}{file.path}",
        "name": model_version.name,
        "version": str(model_version.version),
        "size": file.size,
    }
