from django.conf import settings
from rest_framework import serializers

from core.api.fields import JsonValue, integer, string
from core.errors import Invalid
from core.quantity import QUANTITY_PATTERN
from endpoints import services, validation
from endpoints.errors import EndpointErrorCode
from endpoints.models import DEFAULT_VERSION_POLICY, Endpoint, ServingTemplate

# What the OpenAPI schema says each field takes: exactly what endpoints.validation accepts.
ENDPOINT_NAME = string(validation.ENDPOINT_NAME.pattern, max_length=validation.ENDPOINT_NAME_MAX)
MODEL_NAME = string(validation.MODEL_NAME.pattern)
# {latest {}}, {all {}} or {specific {versions: 1 versions: 2}}, with any whitespace between the
# words; version 0 is refused.
VERSION_POLICY = {
    **string(
        r"^\s*\{\s*(latest\s*\{\s*\}|all\s*\{\s*\}"
        r"|specific\s*\{(\s*versions\s*:\s*[0-9]+)+\s*\})\s*\}\s*$"
    ),
    "not": {"pattern": r"versions\s*:\s*0+(\s|\})"},
    "description": "{latest {}} (the default), {all {}} or {specific {versions: 1 versions: 2}}.",
}
SUBJECT_NAME = string(
    r"^([a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?)*$",
    max_length=253,
    description="A DNS name: the common name of the client certificates to accept.",
)
# A resource amount: a Kubernetes quantity, or a whole number.
AMOUNT = {"oneOf": [string(QUANTITY_PATTERN), integer(0)]}
RESOURCE_AMOUNTS = {
    "type": "object",
    "propertyNames": {"pattern": validation.RESOURCE_NAME.pattern},
    "additionalProperties": AMOUNT,
}
RESOURCES = {
    "type": "object",
    "properties": {"requests": RESOURCE_AMOUNTS, "limits": RESOURCE_AMOUNTS},
    # The reference's flat spelling of the same: "requests.cpu", "limits.memory", ...
    "patternProperties": {
        r"^(requests|limits)\." + validation.RESOURCE_NAME.pattern.removeprefix("^"): AMOUNT
    },
    "additionalProperties": False,
    "description": 'e.g. {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "2"}}, or '
    'flat as the reference sends it: {"requests.cpu": "1", "limits.cpu": "2"}: cpu, memory, '
    "ephemeral-storage or <vendor>/<device>, each request at most its limit.",
}
REPLICAS = integer(0, validation.MAX_REPLICAS)


def serving_template(name):
    """The serving template called `name`; an unknown name is a 400 that lists the known ones."""
    # A name with NUL names nothing (and PostgreSQL refuses NUL in a query).
    known_form = isinstance(name, str) and "\x00" not in name
    template = ServingTemplate.objects.filter(name=name).first() if known_form else None
    if template is None:
        known = ", ".join(ServingTemplate.objects.values_list("name", flat=True))
        raise Invalid(
            EndpointErrorCode.UNKNOWN_SERVING,
            f"There is no serving template called {name!r}; choose one of: {known}.",
            fields={"servingName": ["Unknown serving template."]},
        )
    return template


class EndpointFieldsMixin:
    def validate_modelName(self, value):
        return validation.validate_model_name(value)

    def validate_modelVersionPolicy(self, value):
        return validation.validate_version_policy(value)

    def validate_subjectName(self, value):
        return validation.validate_subject_name(value)

    def validate_resources(self, value):
        return validation.validate_resources(value)


class EndpointCreateSerializer(EndpointFieldsMixin, serializers.Serializer):
    """The reference body: {"endpointName", "modelName", "modelVersionPolicy", "servingName",
    "subjectName", "resources"}, plus an optional "replicas" (default 1). servingName defaults to
    this installation's (MODELPORT_DEFAULT_SERVING), subjectName to `<endpoint>.<tenant>`."""

    endpointName = JsonValue(ENDPOINT_NAME, help_text="DNS-1035 label, 1 to 32 characters.")
    modelName = JsonValue(MODEL_NAME, help_text="The model folder in the tenant's bucket.")
    modelVersionPolicy = JsonValue(VERSION_POLICY, required=False)
    servingName = JsonValue(
        string(),
        required=False,
        help_text="A serving template (GET /servings); default: MODELPORT_DEFAULT_SERVING.",
    )
    subjectName = JsonValue(
        SUBJECT_NAME, required=False, help_text="Default: <endpointName>.<tenant>."
    )
    resources = JsonValue(RESOURCES, required=False)
    replicas = JsonValue(REPLICAS, required=False, help_text="0 or more; default 1.")

    def validate_endpointName(self, value):
        return validation.validate_endpoint_name(value)

    def validate_replicas(self, value):
        return validation.validate_replicas(value)

    def validate(self, attrs):
        attrs.setdefault("modelVersionPolicy", DEFAULT_VERSION_POLICY)
        attrs.setdefault("resources", {})
        attrs.setdefault("replicas", 1)
        return attrs


