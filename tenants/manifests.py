"""A tenant's namespace as Kubernetes objects: pure functions of the row, no I/O, so they are easy
to test and to diff. The worker applies them (tenants/tasks.py) through the orchestrator."""

import base64
import hashlib

from django.conf import settings

from tenants.validation import PLATFORM_QUOTA_KEYS
from workers.backends.labels import QUOTA_NAME, tenant_labels

CA_SECRET = "modelport-ca"
TLS_SECRET = "tls-secret"
LIMIT_RANGE_NAME = "modelport-defaults"

# What each tenant role may do with kubectl in its namespace. The portal owns the desired state
# of models and endpoints, so even admins get no write access to what it manages: a change made
# with kubectl would be reverted by the next reconcile.
_READ = ["get", "list", "watch"]
_WORKLOADS = [
    {
        "apiGroups": [""],
        "resources": [
            "pods",
            "pods/log",
            "services",
            "endpoints",
            "configmaps",
            "events",
            "resourcequotas",
            "limitranges",
        ],
        "verbs": _READ,
    },
    {"apiGroups": ["apps"], "resources": ["deployments", "replicasets"], "verbs": _READ},
    {
        "apiGroups": ["networking.k8s.io"],
        "resources": ["ingresses", "networkpolicies"],
        "verbs": _READ,
    },
    {"apiGroups": ["serving.kserve.io"], "resources": ["inferenceservices"], "verbs": _READ},
]
ROLE_RULES = {
    "viewer": _WORKLOADS,
    "editor": [
        *_WORKLOADS,
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["delete"]},
        {"apiGroups": [""], "resources": ["pods/portforward"], "verbs": ["create"]},
    ],
    "admin": [
        *_WORKLOADS,
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["delete"]},
        {"apiGroups": [""], "resources": ["pods/portforward", "pods/exec"], "verbs": ["create"]},
        {
            "apiGroups": ["rbac.authorization.k8s.io"],
            "resources": ["roles", "rolebindings"],
            "verbs": _READ,
        },
    ],
}


def _object(api_version, kind, name, tenant_name, **body):
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": name, "namespace": tenant_name, "labels": tenant_labels(tenant_name)},
        **body,
    }


def role_name(role):
    return f"modelport-{role}"


def role_binding_name(role, group):
    # Group names can hold characters a Kubernetes name can't; a digest keeps the name stable.
    digest = hashlib.sha256(group.encode()).hexdigest()[:12]
    return f"modelport-{role}-{digest}"


def tenant_manifests(tenant, bindings, tls_secret=None):
    """Every object the tenant's namespace needs, in apply order (the namespace first).

    `bindings` are (group, role) pairs; `tls_secret` is the platform TLS secret's `data` to copy
    in, or None when no TLS secret is configured.
    """
    name = tenant.namespace
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": tenant_labels(name)},
    }
    objects = [namespace]

    hard = {key: value for key, value in tenant.quota.items() if key not in PLATFORM_QUOTA_KEYS}
    if hard:
        objects.append(_object("v1", "ResourceQuota", QUOTA_NAME, name, spec={"hard": hard}))

    objects.append(
        _object(
            "v1",
            "LimitRange",
            LIMIT_RANGE_NAME,
            name,
            spec={
                "limits": [
                    {
                        "type": "Container",
                        "defaultRequest": {
                            "cpu": settings.MODELPORT_DEFAULT_CPU_REQUEST,
                            "memory": settings.MODELPORT_DEFAULT_MEMORY_REQUEST,
                        },
                        "default": {
                            "cpu": settings.MODELPORT_DEFAULT_CPU_LIMIT,
                            "memory": settings.MODELPORT_DEFAULT_MEMORY_LIMIT,
                        },
                    }
                ]
            },
        )
    )

    objects.append(
        _object(
            "networking.k8s.io/v1",
            "NetworkPolicy",
            "default-deny-ingress",
            name,
            spec={"podSelector": {}, "policyTypes": ["Ingress"]},
        )
    )
    platform_namespaces = sorted(
        {settings.MODELPORT_GATEWAY_NAMESPACE, settings.MODELPORT_INGRESS_NAMESPACE}
    )
    objects.append(
        _object(
            "networking.k8s.io/v1",
            "NetworkPolicy",
            "allow-platform-ingress",
            name,
            spec={
                "podSelector": {},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [
                            *(
                                {
                                    "namespaceSelector": {
                                        "matchLabels": {"kubernetes.io/metadata.name": ns}
                                    }
                                }
                                for ns in platform_namespaces
                            ),
                            {"podSelector": {}},
                        ]
                    }
                ],
            },
        )
    )

    for role, rules in ROLE_RULES.items():
        objects.append(
            _object("rbac.authorization.k8s.io/v1", "Role", role_name(role), name, rules=rules)
        )
    for group, role in sorted(bindings):
        objects.append(
            _object(
                "rbac.authorization.k8s.io/v1",
                "RoleBinding",
                role_binding_name(role, group),
                name,
                roleRef={
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Role",
                    "name": role_name(role),
                },
                subjects=[
                    {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "Group",
                        "name": settings.MODELPORT_KUBE_GROUP_PREFIX + group,
                    }
                ],
            )
        )

    if tenant.ca_cert:
        ca = base64.b64encode(tenant.ca_cert.encode()).decode()
        objects.append(_object("v1", "Secret", CA_SECRET, name, type="Opaque", data={"ca.crt": ca}))
    if tls_secret:
        objects.append(
            _object(
                "v1", "Secret", TLS_SECRET, name, type="kubernetes.io/tls", data=dict(tls_secret)
            )
        )
    return objects
