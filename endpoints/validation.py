"""Checks on endpoint input. Each function returns the clean value or raises ValidationError with
a sentence that says what is wrong and what would be right."""

import re
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError

from core.quantity import is_quantity, quantity_value

# `<endpoint>-<tenant>` is the first label of the endpoint's host name: 32 + 1 + 30 ≤ 63.
ENDPOINT_NAME_MAX = 32
# The endpoint name is also the Service name, and Service names are DNS-1035 labels: they must
# start with a letter.
ENDPOINT_NAME = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
# A model name is a folder in the tenant's bucket and a name in model-server configuration files.
MODEL_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")
RESOURCE_NAME = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_NAME = re.compile(
    r"^(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$"
)
MAX_REPLICAS = 2**31 - 1  # Kubernetes replica counts are int32
VERSION_POLICY_MAX = 500  # the length of Endpoint.version_policy

_LATEST = re.compile(r"^\{\s*latest\s*\{\s*\}\s*\}$")
_ALL = re.compile(r"^\{\s*all\s*\{\s*\}\s*\}$")
_SPECIFIC = re.compile(r"^\{\s*specific\s*\{((?:\s*versions\s*:\s*[0-9]+)+)\s*\}\s*\}$")
_VERSION = re.compile(r"versions\s*:\s*([0-9]+)")


@dataclass(frozen=True)
class VersionPolicy:
    """A parsed modelVersionPolicy: `kind` is latest, all or specific (with `versions`)."""

    kind: str
    versions: tuple[int, ...] = ()

    @property
    def text(self):
        """The canonical spelling, which is also TensorFlow Serving's text format."""
        if self.kind == "specific":
            return "{specific {" + " ".join(f"versions: {v}" for v in self.versions) + "}}"
        return f"{{{self.kind} {{}}}}"

    def select(self, available):
        """The versions this policy serves out of `available` (whole numbers), ascending."""
        available = sorted(set(available))
        if self.kind == "latest":
            return available[-1:]
        if self.kind == "all":
            return available
        return [v for v in self.versions if v in available]

    def as_json(self):
        """OpenVINO Model Server's spelling (config.json)."""
        if self.kind == "latest":
            return {"latest": {"num_versions": 1}}
        if self.kind == "all":
            return {"all": {}}
        return {"specific": {"versions": list(self.versions)}}


def parse_version_policy(value):
    if not isinstance(value, str):
        raise ValidationError("modelVersionPolicy must be a string such as {latest {}}.")
    text = value.strip()
    if _LATEST.match(text):
        return VersionPolicy("latest")
    if _ALL.match(text):
        return VersionPolicy("all")
    match = _SPECIFIC.match(text)
    if match:
        versions = tuple(sorted({int(v) for v in _VERSION.findall(match.group(1))}))
        if 0 in versions:
            raise ValidationError("Model versions are numbered from 1; 0 is not a version.")
        return VersionPolicy("specific", versions)
    raise ValidationError(
        "modelVersionPolicy must be {latest {}}, {all {}} or "
        "{specific {versions: 1 versions: 2}}; " + f"{value!r} is none of these."
    )


def validate_version_policy(value):
    text = parse_version_policy(value).text
    if len(text) > VERSION_POLICY_MAX:
        raise ValidationError(
            f"modelVersionPolicy may be at most {VERSION_POLICY_MAX} characters once written "
            f"as {{specific {{versions: 1 versions: 2}}}}; this one is {len(text)}."
        )
    return text


def validate_endpoint_name(name):
    if not isinstance(name, str) or not name:
        raise ValidationError("An endpoint name is required.")
    if len(name) > ENDPOINT_NAME_MAX:
        raise ValidationError(
            f"An endpoint name may be at most {ENDPOINT_NAME_MAX} characters long; "
            f"{name!r} has {len(name)}."
        )
    if not ENDPOINT_NAME.fullmatch(name):
        raise ValidationError(
            "An endpoint name may contain only lowercase letters, digits and hyphens, must start "
            "with a letter and end with a letter or digit."
        )
    return name


