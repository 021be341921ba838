"""The one module that talks to the Kubernetes API server.

It uses the official client's configuration, authentication and transport (ApiClient), with a
generic resource layer on top, because serving templates render kinds the typed APIs don't all
cover (a KServe InferenceService, say). Writes are server-side apply with field manager
`modelport`; every call has a timeout; failures come out as TransientError or PermanentError.
"""

import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path

import urllib3
from django.conf import settings
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from workers.errors import NamespaceTerminating, PermanentError, TransientError

FIELD_MANAGER = "modelport"
_TRANSIENT_STATUS = {0, 408, 409, 429, 500, 502, 503, 504}
_TYPED_PATCH_FAILURE = "failed to create typed patch object"
# The NamespaceLifecycle admission's refusal of new objects in a namespace that is going.
_NAMESPACE_TERMINATING = "because it is being terminated"


@dataclass(frozen=True)
class Kind:
    api_version: str
    kind: str
    plural: str
    namespaced: bool = True

    def path(self, namespace=None, name=None):
        base = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base


KINDS = {
    kind.kind: kind
    for kind in (
        Kind("v1", "Namespace", "namespaces", namespaced=False),
        Kind("v1", "ResourceQuota", "resourcequotas"),
        Kind("v1", "LimitRange", "limitranges"),
        Kind("v1", "Secret", "secrets"),
        Kind("v1", "ConfigMap", "configmaps"),
        Kind("v1", "Service", "services"),
        Kind("v1", "Pod", "pods"),
        Kind("apps/v1", "Deployment", "deployments"),
        Kind("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies"),
        Kind("networking.k8s.io/v1", "Ingress", "ingresses"),
        Kind("rbac.authorization.k8s.io/v1", "Role", "roles"),
        Kind("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings"),
        Kind("serving.kserve.io/v1beta1", "InferenceService", "inferenceservices"),
    )
}


def kind_of(manifest):
    kind = KINDS.get(manifest.get("kind"))
    if kind is None or kind.api_version != manifest.get("apiVersion"):
        raise PermanentError(
            f"Modelport does not manage {manifest.get('apiVersion')} "
            f"{manifest.get('kind')} objects."
        )
    return kind


