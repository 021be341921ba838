"""How the OpenAPI schema at /api/schema/ describes the management API, so that it is the truth
about every call: the success envelope around each call's data with the status it really
answers, the error envelope for each error status it can answer, page parameters and the
`pagination` block on lists, and the bodies of DELETE and PATCH as the views read them.

A view says what it answers, once, beside the method:

    @answers("CREATED", TenantNameSerializer, errors=(400, 403, 409), request=..., summary=...)
    @answers_page("tenants", serializers.CharField(), name="Tenants", summary=...)

and `error_responses(...)` serves the few calls whose success is not an envelope (a redirect,
a CSV file).
"""

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers

from core.api.envelope import HTTP_STATUS
from core.api.fields import PYTHON_SPACE, JsonValue

ERROR_DESCRIPTIONS = {
    400: "The request is invalid: `error.code` says how, `error.fields` where.",
    401: "No credential was sent, or the one sent is refused.",
    403: "The caller may not do this (a role too low, or not a platform admin).",
    404: "There is no such object for this caller (another tenant's is a `tenant_not_found`).",
    409: "The request is valid, but the state of things refuses it now.",
    411: "The body was sent without a Content-Length.",
    413: "The body or the file is larger than a limit or the tenant's storage quota allows.",
    415: "The body is not application/json.",
    502: "A server the portal depends on answered with something it cannot use.",
    503: "A server the portal depends on cannot be reached now; try again later.",
}


def _word(*words):
    """The envelope's `status`: one of `words` (the settings' ENUM_NAME_OVERRIDES name them)."""
    return JsonValue({"type": "string", "enum": list(words)})


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="A stable code, e.g. tenant_not_found.")
    message = serializers.CharField(help_text="A sentence that says what is wrong.")
    fields = serializers.DictField(
        help_text="Messages per request field (nested for nested fields); {} when none."
    )


class ErrorSerializer(serializers.Serializer):
    """{"status": "ERROR", "error": {"code", "message", "fields"}}."""

    status = _word("ERROR")
    error = ErrorDetailSerializer()


class PaginationSerializer(serializers.Serializer):
    count = serializers.IntegerField(min_value=0, help_text="Items on all pages.")
    page = serializers.IntegerField(min_value=1)
    pages = serializers.IntegerField(min_value=1)
    next = serializers.URLField(allow_null=True, help_text="The next page's address, or null.")
    previous = serializers.URLField(allow_null=True)


PAGE_PARAMETERS = [
    OpenApiParameter(
        "page",
        {"oneOf": [{"type": "integer", "minimum": 1}, {"type": "string", "enum": ["last", ""]}]},
        description="Page number, from 1 (also when empty), or last; past the last is a 404.",
    ),
    # DRF takes any value: one that is not a positive whole number means the default.
    OpenApiParameter(
        "page_size",
        str,
        description="Items per page, 1 to 1000 (more means 1000); 100 by default, and for a "
        "value that is not a positive whole number.",
    ),
]


def error_responses(*statuses):
    """{status: the error envelope} for each status."""
    return {
        status: OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[status])
        for status in sorted(statuses)
    }


def _name_of(data):
    if isinstance(data, type):
        return data.__name__.removesuffix("Serializer")
    if isinstance(data, serializers.BaseSerializer):
        return type(data).__name__.removesuffix("Serializer")
    raise TypeError(f"name the envelope of {data!r}")


# Envelope serializers by component name: the schema must meet one class per name.
_envelopes = {}
# The envelopes of paginated lists, whose operations are named *_list.
_pages = set()


def _envelope(words, data, name, pagination=False):
    if name not in _envelopes:
        fields = {"status": _word(*words), "data": data}
        if pagination:
            fields["pagination"] = PaginationSerializer()
        _envelopes[name] = type(name, (serializers.Serializer,), fields)
    return _envelopes[name]


def _data_field(data):
    return data() if isinstance(data, type) else data


def _responses(success, errors, signed_in, more=None):
    statuses = set(errors) | ({401} if signed_in else set())
    return {**success, **error_responses(*statuses), **(more or {})}