def validate_model_name(name):
    if not isinstance(name, str) or not name:
        raise ValidationError("A model name is required.")
    if not MODEL_NAME.fullmatch(name):
        raise ValidationError(
            "A model name is 1 to 63 letters, digits, dots, underscores or hyphens, starting and "
            f"ending with a letter or digit; {name!r} is not."
        )
    return name


def validate_subject_name(name):
    if not isinstance(name, str) or not name:
        raise ValidationError(
            "subjectName is required: the common name of the client certificates to accept."
        )
    if not DNS_NAME.fullmatch(name.lower()):
        raise ValidationError(
            f"subjectName must be a DNS name such as client or client.example.com; {name!r} is not."
        )
    return name


def validate_replicas(value):
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_REPLICAS:
        raise ValidationError("replicas must be a whole number, 0 or more.")
    return value


def nested_resources(resources):
    """The reference's flat keys ("requests.cpu": "1", as its JSON schema, tests and CLI send
    them) as Kubernetes's nesting ({"requests": {"cpu": "1"}}); nested keys as they are."""
    nested = {}
    for key, value in resources.items():
        section, dot, name = key.partition(".") if isinstance(key, str) else (key, "", "")
        if dot and section in ("requests", "limits"):
            existing = nested.setdefault(section, {})
            if isinstance(existing, dict):
                existing[name] = value
        elif key in ("requests", "limits") and isinstance(value, dict):
            nested.setdefault(key, {}).update(value)
        else:
            nested[key] = value
    return nested


def validate_resources(resources):
    """{"requests": {...}, "limits": {...}} of Kubernetes quantities, requests ≤ limits; the
    reference's flat keys ("requests.cpu") are taken too."""
    if resources is None:
        return {}
    if not isinstance(resources, dict):
        raise ValidationError(
            'resources must be an object such as {"requests": {"cpu": "1", "memory": "1Gi"}, '
            '"limits": {"cpu": "2", "memory": "2Gi"}} (or {"requests.cpu": "1", ...}).'
        )
    errors, clean = {}, {}
    for section, values in nested_resources(resources).items():
        if section not in ("requests", "limits"):
            errors[section] = "Unknown key; resources take requests and limits."
            continue
        if not isinstance(values, dict):
            errors[section] = f'{section} must be an object such as {{"cpu": "1"}}.'
            continue
        clean[section] = {}
        for name, quantity in values.items():
            if not isinstance(name, str) or not RESOURCE_NAME.fullmatch(name):
                errors[f"{section}.{name}"] = (
                    "Not a resource name; use cpu, memory, ephemeral-storage or <vendor>/<device>."
                )
            elif isinstance(quantity, int) and not isinstance(quantity, bool) and quantity >= 0:
                clean[section][name] = str(quantity)
            elif not is_quantity(quantity):
                errors[f"{section}.{name}"] = (
                    f'{section}.{name} must be a Kubernetes quantity such as "500m", "2" or '
                    f'"4Gi"; {quantity!r} is not.'
                )
            else:
                clean[section][name] = quantity
    for name, request in clean.get("requests", {}).items():
        limit = clean.get("limits", {}).get(name)
        if limit is not None and quantity_value(request) > quantity_value(limit):
            errors[f"requests.{name}"] = (
                f"requests.{name} ({request}) exceeds limits.{name} ({limit})."
            )
    # A container that names no limit gets the tenant's default (its LimitRange), and the
    # cluster refuses a pod whose request is above its limit: say so now, not at the pod.
    defaults = {
        "cpu": settings.MODELPORT_DEFAULT_CPU_LIMIT,
        "memory": settings.MODELPORT_DEFAULT_MEMORY_LIMIT,
    }
    for name, default in defaults.items():
        request = clean.get("requests", {}).get(name)
        if (
            request is not None
            and name not in clean.get("limits", {})
            and quantity_value(request) > quantity_value(default)
        ):
            errors[f"requests.{name}"] = (
                f"requests.{name} ({request}) exceeds the {name} limit a container gets when it "
                f"names none ({default}); set limits.{name} too."
            )
    if errors:
        raise ValidationError(errors)
    return {section: values for section, values in clean.items() if values}
