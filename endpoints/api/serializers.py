from rest_framework import serializers

from core.errors import Invalid
from endpoints import services, validation
from endpoints.errors import EndpointErrorCode
from endpoints.models import DEFAULT_VERSION_POLICY, Endpoint, ServingTemplate


def serving_template(name):
    """The serving template called `name`; an unknown name is a 400 that lists the known ones."""
    template = ServingTemplate.objects.filter(name=name).first() if isinstance(name, str) else None
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
    "subjectName", "resources"}, plus an optional "replicas" (default 1)."""

    endpointName = serializers.JSONField(help_text="DNS-1123 label, 1 to 32 characters.")
    modelName = serializers.JSONField(help_text="The model folder in the tenant's bucket.")
    modelVersionPolicy = serializers.JSONField(
        required=False, help_text="{latest {}}, {all {}} or {specific {versions: 1 ...}}."
    )
    servingName = serializers.JSONField(help_text="A serving template (GET /servings).")
    subjectName = serializers.JSONField(help_text="Common name of accepted client certificates.")
    resources = serializers.JSONField(
        required=False, help_text='{"requests": {"cpu": "1"}, "limits": {"cpu": "2"}}'
    )
    replicas = serializers.JSONField(required=False, help_text="0 or more; default 1.")

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
        serving=serving_template(data["servingName"]),
        subject_name=data["subjectName"],
        resources=data["resources"],
        replicas=data["replicas"],
        created_by=created_by,
    )


class EndpointUpdateSerializer(EndpointFieldsMixin, serializers.Serializer):
    modelName = serializers.JSONField(required=False)
    modelVersionPolicy = serializers.JSONField(required=False)
    resources = serializers.JSONField(required=False)
    subjectName = serializers.JSONField(required=False)

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError(
                "Give at least one of modelName, modelVersionPolicy, resources, subjectName."
            )
        return attrs


class ScaleSerializer(serializers.Serializer):
    replicas = serializers.JSONField()

    def validate_replicas(self, value):
        return validation.validate_replicas(value)


class EndpointDeleteSerializer(serializers.Serializer):
    endpointName = serializers.JSONField()

    def validate_endpointName(self, value):
        if not isinstance(value, str) or not value:
            raise serializers.ValidationError("endpointName must name an endpoint.")
        return value


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
