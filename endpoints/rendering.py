"""Serving templates to Kubernetes objects. Pure functions: no network, no database writes.

Templates are YAML written in Django's template language (autoescape off: the output is YAML,
not HTML; no loaders, so `include` and `extends` are unavailable). Each `.tmpl` file renders one
or more YAML documents; each document is one object. The rendering context:

    tenant.name, tenant.namespace, tenant.bucket
    endpoint.name, endpoint.host        <endpoint>-<tenant>.<MODELPORT_DOMAIN>
    endpoint.url                        <host>:443
    endpoint.replicas                   the desired replica count (0 allowed)
    endpoint.min_replicas               = replicas (0 means scale to zero, for KServe)
    endpoint.max_replicas               max(replicas, 1)
    endpoint.subject_name               the client certificate common name to accept
    endpoint.subject_pattern            for auth-tls-match-cn: "CN=<subject name>" as a regular
                                        expression that the whole CN must match
    model.name                          the model folder in the tenant's bucket
    model.uri                           s3://<bucket>/<model>
    model.version_policy                canonical text, e.g. {latest {}} (TF Serving's syntax)
    model.version_policy_kind           latest, all or specific
    model.versions                      the version numbers of a specific policy, else []
    model.version_policy_json           OVMS's spelling, e.g. {"latest": {"num_versions": 1}}
    model.version                       the newest ready version the policy selects, for servers
                                        of one version (vLLM, KServe's Hugging Face runtime);
                                        "" while there is none
    resources                           {"requests": {...}, "limits": {...}} (may be empty)
    labels                              the labels every object of the endpoint carries
    selector_labels                     the labels that select the endpoint's pods
    domain                              MODELPORT_DOMAIN
    tls.ca_secret, tls.secret           the tenant's client CA secret and the server TLS secret
    s3.endpoint_url, s3.host, s3.use_https ("1" or "0"), s3.region, s3.secret_name
                                        where model servers read models; the secret (optional,
                                        created by the platform operator) holds
                                        AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY

The filter `tojson` writes any value as JSON, which YAML reads unchanged: use it for objects
(`resources: {{ resources|tojson }}`) and for text that may need quoting.

Whatever a template says, every object gets the endpoint's namespace and labels; pod templates
(a Deployment's, a KServe predictor's) get the labels too, so status can be read by one label
selector, and a checksum of the ConfigMaps' data, so a configuration change rolls the pods.
"""

import functools
import hashlib
import json
import re
from urllib.parse import urlsplit

import yaml
from django.conf import settings
from django.template import Context, Engine, TemplateSyntaxError

from endpoints.models import endpoint_host
from endpoints.validation import VersionPolicy, parse_version_policy
from models_store.selectors import ready_versions
from tenants.manifests import CA_SECRET, TLS_SECRET
from workers.backends.labels import (
    ENDPOINT_KINDS,
    ENDPOINT_LABEL,
    MANAGED_BY,
    TENANT_LABEL,
    endpoint_labels,
)

S3_SECRET = "modelport-s3"
CONFIG_CHECKSUM_ANNOTATION = "modelport.io/config-checksum"

_ENGINE = Engine(autoescape=False, builtins=["endpoints.template_filters"])
# libyaml's parser when PyYAML was built with it (ten times faster than the pure-Python one).
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.lru_cache(maxsize=256)
def _compiled(source):
    """Templates compile once per process and text: rendering a compiled one is thread-safe."""
    return _ENGINE.from_string(source)


class TemplateError(ValueError):
    """A serving template that does not render to objects Modelport can apply."""


def build_context(
    *,
    tenant_name,
    bucket,
    endpoint_name,
    model_name,
    version_policy: VersionPolicy,
    resources,
    replicas,
    subject_name,
    ready_versions=(),
):
    host = endpoint_host(endpoint_name, tenant_name)
    storage = settings.MODELPORT_STORAGE
    s3_url = storage.get("endpoint_url", "")
    return {
        "tenant": {"name": tenant_name, "namespace": tenant_name, "bucket": bucket},
        "endpoint": {
            "name": endpoint_name,
            "host": host,
            "url": f"{host}:443",
            "replicas": replicas,
            "min_replicas": replicas,
            "max_replicas": max(replicas, 1),
            "subject_name": subject_name,
            # ingress-nginx requires the pattern to start with "CN=" and matches it against the
            # client's distinguished name in RFC 2253 order (CN=a,O=b): the CN must end there.
            "subject_pattern": f"CN={re.escape(subject_name)}(,|$)",
        },
        "model": {
            "name": model_name,
            "uri": f"s3://{bucket}/{model_name}",
            "version_policy": version_policy.text,
            "version_policy_kind": version_policy.kind,
            "versions": list(version_policy.versions),
            "version_policy_json": version_policy.as_json(),
            "version": str(max(version_policy.select(list(ready_versions)), default="")),
        },
        "resources": resources,
        "labels": endpoint_labels(tenant_name, endpoint_name),
        "selector_labels": {
            MANAGED_BY: "modelport",
            TENANT_LABEL: tenant_name,
            ENDPOINT_LABEL: endpoint_name,
        },
        "domain": settings.MODELPORT_DOMAIN,
        "tls": {"ca_secret": CA_SECRET, "secret": TLS_SECRET},
        "s3": {
            "endpoint_url": s3_url,
            "host": urlsplit(s3_url).netloc,
            "use_https": "1" if s3_url.startswith("https://") else "0",
            "region": storage.get("region", "us-east-1"),
            "secret_name": S3_SECRET,
        },
    }


