from rest_framework import serializers

from tenants import validation
from tenants.models import Tenant


class CertAndQuotaChecks(serializers.Serializer):
    """The checks of `cert` and `quota`, the same at creation and in a change."""

    def validate_cert(self, value):
        return validation.parse_ca_certificate(value)

    def validate_quota(self, value):
        return validation.validate_quota(value)


class TenantCreateSerializer(CertAndQuotaChecks):
    """The reference body: {"name", "cert", "scope", "quota"}."""

    name = serializers.JSONField(help_text="DNS-1123 label, 3 to 30 characters.")
    scope = serializers.JSONField(help_text="The OIDC group of the tenant's users.")
    cert = serializers.JSONField(
        required=False, help_text="Base64 of the PEM of the CA that signs client certificates."
    )
    quota = serializers.JSONField(
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

    quota = serializers.JSONField(
        required=False,
        help_text="The whole new quota, as at creation; {} removes every limit.",
    )
    cert = serializers.JSONField(
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

    group = serializers.JSONField(help_text="An OIDC group, as in the groups claim.")
    role = serializers.JSONField(help_text="viewer, editor or admin.")

    def validate_group(self, value):
        return validation.validate_group(value)

    def validate_role(self, value):
        return validation.validate_role(value)


class UnbindSerializer(serializers.Serializer):
    group = serializers.JSONField(help_text="The OIDC group whose role to remove.")

    def validate_group(self, value):
        return validation.validate_group(value)


class TenantDeleteSerializer(serializers.Serializer):
    name = serializers.CharField()


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
