"""A request field that the app's validation functions judge, typed in the OpenAPI schema, and
helpers to write the JSON schemas of such fields."""

from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from rest_framework import serializers
from rest_framework.fields import empty


class JsonValue(serializers.JSONField):
    """A body field that passes the JSON value as sent to the serializer's `validate_<field>`,
    where the app's validation function judges it and words the error (a CharField would turn 5
    into "5", and answer a wrong type in DRF's words instead). `schema` is the JSON schema of what
    the field accepts, as the OpenAPI schema publishes it.

    With `check_absent`, a missing or null value reaches `validate_<field>` as None too, so the
    app's own code and sentence answer it ("modelName is required."); the field stays required
    in the schema unless `required=False`."""

    def __init__(self, schema, *, check_absent=False, **kwargs):
        self.schema = schema
        self.check_absent = check_absent
        super().__init__(**kwargs)

    def validate_empty_values(self, data):
        if self.check_absent and (data is empty or data is None):
            return True, None
        return super().validate_empty_values(data)


class JsonValueSchema(OpenApiSerializerFieldExtension):
    target_class = JsonValue

    def map_serializer_field(self, auto_schema, direction):
        return dict(self.target.schema)


def string(pattern=None, *, min_length=1, max_length=None, **extra):
    """The JSON schema of a string; give `pattern` anchored (^...$): JSON schema patterns match
    anywhere in the string."""
    schema = {"type": "string", **extra}
    if pattern:
        schema["pattern"] = pattern
    if min_length:
        schema["minLength"] = min_length
    if max_length is not None:
        schema["maxLength"] = max_length
    return schema


def integer(minimum=None, maximum=None, **extra):
    schema = {"type": "integer", **extra}
    if minimum is not None:
        schema["minimum"] = minimum
    if maximum is not None:
        schema["maximum"] = maximum
    return schema


# The characters Python's str.isspace() and str.strip() take for whitespace, as a character class
# body for patterns: the validation functions use them, so the schema does too.
PYTHON_SPACE = r"\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