def context_for(endpoint):
    return build_context(
        tenant_name=endpoint.tenant.name,
        bucket=endpoint.tenant.bucket,
        endpoint_name=endpoint.name,
        model_name=endpoint.model_name,
        version_policy=parse_version_policy(endpoint.version_policy),
        resources=endpoint.resources,
        replicas=endpoint.replicas,
        subject_name=endpoint.subject_name,
        ready_versions=ready_versions(endpoint.tenant, endpoint.model_name),
    )


def sample_context():
    """What the admin site renders a template with before saving it."""
    return build_context(
        tenant_name="sample-tenant",
        bucket="sample-tenant",
        endpoint_name="sample",
        model_name="resnet",
        version_policy=parse_version_policy("{specific {versions: 1 versions: 2}}"),
        resources={"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "2"}},
        replicas=2,
        subject_name="client.example.com",
        ready_versions=[1, 2, 3],
    )


def render_files(files, context):
    """Every object the template files render, in filename order, before labelling."""
    if not files:
        raise TemplateError("The serving template has no files.")
    objects = []
    for filename, source in sorted(files.items()):
        try:
            # As bytes: libyaml refuses the SafeString (a str subclass) that render() returns.
            text = _compiled(source).render(Context(context, autoescape=False)).encode()
        except TemplateSyntaxError as exc:
            raise TemplateError(f"{filename}: template syntax error: {exc}") from None
        try:
            documents = [doc for doc in yaml.load_all(text, Loader=_YAML_LOADER) if doc is not None]
        except yaml.YAMLError as exc:
            raise TemplateError(f"{filename}: the rendered text is not valid YAML: {exc}") from None
        for document in documents:
            if not isinstance(document, dict) or not isinstance(document.get("metadata"), dict):
                raise TemplateError(f"{filename}: each document must be an object with metadata.")
            if document.get("kind") not in ENDPOINT_KINDS:
                raise TemplateError(
                    f"{filename}: a serving template may render only "
                    f"{', '.join(ENDPOINT_KINDS)}; it rendered {document.get('kind')!r}."
                )
            if not document["metadata"].get("name"):
                raise TemplateError(f"{filename}: a {document['kind']} needs metadata.name.")
            objects.append(document)
    keys = [(o["kind"], o["metadata"]["name"]) for o in objects]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        raise TemplateError(f"The templates render {duplicates[0][0]} {duplicates[0][1]} twice.")
    return objects


def config_checksum(objects):
    """A digest of every ConfigMap's data: changes exactly when the model configuration does."""
    config = [
        [o["metadata"]["name"], o.get("data", {}), o.get("binaryData", {})]
        for o in objects
        if o["kind"] == "ConfigMap"
    ]
    return hashlib.sha256(json.dumps(sorted(config), sort_keys=True).encode()).hexdigest()[:16]


def _label_pods(pod_metadata, labels, checksum):
    pod_metadata.setdefault("labels", {}).update(labels)
    pod_metadata.setdefault("annotations", {})[CONFIG_CHECKSUM_ANNOTATION] = checksum


def finish_objects(objects, context):
    """Namespace, labels and the configuration checksum on every rendered object."""
    labels = context["labels"]
    checksum = config_checksum(objects)
    for obj in objects:
        metadata = obj["metadata"]
        metadata["namespace"] = context["tenant"]["namespace"]
        metadata["labels"] = {**(metadata.get("labels") or {}), **labels}
        if obj["kind"] == "Deployment":
            template = obj.setdefault("spec", {}).setdefault("template", {})
            _label_pods(template.setdefault("metadata", {}), labels, checksum)
        elif obj["kind"] == "InferenceService":
            predictor = obj.setdefault("spec", {}).setdefault("predictor", {})
            _label_pods(predictor, labels, checksum)
    return objects


def render_template(files, context):
    return finish_objects(render_files(files, context), context)


def render_endpoint_manifests(endpoint, files=None):
    """The objects the endpoint's serving template renders for it, ready to apply."""
    if files is None:
        files = endpoint.serving.files()
    return render_template(files, context_for(endpoint))


def schema_errors(obj):
    """Why the object is not valid for the cluster's Kubernetes version (strict: unknown fields
    count), or None. Custom resources (KServe's) have no schema there and pass."""
    # Loaded when a template is checked (the admin site, the tests), not by every process.
    import kubernetes_validate  # noqa: PLC0415

    try:
        kubernetes_validate.validate(obj, settings.MODELPORT_KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return None
    except kubernetes_validate.ValidationError as exc:
        where = ".".join(str(p) for p in exc.path)
        return f"{obj['kind']} {obj['metadata']['name']}: {exc.message}" + (
            f" (at {where})" if where else ""
        )
    return None


def check_template(files):
    """Render with the sample context and validate every object; raises TemplateError."""
    objects = render_template(files, sample_context())
    problems = [problem for problem in map(schema_errors, objects) if problem]
    if problems:
        raise TemplateError("; ".join(problems))
    return objects
