"""How Modelport marks what it runs: every object carries `app.kubernetes.io/managed-by=modelport`
and `modelport.io/tenant=<tenant>`; tenant-level objects also `modelport.io/component=tenant`,
endpoint objects `modelport.io/component=endpoint` and `modelport.io/endpoint=<endpoint>`. The
apps that render objects label them with these; the backends find (and prune) them by the same
selectors."""

MANAGED_BY = "app.kubernetes.io/managed-by"
TENANT_LABEL = "modelport.io/tenant"
COMPONENT_LABEL = "modelport.io/component"
ENDPOINT_LABEL = "modelport.io/endpoint"
TENANT_SELECTOR = f"{MANAGED_BY}=modelport,{COMPONENT_LABEL}=tenant"
ENDPOINTS_SELECTOR = f"{MANAGED_BY}=modelport,{COMPONENT_LABEL}=endpoint"

# The kinds a tenant's namespace holds besides the namespace itself; pruning looks at these.
TENANT_KINDS = ("ResourceQuota", "LimitRange", "NetworkPolicy", "Role", "RoleBinding", "Secret")
# The kinds a serving template may render; pruning and deletion look at exactly these.
ENDPOINT_KINDS = ("ConfigMap", "Deployment", "Service", "Ingress", "InferenceService")
# The tenant's ResourceQuota, whose status.used the survey reads back.
QUOTA_NAME = "modelport-quota"


def tenant_labels(tenant_name, component="tenant"):
    return {MANAGED_BY: "modelport", TENANT_LABEL: tenant_name, COMPONENT_LABEL: component}


def endpoint_labels(tenant_name, endpoint_name):
    return {**tenant_labels(tenant_name, "endpoint"), ENDPOINT_LABEL: endpoint_name}


def endpoint_selector(endpoint_name):
    return f"{ENDPOINTS_SELECTOR},{ENDPOINT_LABEL}={endpoint_name}"
