"""Checks on tenant input. Each function returns the clean value or raises ValidationError
with a sentence that says what is wrong and what would be right."""

import base64
import binascii
import re
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from django.conf import settings
from django.core.exceptions import ValidationError

from core.quantity import is_quantity, quantity_value
from tenants.models import Role

# The longest tenant name that keeps `<endpoint>-<tenant>` a valid DNS label (63) with endpoint
# names of up to 32 characters.
TENANT_NAME_MAX = 30
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
RESERVED_NAMES = {"default", "modelport", "ingress-nginx"}

# Quota keys Modelport enforces itself (not part of the Kubernetes ResourceQuota).
PLATFORM_QUOTA_KEYS = ("maxEndpoints", "maxStorageBytes")
COUNT_DIGITS = re.compile(r"[0-9]{1,18}")
QUOTA_QUANTITIES = ("requests.cpu", "limits.cpu", "requests.memory", "limits.memory")
GPU_QUOTA = re.compile(r"^requests\.[a-z0-9.-]+\.[a-z]+/gpu$")


def validate_tenant_name(name):
    if not isinstance(name, str) or not name:
        raise ValidationError("A tenant name is required.")
    if not 3 <= len(name) <= TENANT_NAME_MAX:
        raise ValidationError(
            f"A tenant name must be 3 to {TENANT_NAME_MAX} characters long; "
            f"{name!r} has {len(name)}."
        )
    if not DNS_LABEL.fullmatch(name):
        raise ValidationError(
            "A tenant name may contain only lowercase letters, digits and hyphens, and must start "
            "and end with a letter or digit."
        )
    if (
        name.startswith(("kube-", "xn--", "sthree-"))
        or name in RESERVED_NAMES
        or name
        in {
            settings.MODELPORT_GATEWAY_NAMESPACE,
            settings.MODELPORT_INGRESS_NAMESPACE,
        }
    ):
        raise ValidationError(f"{name!r} is reserved; choose another tenant name.")
    if len(settings.MODELPORT_BUCKET_PREFIX + name) > 63:
        raise ValidationError(
            "The tenant name is too long for a bucket name with the platform prefix."
        )
    return name


def validate_scope(scope):
    if not isinstance(scope, str) or not scope.strip():
        raise ValidationError("The scope must name the OIDC group of the tenant's users.")
    if len(scope) > 200 or any(ch.isspace() for ch in scope.strip()):
        raise ValidationError(
            "The scope must be a group name of at most 200 characters, without spaces."
        )
    if "\x00" in scope:  # PostgreSQL stores no NUL
        raise ValidationError("The scope must not contain NUL characters.")
    return scope.strip()


def validate_group(group):
    if not isinstance(group, str) or not group.strip():
        raise ValidationError("group must name an OIDC group, as in the groups claim.")
    if len(group) > 200 or any(ch.isspace() for ch in group.strip()):
        raise ValidationError(
            "group must be a group name of at most 200 characters, without spaces."
        )
    if "\x00" in group:  # PostgreSQL stores no NUL
        raise ValidationError("group must not contain NUL characters.")
    return group.strip()


def validate_role(role):
    if role not in Role.values:
        raise ValidationError(f"role must be one of {', '.join(Role.values)}; it is {role!r}.")
    return role


def validate_quota(quota):
    """The reference quota: `maxEndpoints` and Kubernetes quantities, plus `maxStorageBytes` (the
    tenant's model storage, in bytes); `{}` means no limits."""
    if quota is None:
        return {}
    if not isinstance(quota, dict):
        raise ValidationError('The quota must be an object, for example {"maxEndpoints": 5}.')
    errors, clean = {}, {}
    for key, value in quota.items():
        if key in PLATFORM_QUOTA_KEYS:
            # Some of the reference's clients send the digits as a string ("maxEndpoints": "1").
            if isinstance(value, str) and COUNT_DIGITS.fullmatch(value):
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                errors[key] = f"{key} must be a whole number, 0 or more."
            else:
                clean[key] = value
        elif key in QUOTA_QUANTITIES:
            if not is_quantity(value):
                errors[key] = (
                    f'{key} must be a Kubernetes quantity such as "500m", "2" or "4Gi"; '
                    f"{value!r} is not."
                )
            else:
                clean[key] = value
        elif GPU_QUOTA.fullmatch(key):
            if not (is_quantity(value) and quantity_value(value) == int(quantity_value(value))):
                errors[key] = f'{key} must be a whole number of devices such as "1".'
            else:
                clean[key] = value
        else:
            errors[key] = (
                "Unknown quota key; use maxEndpoints, maxStorageBytes, requests.cpu, limits.cpu, "
                "requests.memory, limits.memory or requests.<vendor>/gpu."
            )
    for resource in ("cpu", "memory"):
        request, limit = clean.get(f"requests.{resource}"), clean.get(f"limits.{resource}")
        if request and limit and quantity_value(request) > quantity_value(limit):
            errors[f"requests.{resource}"] = (
                f"requests.{resource} must not exceed limits.{resource}."
            )
    if errors:
        raise ValidationError(errors)
    return clean


def parse_ca_certificate(value):
    """The reference sends the CA as base64 of a PEM; returns the PEM of a valid, current CA."""
    if value in (None, ""):
        return ""
    if not isinstance(value, str):
        raise ValidationError("cert must be a base64-encoded PEM certificate.")
    text = value.strip()
    if not text.startswith("-----BEGIN"):
        try:
            text = base64.b64decode(text, validate=True).decode("ascii")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise ValidationError("cert is not valid base64 of a PEM certificate.") from None
    try:
        certificate = x509.load_pem_x509_certificate(text.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise ValidationError("cert does not contain a PEM X.509 certificate.") from None
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is None or not constraints.ca:
        raise ValidationError(
            "cert is not a CA certificate (its basicConstraints do not say CA:TRUE); give the CA "
            "that signs your clients' certificates."
        )
    now = datetime.now(UTC)
    if certificate.not_valid_after_utc < now:
        raise ValidationError(f"cert expired on {certificate.not_valid_after_utc:%Y-%m-%d}.")
    if certificate.not_valid_before_utc > now:
        raise ValidationError(
            f"cert is not valid before {certificate.not_valid_before_utc:%Y-%m-%d}."
        )
    return certificate.public_bytes(Encoding.PEM).decode("ascii")


def describe_certificate(pem):
    if not pem:
        return None
    certificate = x509.load_pem_x509_certificate(pem.encode("ascii"))
    return {
        "subject": certificate.subject.rfc4514_string(),
        "notAfter": certificate.not_valid_after_utc.isoformat(),
    }
