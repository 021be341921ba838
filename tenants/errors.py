"""The tenants app's stable error codes."""

from enum import StrEnum


class TenantErrorCode(StrEnum):
    TENANT_NOT_FOUND = "tenant_not_found"
    TENANT_EXISTS = "tenant_exists"
    TENANT_DELETING = "tenant_deleting"
    BINDING_NOT_FOUND = "binding_not_found"
    CA_IN_USE = "ca_in_use"