def answers(words, data, *, errors=(), name=None, signed_in=True, **schema):
    """`extend_schema` for a call that answers `{"status": <word>, "data": <data>}`: `words` is
    one status word or several (a call that may create or change answers CREATED with 201,
    PATCHED or OK with 200); `data` a serializer (class or instance) or a field; `errors` the
    error statuses it can answer, 401 added for calls that need a login, 413 and 415 for calls
    with a JSON body. `name` names the data in the schema when it is a plain field; `responses` adds
    other answers (another media type of a status, e.g. {(200, "text/csv"): ...})."""
    words = (words,) if isinstance(words, str) else tuple(words)
    name = name or _name_of(data)
    by_status = {}
    for word in words:
        by_status.setdefault(HTTP_STATUS[word], []).append(word)
    success = {
        status: _envelope(
            status_words, _data_field(data), name + "".join(map(str.title, status_words))
        )
        for status, status_words in by_status.items()
    }
    more = schema.pop("responses", None)
    if schema.get("request") is not None:
        # A JSON body: larger than MODELPORT_REQUEST_MAX_BYTES (portal/request_guard.py), or
        # not JSON.
        errors = {*errors, 413, 415}
    return extend_schema(responses=_responses(success, errors, signed_in, more), **schema)


def answers_page(key, item, *, name, errors=(), **schema):
    """`extend_schema` for a paginated list: `{"status": "OK", "data": {key: [item, ...]},
    "pagination": {...}}`, with the `page` and `page_size` parameters. A page past the last is a
    404. `responses` adds other answers, as for `answers`."""
    data = type(f"{name}List", (serializers.Serializer,), {key: serializers.ListField(child=item)})
    page = _envelope(["OK"], data(), f"{name}Page", pagination=True)
    _pages.add(page)
    success = {200: page}
    parameters = [*PAGE_PARAMETERS, *schema.pop("parameters", [])]
    more = schema.pop("responses", None)
    return extend_schema(
        responses=_responses(success, {404, *errors}, signed_in=True, more=more),
        parameters=parameters,
        **schema,
    )


# A CharField that is not blank after DRF trims it, without NUL characters (DRF refuses both).
NOT_BLANK = rf"^[^\x00]*[^\x00{PYTHON_SPACE}][^\x00]*$"


def _char_field(field, schema):
    """A CharField of a request body as DRF reads it: trimmed, then not blank and without NUL
    (unless `allow_blank`) or matching its pattern; a number is taken too (5 becomes "5"): whole
    numbers when a pattern must match, any number otherwise. The string keywords apply to
    strings only."""
    has_pattern = "pattern" in schema
    if has_pattern and field.trim_whitespace:
        # The pattern must match once the whitespace around the value is trimmed.
        inner = schema["pattern"].removeprefix("^").removesuffix("$")
        schema["pattern"] = rf"^[{PYTHON_SPACE}]*(?:{inner})[{PYTHON_SPACE}]*$"
    elif not field.allow_blank and field.trim_whitespace:
        schema["pattern"] = NOT_BLANK
    schema.pop("type", None)
    number = {"type": "integer", "minimum": 0} if has_pattern else {"type": "number"}
    return {"oneOf": [{"type": "string"}, number], **schema}


class ApiAutoSchema(AutoSchema):
    """drf-spectacular's schema, with request bodies described as ApiView.body reads them: a
    DELETE has one (the reference's deletes name the object in the body), a PATCH body is
    validated whole by its serializer (the serializer's `required` says what may be left out),
    so both are described as a POST's body would be; fields the serializer does not know are
    refused (`additionalProperties: false`), and so is a string that is blank once trimmed."""

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if direction == "request":
            schema["additionalProperties"] = False
            for name, field in serializer.fields.items():
                if type(field) is serializers.CharField and name in schema["properties"]:
                    schema["properties"][name] = _char_field(field, schema["properties"][name])
        return schema

    def get_operation_id(self):
        """drf-spectacular names a plain view's GET *_retrieve; a paginated list is *_list, so
        /tenants and /tenants/{tenant} do not share a name."""
        operation_id = super().get_operation_id()
        responses = self.get_response_serializers()
        if isinstance(responses, dict) and responses.get(200) in _pages:
            return operation_id.removesuffix("_retrieve") + "_list"
        return operation_id

    def get_description(self):
        """The method's docstring, else the view's own: a base class's docstring describes the
        code, not the call."""
        method = getattr(self.view, self.method.lower(), None)
        return (method and method.__doc__) or vars(type(self.view)).get("__doc__") or ""

    def _get_request_body(self, direction="request"):
        method = self.method
        if method in ("DELETE", "PATCH"):
            self.method = "POST"
        try:
            return super()._get_request_body(direction)
        finally:
            self.method = method
