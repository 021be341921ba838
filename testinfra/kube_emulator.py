"""A small Kubernetes API server emulator for tests, speaking real HTTP on 127.0.0.1.

Point any client at ``emu.url`` (official client: ``Configuration(host=emu.url)``). Objects are
plain dicts in memory behind one lock.

Emulated:
- GET, LIST, POST, PUT, PATCH, DELETE for the registered types (built-ins below and
  ``register_kind``) under ``/api/v1`` and ``/apis/<group>/<version>``; cluster-scoped,
  namespaced and all-namespaces lists; a ``/status`` subresource. Writes to ``/status`` only
  change ``status``; writes to the object keep the stored ``status``, as the real server does.
- Metadata: uid, resourceVersion (one global counter), creationTimestamp, generation (+1 when
  anything outside ``metadata``/``status`` changes), namespace, apiVersion/kind; Namespaces get
  ``status.phase: Active``. A write that changes nothing keeps resourceVersion and generation.
- A ``metadata.resourceVersion`` in a PUT/PATCH body that is not the stored one: 409 Conflict.
- PATCH: server-side apply (deep merge; fields the same field manager applied last time and
  omits now are removed), JSON merge patch, strategic merge patch (handled as a JSON merge
  patch: lists are replaced, never merged by key) and JSON patch (add/remove/replace/test).
- ``labelSelector`` (full grammar) and ``fieldSelector`` (``=``, ``==``, ``!=`` on any dotted
  path, e.g. ``status.phase``). As on the real server, built-in list items have no kind.
- Pagination: ``limit`` and an opaque ``continue`` token (the key after which the next page
  starts, read against the store as it is then, not a snapshot).
- ``Status`` error bodies, ``fail_next`` and ``delay_next`` fault injection, a request log,
  an optional ``validator`` called on every object a client creates or applies, ``/version``,
  ``/healthz``, ``/api`` and ``/apis``.
- Deleting a Namespace deletes its contents at once (the real server first marks it
  ``Terminating`` and a controller empties it).

Not emulated: watch (400), dryRun (400), deletecollection, expired continue tokens (410),
admission, defaulting beyond the metadata above, schema validation (unless a ``validator`` is
given), field ownership and apply conflicts (``force`` is ignored; ``managedFields`` lists only
Apply managers), finalizers and graceful deletion, garbage collection via ownerReferences,
authn/authz, and controllers (a Deployment never creates Pods: tests store Pods with
``put_object``).
"""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qs, unquote, urlsplit

import yaml