class KubeClient:
    # Objects per list request, as kubectl and client-go's pager read them.
    page_size = 500

    def __init__(self, api_client, timeout):
        self.api = api_client
        self.timeout = timeout

    def _request(self, method, path, query=None, body=None, content_type="application/json"):
        headers = {"Accept": "application/json", "Content-Type": content_type}
        serialized = self.api.param_serialize(
            method=method,
            resource_path=path,
            query_params=query or [],
            header_params=headers,
            auth_settings=["BearerToken"],
        )
        _, url, headers, _, _ = serialized
        # The body goes as an object: the client serializes JSON and apply (YAML) bodies itself,
        # and a string would be sent as a JSON string instead of an object.
        try:
            response = self.api.call_api(
                method, url, header_params=headers, body=body, _request_timeout=self.timeout
            )
            response.read()
        except urllib3.exceptions.HTTPError as exc:
            raise TransientError(f"The Kubernetes API server is unreachable: {exc}") from exc
        if response.status >= 400:
            raise ApiException(http_resp=response)
        return json.loads(response.data) if response.data else {}

    @staticmethod
    def _error(action, exc):
        try:
            reason = json.loads(exc.body or "{}").get("message") or exc.reason
        except ValueError:
            reason = exc.reason
        message = f"Kubernetes {action} failed ({exc.status}): {reason}"
        if exc.status == 403 and _NAMESPACE_TERMINATING in str(reason):
            return NamespaceTerminating(message)
        # The apiserver answers an apply that does not fit the object's schema with a 500 (the
        # typed patch can't be built): the same manifest will never fit, so don't retry it.
        schema_misfit = exc.status == 500 and str(reason).startswith(_TYPED_PATCH_FAILURE)
        if exc.status in _TRANSIENT_STATUS and not schema_misfit:
            return TransientError(message)
        return PermanentError(message)

    def apply(self, manifest):
        """Server-side apply: create or update; the same manifest applied twice changes nothing."""
        kind = kind_of(manifest)
        meta = manifest["metadata"]
        path = kind.path(meta.get("namespace"), meta["name"])
        query = [("fieldManager", FIELD_MANAGER), ("force", "true")]
        try:
            return self._request("PATCH", path, query, manifest, "application/apply-patch+yaml")
        except ApiException as exc:
            raise self._error(f"apply of {kind.kind} {meta['name']}", exc) from exc

    def patch(self, kind_name, name, namespace, body):
        """JSON merge patch of some fields; None when the object does not exist."""
        kind = KINDS[kind_name]
        query = [("fieldManager", FIELD_MANAGER)]
        try:
            return self._request(
                "PATCH", kind.path(namespace, name), query, body, "application/merge-patch+json"
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise self._error(f"patch of {kind_name} {name}", exc) from exc

    def get(self, kind_name, name, namespace=None):
        kind = KINDS[kind_name]
        try:
            return self._request("GET", kind.path(namespace, name))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise self._error(f"get of {kind_name} {name}", exc) from exc

    def pages(self, kind_name, namespace=None, label_selector=None):
        """Every object of the kind in the namespace (or in all namespaces), read `page_size` at
        a time (the list's `limit` and `continue`), so no answer grows with the cluster. A kind
        the cluster does not serve (a custom resource whose CRD is not installed) has none."""
        kind = KINDS[kind_name]
        query = [("labelSelector", label_selector)] if label_selector else []
        query.append(("limit", self.page_size))
        token = None
        while True:
            try:
                page = self._request(
                    "GET", kind.path(namespace), query + ([("continue", token)] if token else [])
                )
            except ApiException as exc:
                if exc.status == 404:
                    return
                if exc.status == 410:
                    # The snapshot the pages come from was compacted away: start over next time.
                    raise TransientError(
                        f"The list of {kind.plural} took too long and expired; it is read again."
                    ) from exc
                raise self._error(f"list of {kind.plural}", exc) from exc
            # The API server leaves kind and apiVersion out of list items; put them back.
            for item in page.get("items") or []:
                item.setdefault("apiVersion", kind.api_version)
                item.setdefault("kind", kind.kind)
                yield item
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return

    def list(self, kind_name, namespace=None, label_selector=None):
        """Every object of the kind in the namespace (or in all namespaces), as one list."""
        return [*self.pages(kind_name, namespace, label_selector)]

    def delete(self, kind_name, name, namespace=None):
        """Delete; an object that is already gone counts as deleted. Returns whether it existed."""
        kind = KINDS[kind_name]
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
        try:
            self._request("DELETE", kind.path(namespace, name), body=body)
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise self._error(f"delete of {kind_name} {name}", exc) from exc
        return True

    def version(self):
        try:
            return self._request("GET", "/version")
        except ApiException as exc:
            raise self._error("version check", exc) from exc


def _configuration(kubeconfig):
    configuration = client.Configuration()
    try:
        if kubeconfig:
            config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
        elif os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config(client_configuration=configuration)
        elif Path(os.path.expanduser(config.KUBE_CONFIG_DEFAULT_LOCATION)).is_file():
            config.load_kube_config(client_configuration=configuration)
        else:
            raise PermanentError(
                "No Kubernetes configuration: set KUBECONFIG, or run the worker inside the cluster."
            )
    except config.ConfigException as exc:
        raise PermanentError(f"The Kubernetes configuration cannot be loaded: {exc}") from exc
    # Our tasks retry with backoff themselves; one quick retry covers a dropped connection.
    configuration.retries = 1
    return configuration


@functools.cache
def _client_for(kubeconfig, timeout):
    return KubeClient(client.ApiClient(_configuration(kubeconfig)), timeout)


def get_kube_client():
    """A client per configuration, built once per process (connections are pooled)."""
    return _client_for(settings.KUBECONFIG, settings.MODELPORT_KUBE_TIMEOUT)


def reset_kube_client():
    _client_for.cache_clear()