def create_endpoint(data, *, tenant, created_by):
    """Create an endpoint from a create body that EndpointCreateSerializer validated (the API's,
    or the portal form's)."""
    return services.create_endpoint(
        tenant=tenant,
        name=data["endpointName"],
        model_name=data["modelName"],
        version_policy=data["modelVersionPolicy"],
        serving=serving_template(data.get("servingName", settings.MODELPORT_DEFAULT_SERVING)),
        subject_name=data.get("subjectName") or f"{data['endpointName']}.{tenant.name}",
        resources=data["resources"],
        replicas=data["replicas"],
        created_by=created_by,
    )


class EndpointUpdateSerializer(EndpointFieldsMixin, serializers.Serializer):
    """Any of the fields; at least one."""

    modelName = JsonValue(MODEL_NAME, required=False)
    modelVersionPolicy = JsonValue(VERSION_POLICY, required=False)
    resources = JsonValue(RESOURCES, required=False)
    subjectName = JsonValue(SUBJECT_NAME, required=False)

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError(
                "Give at least one of modelName, modelVersionPolicy, resources, subjectName."
            )
        return attrs


class ScaleSerializer(serializers.Serializer):
    replicas = JsonValue(REPLICAS)

    def validate_replicas(self, value):
        return validation.validate_replicas(value)


class EndpointDeleteSerializer(serializers.Serializer):
    endpointName = JsonValue(string())

    def validate_endpointName(self, value):
        if not isinstance(value, str) or not value:
            raise serializers.ValidationError("endpointName must name an endpoint.")
        return value


# --- what the API answers -------------------------------------------------------------------


class EndpointCreatedSerializer(serializers.Serializer):
    url = serializers.CharField(help_text="<endpoint>-<tenant>.<domain>:443")
    warning = serializers.CharField(
        allow_blank=True, help_text='"<model> model is not available on the platform", or "".'
    )


class EndpointUrlSerializer(serializers.Serializer):
    url = serializers.CharField()


class EndpointChangedSerializer(serializers.Serializer):
    url = serializers.CharField()
    values = serializers.DictField(help_text="The fields as they are now stored.")


class ReplicasChangedValuesSerializer(serializers.Serializer):
    replicas = serializers.IntegerField(min_value=0)


class EndpointScaledSerializer(serializers.Serializer):
    url = serializers.CharField()
    values = ReplicasChangedValuesSerializer()


class EndpointItemSerializer(serializers.Serializer):
    name = serializers.CharField()
    url = serializers.CharField()
    status = serializers.CharField(help_text="available, pending, provisioning, failed, deleting")


def _serializer(name, fields):
    """A serializer whose field names have spaces, as the reference's detail body does."""
    return type(name, (serializers.Serializer,), fields)


PodCountsSerializer = _serializer(
    "PodCountsSerializer",
    {
        "running pods": serializers.IntegerField(),
        "pending pods": serializers.IntegerField(),
        "failed pods": serializers.IntegerField(),
    },
)
ReplicaCountsSerializer = _serializer(
    "ReplicaCountsSerializer",
    {
        "available": serializers.IntegerField(allow_null=True),
        "unavailable": serializers.IntegerField(allow_null=True),
    },
)
EndpointDetailSerializer = _serializer(
    "EndpointDetailSerializer",
    {
        "endpoint status": PodCountsSerializer(),
        "endpoint url": serializers.CharField(),
        "subject name": serializers.CharField(),
        "resources": serializers.DictField(),
        "replicas": ReplicaCountsSerializer(),
        "desired replicas": serializers.IntegerField(min_value=0),
        "model name": serializers.CharField(),
        "model version policy": serializers.CharField(),
        "serving name": serializers.CharField(),
        "phase": serializers.CharField(),
        "message": serializers.CharField(allow_blank=True),
        "generation": serializers.IntegerField(),
        "observedGeneration": serializers.IntegerField(),
    },
)


def list_status(endpoint):
    """The one-word status of the reference's list: "available" when Ready."""
    if endpoint.deletion_requested_at:
        return "deleting"
    return "available" if endpoint.phase == "Ready" else endpoint.phase.lower()


def endpoint_detail(endpoint: Endpoint):
    """The reference's detail body, plus the model, policy, template, phase, message and
    generations."""
    return {
        "endpoint status": {
            "running pods": endpoint.running_pods,
            "pending pods": endpoint.pending_pods,
            "failed pods": endpoint.failed_pods,
        },
        "endpoint url": endpoint.url,
        "subject name": endpoint.subject_name,
        "resources": endpoint.resources,
        "replicas": {
            "available": endpoint.available_replicas,
            "unavailable": endpoint.unavailable_replicas,
        },
        "desired replicas": endpoint.replicas,
        "model name": endpoint.model_name,
        "model version policy": endpoint.version_policy,
        "serving name": endpoint.serving.name,
        "phase": "Deleting" if endpoint.deletion_requested_at else endpoint.phase,
        "message": endpoint.message,
        # The phase describes `observedGeneration`; a change is applied once it reaches
        # `generation`.
        "generation": endpoint.generation,
        "observedGeneration": endpoint.observed_generation,
    }