@dataclass(frozen=True)
class ResourceType:
    """One resource type served by the emulator; ``custom`` marks custom resources."""

    api_version: str  # "v1" or "<group>/<version>"
    kind: str
    plural: str
    namespaced: bool = True
    custom: bool = False

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    @property
    def resource(self) -> str:
        """The name used in error messages, e.g. ``pods`` or ``deployments.apps``."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


BUILTIN_TYPES = (
    ResourceType("v1", "Namespace", "namespaces", namespaced=False),
    ResourceType("v1", "ResourceQuota", "resourcequotas"),
    ResourceType("v1", "LimitRange", "limitranges"),
    ResourceType("v1", "Secret", "secrets"),
    ResourceType("v1", "ConfigMap", "configmaps"),
    ResourceType("v1", "Service", "services"),
    ResourceType("v1", "Pod", "pods"),
    ResourceType("v1", "ServiceAccount", "serviceaccounts"),
    ResourceType("apps/v1", "Deployment", "deployments"),
    ResourceType("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies"),
    ResourceType("networking.k8s.io/v1", "Ingress", "ingresses"),
    ResourceType("rbac.authorization.k8s.io/v1", "Role", "roles"),
    ResourceType("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings"),
    ResourceType("serving.kserve.io/v1beta1", "InferenceService", "inferenceservices", custom=True),
)

VERSION_INFO = {
    "major": "1",
    "minor": "34",
    "gitVersion": "v1.34.0-modelport-emulator",
    "gitCommit": "",
    "gitTreeState": "clean",
    "buildDate": "2025-01-01T00:00:00Z",
    "goVersion": "go1.24",
    "compiler": "gc",
    "platform": "linux/amd64",
}

APPLY_PATCH = "application/apply-patch+yaml"
MERGE_PATCHES = ("application/merge-patch+json", "application/strategic-merge-patch+json")
JSON_PATCH = "application/json-patch+json"

_DNS_LABEL = r"[a-z0-9](?:[-a-z0-9]*[a-z0-9])?"
_DNS_SUBDOMAIN = rf"{_DNS_LABEL}(?:\.{_DNS_LABEL})*"
_KEY = r"(?:[A-Za-z0-9][-A-Za-z0-9_.]*/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?"
_VALUE = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_SET_REQUIREMENT = re.compile(rf"({_KEY})\s+(in|notin)\s*\(([^()]*)\)")
_EQUALITY_REQUIREMENT = re.compile(rf"({_KEY})\s*(==|=|!=)\s*({_VALUE})")
_EXISTS_REQUIREMENT = re.compile(rf"(!?)\s*({_KEY})")
_FIELD_REQUIREMENT = re.compile(r"([A-Za-z0-9_.]+)\s*(==|=|!=)\s*([^,]*)")

# Status reasons that differ from the HTTP phrase without spaces ("Not Found" -> "NotFound").
REASONS = {410: "Expired", 422: "Invalid", 500: "InternalError", 504: "Timeout"}


def _list_position(obj: dict) -> tuple[str, str]:
    """Where an object comes in a list: by namespace, then name."""
    return obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


class RecordedRequest(NamedTuple):
    method: str
    path: str
    query: str


class ApiError(Exception):
    """An error answered to the client as a Kubernetes ``Status`` object."""

    def __init__(self, code: int, message: str, reason: str | None = None, **details: str):
        super().__init__(message)
        self.code = code
        try:
            phrase = HTTPStatus(code).phrase.replace(" ", "")
        except ValueError:
            phrase = "Unknown"
        self.reason = reason or REASONS.get(code, phrase)
        self.details = details

    def to_status(self) -> dict:
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": str(self),
            "reason": self.reason,
            "details": self.details,
            "code": self.code,
        }


@dataclass
class _Fault:
    method: str | None
    path_contains: str | None
    value: float  # the status code to answer with, or the seconds to hold the request
    remaining: int

    def matches(self, method: str, path: str) -> bool:
        return (self.method in (None, method)) and (
            self.path_contains is None or self.path_contains in path
        )


@dataclass(frozen=True)
class _Target:
    """What a URL points at: a collection (name is None), an object, or its status."""

    rtype: ResourceType
    namespace: str | None
    name: str | None = None
    subresource: str | None = None

    @property
    def key(self) -> tuple[str, str | None, str | None]:
        return (self.rtype.kind, self.namespace if self.rtype.namespaced else None, self.name)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 merge patch: maps merge recursively, null deletes a key, the rest replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(document: dict, operations: Any) -> dict:
    """RFC 6902 JSON patch, limited to the add, remove, replace and test operations."""
    if not isinstance(operations, list):
        raise ApiError(400, "a JSON patch must be a list of operations")
    document = copy.deepcopy(document)
    for operation in operations:
        try:
            op, path = operation["op"], operation["path"]
            *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in path.split("/")[1:]]
            container = document
            for part in parents:
                container = container[int(part) if isinstance(container, list) else part]
            if isinstance(container, list):
                last = len(container) if (last == "-" and op == "add") else int(last)
            if op not in ("add", "remove", "replace", "test"):
                raise ValueError(f"unsupported operation {op!r}")
            if op == "test":
                if container[last] != operation["value"]:
                    raise ValueError("test failed")
                continue
            if op in ("remove", "replace"):
                container.pop(last)  # the target must exist
            if op in ("add", "replace"):
                value = copy.deepcopy(operation["value"])
                if isinstance(container, list):
                    container.insert(last, value)
                else:
                    container[last] = value
        except (AttributeError, KeyError, IndexError, TypeError, ValueError) as error:
            raise ApiError(422, f"JSON patch operation {operation!r} failed: {error}") from None
    return document


def _remove_dropped(target: dict, previous: dict, current: dict) -> None:
    """Remove from ``target`` the keys of the previous apply that the current apply omits."""
    for key, old_value in previous.items():
        if key not in current:
            target.pop(key, None)
        elif (
            isinstance(old_value, dict)
            and isinstance(current[key], dict)
            and isinstance(target.get(key), dict)
        ):
            _remove_dropped(target[key], old_value, current[key])


def _split_selector(selector: str) -> list[str]:
    """Split on the commas that are not inside parentheses."""
    return [part.strip() for part in re.split(r",(?![^()]*\))", selector) if part.strip()]


def parse_label_selector(selector: str) -> Callable[[dict], bool]:
    """Compile a label selector into a predicate on a labels dict; raises ValueError.

    Grammar: ``a=b``, ``a==b``, ``a!=b``, ``a in (x,y)``, ``a notin (x,y)``, ``a``, ``!a``;
    commas mean AND. ``!=`` and ``notin`` also match objects without the label.
    """
    requirements: list[tuple[str, str, set[str]]] = []
    for text in _split_selector(selector):
        if match := _SET_REQUIREMENT.fullmatch(text):
            values = {value.strip() for value in match[3].split(",")}
            requirements.append((match[2], match[1], values))
        elif match := _EQUALITY_REQUIREMENT.fullmatch(text):
            requirements.append((match[2], match[1], {match[3]}))
        elif match := _EXISTS_REQUIREMENT.fullmatch(text):
            requirements.append(("!" if match[1] else "exists", match[2], set()))
        else:
            raise ValueError(f"unable to parse requirement {text!r}")

    def matches(labels: dict) -> bool:
        for op, key, values in requirements:
            if op == "exists":
                ok = key in labels
            elif op == "!":
                ok = key not in labels
            elif op in ("=", "==", "in"):
                ok = labels.get(key) in values
            else:  # "!=", "notin"
                ok = labels.get(key) not in values
            if not ok:
                return False
        return True

    return matches


def parse_field_selector(selector: str) -> Callable[[dict], bool]:
    """Compile a field selector (``path=value``, ``==``, ``!=``; commas mean AND)."""
    requirements = []
    for text in _split_selector(selector):
        if not (match := _FIELD_REQUIREMENT.fullmatch(text)):
            raise ValueError(f"invalid field selector requirement {text!r}")
        requirements.append((match[1].split("."), match[2] == "!=", match[3].strip()))

    def field(obj: Any, path: list[str]) -> str:
        for part in path:
            obj = obj.get(part) if isinstance(obj, dict) else None
        return "" if obj is None else str(obj)

    return lambda obj: all((field(obj, p) == v) != negate for p, negate, v in requirements)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _spec_part(obj: dict) -> dict:
    """Everything that counts for ``metadata.generation``."""
    return {key: value for key, value in obj.items() if key not in ("metadata", "status")}


def _parse_object(raw: bytes, allow_yaml: bool = False) -> Any:
    try:
        return json.loads(raw)
    except ValueError as error:
        if not allow_yaml:
            raise ApiError(400, f"the request body is not valid JSON: {error}") from None
    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError as error:
        raise ApiError(400, f"the request body is not valid YAML: {error}") from None


class KubeEmulator:
    """An in-memory Kubernetes API server on 127.0.0.1 (see the module docstring)."""

    def __init__(self, validator: Callable[[dict], str | None] | None = None) -> None:
        # validator(body) returns a reason to refuse the object (answered 422 Invalid), or None.
        self.validator = validator
        self.invalid: list[tuple[dict, str]] = []  # what the validator refused, for assertions
        self._delays: list[_Fault] = []
        self._lock = threading.RLock()
        self._types: dict[tuple[str, str], ResourceType] = {}  # (apiVersion, plural) -> type
        self._store: dict[tuple, dict] = {}  # (kind, namespace or None, name) -> object
        self._applied: dict[tuple, dict[str, dict]] = {}  # key -> field manager -> last body
        self._faults: list[_Fault] = []
        self._requests: list[RecordedRequest] = []
        self._resource_version = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        for rtype in BUILTIN_TYPES:
            self._types[(rtype.api_version, rtype.plural)] = rtype

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> KubeEmulator:
        if self._server is not None:
            raise RuntimeError("KubeEmulator is already started")
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.emulator = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="kube-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> KubeEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("KubeEmulator is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- helpers for tests -------------------------------------------------------------------

    def reset(self) -> None:
        """Forget all objects, faults and the request log (registered kinds stay)."""
        with self._lock:
            self._store.clear()
            self._applied.clear()
            self._faults.clear()
            self._delays.clear()
            self._requests.clear()
            self.invalid.clear()

    def fail_next(
        self,
        method: str | None = None,
        path_contains: str | None = None,
        status: int = 500,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` matching requests with a ``status`` error."""
        with self._lock:
            self._faults.append(_Fault(method and method.upper(), path_contains, status, times))

    def delay_next(
        self,
        method: str | None = None,
        path_contains: str | None = None,
        seconds: float = 5.0,
        times: int = 1,
    ) -> None:
        """Hold the next ``times`` matching requests for ``seconds`` before answering them (the
        rest of the server keeps answering meanwhile): a slow API server, or a window in which a
        test can kill its client."""
        with self._lock:
            self._delays.append(_Fault(method and method.upper(), path_contains, seconds, times))

    def _take(self, faults: list[_Fault], method: str, path: str) -> _Fault | None:
        for fault in faults:
            if fault.matches(method, path):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    faults.remove(fault)
                return fault
        return None

    def _validate(self, body: Any) -> None:
        if self.validator is None or not isinstance(body, dict):
            return
        reason = self.validator(body)
        if reason:
            self.invalid.append((copy.deepcopy(body), reason))
            raise ApiError(422, f"the object is invalid: {reason}")

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received, as (method, path, query_string)."""
        with self._lock:
            return list(self._requests)

    def objects(self, kind: str | None = None, namespace: str | None = None) -> list[dict]:
        """Deep copies of the stored objects, sorted by kind, namespace and name."""
        with self._lock:
            found = [
                (key, obj)
                for key, obj in self._store.items()
                if kind in (None, key[0]) and namespace in (None, key[1])
            ]
            found.sort(key=lambda item: (item[0][0], item[0][1] or "", item[0][2]))
            return [copy.deepcopy(obj) for _, obj in found]

    def get_object(self, kind: str, namespace: str | None, name: str) -> dict | None:
        with self._lock:
            return copy.deepcopy(self._store.get((kind, namespace, name)))

    def put_object(self, obj: dict) -> dict:
        """Store ``obj`` directly (no checks), as a create or as an update of the stored one."""
        with self._lock:
            matching = [
                rtype
                for rtype in self._types.values()
                if rtype.kind == obj.get("kind")
                and obj.get("apiVersion") in (None, rtype.api_version)
            ]
            if not matching:
                raise ValueError(f"unknown kind {obj.get('kind')!r}; use register_kind first")
            metadata = obj.get("metadata") or {}
            target = _Target(matching[0], metadata.get("namespace"), metadata.get("name"))
            if not target.name or (target.rtype.namespaced and not target.namespace):
                raise ValueError("put_object needs metadata.name (and metadata.namespace)")
            old = self._store.get(target.key)
            if old is None:
                return self._insert(target, copy.deepcopy(obj))
            return self._commit(target, old, copy.deepcopy(obj))

    def delete_object(self, kind: str, namespace: str | None, name: str) -> dict | None:
        """Remove an object directly (a Namespace takes its contents along); returns it."""
        with self._lock:
            return self._remove((kind, namespace, name))

    def register_kind(
        self, api_version: str, kind: str, plural: str, namespaced: bool = True
    ) -> None:
        """Serve another (custom) resource type. Kinds must be unique across groups."""
        with self._lock:
            rtype = ResourceType(api_version, kind, plural, namespaced, custom=True)
            self._types[(api_version, plural)] = rtype

    # -- request handling --------------------------------------------------------------------

    def _handle(
        self, method: str, path: str, query: str, content_type: str, raw: bytes
    ) -> tuple[int, Any]:
        """Answer one request with (status code, JSON-able body or plain text)."""
        with self._lock:
            self._requests.append(RecordedRequest(method, path, query))
            delay = self._take(self._delays, method, path)
        if delay is not None:
            time.sleep(delay.value)  # outside the lock: other requests go on meanwhile
        with self._lock:
            try:
                fault = self._take(self._faults, method, path)
                if fault is not None:
                    raise ApiError(int(fault.value), f"injected fault for {method} {path}")
                params = {key: values[0] for key, values in parse_qs(query).items()}
                if params.get("dryRun"):
                    raise ApiError(400, "dryRun is not emulated")
                return self._route(method, path, params, content_type, raw)
            except ApiError as error:
                return error.code, error.to_status()
            except Exception as error:  # a bug in the emulator: still answer with a Status
                return 500, ApiError(500, f"emulator error: {error!r}").to_status()

    def _route(
        self, method: str, path: str, params: dict, content_type: str, raw: bytes
    ) -> tuple[int, Any]:
        path = path.rstrip("/") or "/"  # the client asks for "/version/"
        if path in ("/healthz", "/livez", "/readyz"):
            return 200, "ok"
        if path == "/version":
            return 200, VERSION_INFO
        if path == "/api":
            address = self.url.removeprefix("http://")
            return 200, {
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [
                    {"clientCIDR": "0.0.0.0/0", "serverAddress": address}
                ],
            }
        if path == "/apis":
            return 200, self._group_list()
        parts = [unquote(part) for part in path.strip("/").split("/")]
        if parts[0] == "api" and len(parts) >= 2:
            api_version, rest = parts[1], parts[2:]
        elif parts[0] == "apis" and len(parts) >= 3:
            api_version, rest = f"{parts[1]}/{parts[2]}", parts[3:]
        else:
            raise ApiError(404, f"the server could not find the requested resource ({path})")
        target = self._resolve(api_version, rest, path)

        if target.name is None:
            if method == "GET":
                return 200, self._list(target, params)
            if method == "POST" and (target.namespace or not target.rtype.namespaced):
                return 201, self._create(target, _parse_object(raw))
        elif method == "GET":
            return 200, self._existing(target)
        elif method == "PUT":
            return 200, self._replace(target, _parse_object(raw))
        elif method == "PATCH":
            return self._patch(target, params, content_type, raw)
        elif method == "DELETE" and target.subresource is None:
            return 200, self._delete(target)
        raise ApiError(405, f"{method} is not supported on {path} by the emulator")

    def _resolve(self, api_version: str, rest: list[str], path: str) -> _Target:
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            nested = self._types.get((api_version, rest[2]))
            if nested is not None and nested.namespaced:
                namespace, rest = rest[1], rest[2:]
        rtype = self._types.get((api_version, rest[0])) if rest else None
        if (
            rtype is None
            or len(rest) > 3
            or (len(rest) == 3 and rest[2] != "status")
            or (len(rest) > 1 and rtype.namespaced and namespace is None)
        ):
            raise ApiError(404, f"the server could not find the requested resource ({path})")
        return _Target(rtype, namespace, *rest[1:])

    def _group_list(self) -> dict:
        versions: dict[str, list[str]] = {}
        for rtype in self._types.values():
            if rtype.group and rtype.api_version not in versions.get(rtype.group, []):
                versions.setdefault(rtype.group, []).append(rtype.api_version)
        groups = []
        for group, group_versions in sorted(versions.items()):
            entries = [{"groupVersion": gv, "version": gv.split("/")[1]} for gv in group_versions]
            groups.append({"name": group, "versions": entries, "preferredVersion": entries[0]})
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    # -- verbs -------------------------------------------------------------------------------

    def _list(self, target: _Target, params: dict) -> dict:
        if params.get("watch") in ("true", "1"):
            raise ApiError(400, "watch is not emulated")
        try:
            label_match = parse_label_selector(params.get("labelSelector", ""))
            field_match = parse_field_selector(params.get("fieldSelector", ""))
        except ValueError as error:
            raise ApiError(400, f"invalid selector: {error}") from None
        items = [
            copy.deepcopy(obj)
            for (kind, namespace, _), obj in self._store.items()
            if kind == target.rtype.kind
            and target.namespace in (None, namespace)
            and label_match(obj["metadata"].get("labels") or {})
            and field_match(obj)
        ]
        items.sort(key=_list_position)
        metadata = {"resourceVersion": str(self._resource_version)}
        if params.get("continue"):
            try:
                after = tuple(json.loads(base64.urlsafe_b64decode(params["continue"])))
            except ValueError:
                raise ApiError(400, "continue key is not valid") from None
            items = [item for item in items if _list_position(item) > after]
        try:
            limit = int(params.get("limit") or 0)
        except ValueError:
            raise ApiError(400, f"limit must be a number, not {params['limit']!r}") from None
        if 0 < limit < len(items):
            items = items[:limit]
            last = json.dumps(_list_position(items[-1])).encode()
            metadata["continue"] = base64.urlsafe_b64encode(last).decode()
        if not target.rtype.custom:
            for item in items:
                del item["apiVersion"], item["kind"]
        return {
            "apiVersion": target.rtype.api_version,
            "kind": f"{target.rtype.kind}List",
            "metadata": metadata,
            "items": items,
        }

    def _create(self, target: _Target, body: Any) -> dict:
        name = self._check_body(target, body)
        self._validate(body)
        target = _Target(target.rtype, target.namespace, name)
        self._require_namespace(target)
        if target.key in self._store:
            message = f'{target.rtype.resource} "{name}" already exists'
            raise ApiError(409, message, "AlreadyExists", name=name, kind=target.rtype.plural)
        return self._insert(target, body)

    def _replace(self, target: _Target, body: Any) -> dict:
        self._check_body(target, body)
        return self._write(target, self._existing(target), body)

    def _patch(self, target: _Target, params: dict, content_type: str, raw: bytes):
        media_type = content_type.split(";")[0].strip().lower()
        if media_type == APPLY_PATCH:
            return self._apply(target, params, raw)
        if media_type not in (*MERGE_PATCHES, JSON_PATCH):
            raise ApiError(415, f"the media type {content_type!r} is not supported for PATCH")
        old = self._existing(target)
        patch = _parse_object(raw)
        if media_type == JSON_PATCH:
            return 200, self._write(target, old, json_patch(old, patch))
        if not isinstance(patch, dict):
            raise ApiError(400, "a merge patch must be a JSON object")
        return 200, self._write(target, old, merge_patch(old, patch))

    def _apply(self, target: _Target, params: dict, raw: bytes) -> tuple[int, dict]:
        """Server-side apply, without field ownership (see the module docstring)."""
        manager = params.get("fieldManager")
        if not manager:
            raise ApiError(400, "PATCH with the apply content type requires fieldManager")
        if target.subresource:
            raise ApiError(415, "server-side apply to a subresource is not emulated")
        body = _parse_object(raw, allow_yaml=True)
        self._check_body(target, body)
        self._validate(body)
        body.pop("status", None)
        for field in ("managedFields", "uid", "creationTimestamp", "generation"):
            body["metadata"].pop(field, None)
        entry = {"manager": manager, "operation": "Apply", "apiVersion": target.rtype.api_version}
        old = self._store.get(target.key)
        if old is None:
            self._require_namespace(target)
            created = merge_patch({}, body)
            created["metadata"]["managedFields"] = [entry]
            code, result = 201, self._insert(target, created)
        else:
            merged = merge_patch(old, body)
            previous = self._applied.get(target.key, {}).get(manager)
            if previous is not None:
                _remove_dropped(merged, previous, body)
            managed = merged["metadata"].setdefault("managedFields", [])
            if not any(
                m.get("manager") == manager and m.get("operation") == "Apply" for m in managed
            ):
                managed.append(entry)
            code, result = 200, self._write(target, old, merged)
        self._applied.setdefault(target.key, {})[manager] = copy.deepcopy(body)
        return code, result

    def _delete(self, target: _Target) -> dict:
        deleted = self._existing(target)
        self._remove(target.key)
        if target.rtype.kind == "Namespace":
            deleted["status"] = {**(deleted.get("status") or {}), "phase": "Terminating"}
        return deleted

    # -- store -------------------------------------------------------------------------------

    def _next_resource_version(self) -> str:
        self._resource_version += 1
        return str(self._resource_version)

    def _existing(self, target: _Target) -> dict:
        obj = self._store.get(target.key)
        if obj is None:
            message = f'{target.rtype.resource} "{target.name}" not found'
            raise ApiError(404, message, name=target.name or "", kind=target.rtype.plural)
        return copy.deepcopy(obj)

    def _require_namespace(self, target: _Target) -> None:
        if target.rtype.namespaced and ("Namespace", None, target.namespace) not in self._store:
            message = f'namespaces "{target.namespace}" not found'
            raise ApiError(404, message, name=target.namespace or "", kind="namespaces")

    def _check_body(self, target: _Target, body: Any) -> str:
        """Validate a create/replace/apply body against the URL; return the object's name."""
        rtype = target.rtype
        metadata = body.get("metadata") if isinstance(body, dict) else None
        if not isinstance(metadata, dict) or not metadata.get("name"):
            raise ApiError(400, "the request body must be an object with metadata.name")
        name = metadata["name"]
        if body.get("kind", rtype.kind) != rtype.kind:
            raise ApiError(400, f"kind {body['kind']!r} does not match the URL ({rtype.kind})")
        if body.get("apiVersion", rtype.api_version) != rtype.api_version:
            raise ApiError(400, f"apiVersion {body['apiVersion']!r} does not match the URL")
        if rtype.namespaced and metadata.get("namespace", target.namespace) != target.namespace:
            raise ApiError(400, "the namespace of the object does not match the URL")
        if target.name is not None and name != target.name:
            raise ApiError(400, f"the name of the object ({name}) does not match the URL")
        pattern = _DNS_LABEL if rtype.kind == "Namespace" else _DNS_SUBDOMAIN
        if not isinstance(name, str) or len(name) > 253 or not re.fullmatch(pattern, name):
            message = f'{rtype.kind} "{name}" is invalid: metadata.name: must be a DNS-1123 name'
            raise ApiError(422, message, "Invalid", name=str(name), kind=rtype.kind)
        return name

    def _insert(self, target: _Target, obj: dict) -> dict:
        """Store a new object, stamping it like the API server does on create."""
        obj["apiVersion"], obj["kind"] = target.rtype.api_version, target.rtype.kind
        metadata = obj.setdefault("metadata", {})
        metadata.pop("namespace", None)
        if target.rtype.namespaced:
            metadata["namespace"] = target.namespace
        metadata["uid"] = str(uuid.uuid4())
        metadata["creationTimestamp"] = _now()
        metadata["generation"] = 1
        metadata["resourceVersion"] = self._next_resource_version()
        if target.rtype.kind == "Namespace":
            obj["status"] = {**(obj.get("status") or {}), "phase": "Active"}
        self._store[(target.rtype.kind, metadata.get("namespace"), metadata["name"])] = obj
        return copy.deepcopy(obj)

    def _write(self, target: _Target, old: dict, new: dict) -> dict:
        """Update through the API: check resourceVersion and keep the other half's status."""
        wanted_version = (new.get("metadata") or {}).get("resourceVersion")
        if wanted_version and wanted_version != old["metadata"]["resourceVersion"]:
            message = (
                f'Operation cannot be fulfilled on {target.rtype.resource} "{target.name}": '
                "the object has been modified; please apply your changes to the latest version"
            )
            raise ApiError(409, message, name=target.name or "", kind=target.rtype.plural)
        result, status_source = (old, new) if target.subresource else (new, old)
        result = copy.deepcopy(result)
        result.pop("status", None)
        if status_source.get("status") is not None:
            result["status"] = copy.deepcopy(status_source["status"])
        return self._commit(target, old, result)

    def _commit(self, target: _Target, old: dict, new: dict) -> dict:
        """Store ``new`` as the next version of ``old``; a no-op change stores nothing."""
        new["apiVersion"], new["kind"] = old["apiVersion"], old["kind"]
        metadata = new["metadata"] = dict(new.get("metadata") or {})
        for field in ("name", "namespace", "uid", "creationTimestamp", "generation"):
            if field in old["metadata"]:
                metadata[field] = old["metadata"][field]
            else:
                metadata.pop(field, None)
        metadata["resourceVersion"] = old["metadata"]["resourceVersion"]
        if new == old:
            return copy.deepcopy(old)
        if _spec_part(new) != _spec_part(old):
            metadata["generation"] = old["metadata"].get("generation", 0) + 1
        metadata["resourceVersion"] = self._next_resource_version()
        self._store[(old["kind"], metadata.get("namespace"), metadata["name"])] = new
        return copy.deepcopy(new)

    def _remove(self, key: tuple) -> dict | None:
        removed = self._store.pop(key, None)
        self._applied.pop(key, None)
        if removed is not None and key[0] == "Namespace":
            for inner in [k for k in self._store if k[1] == key[2]]:
                self._store.pop(inner)
                self._applied.pop(inner, None)
        return removed


class _Handler(BaseHTTPRequestHandler):
    """Turns each HTTP request into one ``KubeEmulator._handle`` call (HTTP/1.0, no keep-alive)."""

    server_version = "kube-emulator"

    def _serve(self) -> None:
        url = urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        emulator: KubeEmulator = self.server.emulator  # type: ignore[attr-defined]
        content_type = self.headers.get("Content-Type", "")
        code, body = emulator._handle(self.command, url.path, url.query, content_type, raw)
        if isinstance(body, str):
            payload, media_type = body.encode(), "text/plain; charset=utf-8"
        else:
            payload, media_type = json.dumps(body).encode(), "application/json"
        self.send_response(code)
        self.send_header("Content-Type", media_type)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, *args: Any) -> None:
        """Stay quiet: no per-request lines on stderr."""
