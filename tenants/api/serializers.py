from django.conf import settings
from rest_framework import serializers

from core.api.fields import PYTHON_SPACE, JsonValue, string
from core.quantity import QUANTITY_PATTERN
from tenants import validation
from tenants.models import Role, Tenant

# What the OpenAPI schema says each field takes: exactly what tenants.validation accepts.
TENANT_NAME = {
    **string(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", min_length=3, max_length=30),
    "not": {
        "anyOf": [
            {"pattern": "^(kube-|xn--|sthree-)"},
            {
                "enum": sorted(
                    {
                        *validation.RESERVED_NAMES,
                        settings.MODELPORT_GATEWAY_NAMESPACE,
                        settings.MODELPORT_INGRESS_NAMESPACE,
                    }
                )
            },
        ]
    },
}
# A group name: no whitespace inside, at most 200 characters with the whitespace around it (which
# is dropped).
GROUP_NAME = string(rf"^[{PYTHON_SPACE}]*[^{PYTHON_SPACE}\x00]+[{PYTHON_SPACE}]*$", max_length=200)
CA_CERT = string(
    min_length=0,
    description='Base64 of the PEM of a current CA certificate (or the PEM); "" is none.',
)
QUANTITY = string(QUANTITY_PATTERN, description="A Kubernetes quantity such as 500m, 2 or 4Gi.")
# GPUs are counted in whole devices.
DEVICES = string(r"^[0-9]+(\.0*)?$", description="A whole number of devices such as 1.")
# A count: a whole number, or its digits as a string (as some of the reference's clients send).
COUNT = {
    "oneOf": [
        {"type": "integer", "minimum": 0},
        {"type": "string", "pattern": r"^[0-9]{1,18}$"},
    ]
}
QUOTA = {
    "type": "object",
    "properties": {
        "maxEndpoints": COUNT,
        "maxStorageBytes": COUNT,
        **{key: QUANTITY for key in validation.QUOTA_QUANTITIES},
    },
    "patternProperties": {validation.GPU_QUOTA.pattern: DEVICES},
    "additionalProperties": False,
    "description": "maxEndpoints, maxStorageBytes (whole numbers), Kubernetes quantities for "
    "requests.cpu, limits.cpu, requests.memory, limits.memory (requests at most the limits) and "
    "whole numbers of devices for requests.<vendor>/gpu.",
}


class CertAndQuotaChecks(serializers.Serializer):
    """The checks of `cert` and `quota`, the same at creation and in a change."""

    def validate_cert(self, value):
        return validation.parse_ca_certificate(value)

    def validate_quota(self, value):
        return validation.validate_quota(value)


class TenantCreateSerializer(CertAndQuotaChecks):
    """The reference body: {"name", "cert", "scope", "quota"}."""

    name = JsonValue(TENANT_NAME, help_text="DNS-1123 label, 3 to 30 characters.")
    scope = JsonValue(GROUP_NAME, help_text="The OIDC group of the tenant's users.")
    cert = JsonValue(
        CA_CERT,
        required=False,
        help_text="Base64 of the PEM of the CA that signs client certificates.",
    )
    quota = JsonValue(
        QUOTA,
        required=False,
        help_text='maxEndpoints and Kubernetes quantities, e.g. {"maxEndpoints": 5}.',
    )

    def validate_name(self, value):
        return validation.validate_tenant_name(value)

    def validate_scope(self, value):
        return validation.validate_scope(value)


class TenantUpdateSerializer(CertAndQuotaChecks):
    """{"quota": {...}} and/or {"cert": "<base64 PEM or PEM>" | ""}. The quota replaces the whole
    quota object (keys left out are limits removed); an empty cert removes the CA."""

    quota = JsonValue(
        QUOTA,
        required=False,
        help_text="The whole new quota, as at creation; {} removes every limit.",
    )
    cert = JsonValue(
        CA_CERT,
        required=False,
        help_text='Base64 of the PEM of the new CA (a PEM is accepted too); "" removes the CA.',
    )

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError(
                'Give the quota, the cert or both; for example {"quota": {"maxEndpoints": 5}}.'
            )
        return attrs


class BindingSerializer(serializers.Serializer):
    """{"group": "<OIDC group>", "role": "viewer" | "editor" | "admin"}."""

    group = JsonValue(GROUP_NAME, help_text="An OIDC group, as in the groups claim.")
    role = JsonValue({"enum": Role.values}, help_text="viewer, editor or admin.")

    def validate_group(self, value):
        return validation.validate_group(value)

    def validate_role(self, value):
        return validation.validate_role(value)


class UnbindSerializer(serializers.Serializer):
    group = JsonValue(GROUP_NAME, help_text="The OIDC group whose role to remove.")

    def validate_group(self, value):
        return validation.validate_group(value)


class TenantDeleteSerializer(serializers.Serializer):
    name = serializers.CharField()


# --- what the API answers -------------------------------------------------------------------


class TenantNameSerializer(serializers.Serializer):
    name = serializers.CharField()


class BindingItemSerializer(serializers.Serializer):
    group = serializers.CharField()
    role = serializers.ChoiceField(choices=Role.values)


class GroupSerializer(serializers.Serializer):
    group = serializers.CharField()


class CertificateSerializer(serializers.Serializer):
    subject = serializers.CharField(help_text="The CA's subject (RFC 4514).")
    notAfter = serializers.DateTimeField()


class TenantUsageSerializer(serializers.Serializer):
    quota = serializers.DictField(help_text="What the namespace's ResourceQuota reports as used.")


class TenantDetailSerializer(serializers.Serializer):
    name = serializers.CharField()
    scope = serializers.CharField()
    phase = serializers.CharField(help_text="Pending, Provisioning, Ready, Failed or Deleting.")
    message = serializers.CharField(allow_blank=True)
    generation = serializers.IntegerField()
    observedGeneration = serializers.IntegerField()
    quota = serializers.DictField()
    usage = TenantUsageSerializer()
    namespace = serializers.CharField()
    bucket = serializers.CharField()
    cert = CertificateSerializer(allow_null=True)
    bindings = BindingItemSerializer(many=True)
    createdBy = serializers.CharField(allow_null=True)
    createdAt = serializers.DateTimeField()
    reconciledAt = serializers.DateTimeField(allow_null=True)


class TenantRoleSerializer(serializers.Serializer):
    name = serializers.CharField()
    role = serializers.ChoiceField(choices=Role.values)


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    groups = serializers.ListField(child=serializers.CharField())
    platformAdmin = serializers.BooleanField()
    tenants = TenantRoleSerializer(many=True)


def tenant_detail(tenant: Tenant):
    return {
        "name": tenant.name,
        "scope": tenant.scope,
        "phase": tenant.phase,
        "message": tenant.message,
        "generation": tenant.generation,
        "observedGeneration": tenant.observed_generation,
        "quota": tenant.quota,
        "usage": {"quota": tenant.quota_used},
        "namespace": tenant.namespace,
        "bucket": tenant.bucket,
        "cert": validation.describe_certificate(tenant.ca_cert),
        "bindings": [{"group": b.group, "role": b.role} for b in tenant.bindings.all()],
        "createdBy": tenant.created_by.get_username() if tenant.created_by else None,
        "createdAt": tenant.created_at.isoformat(),
        "reconciledAt": tenant.reconciled_at.isoformat() if tenant.reconciled_at else None,
    }
