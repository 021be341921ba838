"""Model servers as processes on this machine: the local orchestrator's runtime.

Each endpoint is a folder under `root` holding its model repository (a folder per served
version), its desired spec, and one state file and log per replica. Replicas are model-server
processes on free loopback ports, each in its own session so that they outlive the worker that
started them and can be stopped as a group. The served models decide the model server: MLServer
(V2 / Open Inference Protocol) for scikit-learn and LightGBM models, with a `model-settings.json`
per version; llama-cpp-python's OpenAI-compatible server for a GGUF language model, which an
endpoint serves alone, under the endpoint's name. Both are supervised the same way.

Any process may call these methods (a Celery task, the embedded runner on shutdown): the state
lives on disk and every change to an endpoint happens under a file lock, so two callers never
start the same replica twice. A replica whose process died is restarted with exponential
backoff; from its first crash it is reported failed, with the error lines of its log, until it
serves again; after MAX_RESTARTS crashes in a row it stays down.

A model server runs a tenant's code (loading a pickled model runs whatever the pickle says), so
it gets as little as the platform allows: an environment of its own (never the portal's
secrets), a working directory holding nothing but what it writes, and a model folder holding
only its own model's file. Run as root, with a model server that other users may execute, each
tenant's model servers also run as a user of their own (TenantUsers) that cannot read the data
directory, the other tenants' models or the portal's database and secret key.
"""

import fcntl
import functools
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from http.client import HTTPException
from pathlib import Path
from urllib.error import URLError
from urllib.request import urlopen

from workers.backends.model_servers import LLAMA_CPP, LlamaServer, MLServer

MAX_RESTARTS = 5
RESTART_BACKOFF_CAP_SECONDS = 60
# A replica that has served this long is healthy again: its crash count starts over.
HEALTHY_AFTER_SECONDS = 120
STOP_GRACE_SECONDS = 10
LOG_TAIL_LINES = 12
RUN_MARKER = "--- modelport: starting"
_ERROR_LINE = re.compile(r"ERROR|Error|Exception|Traceback")


@dataclass(frozen=True)
class ServedModel:
    """One model version: its name, version, runtime (an MLServer runtime class, or LLAMA_CPP)
    and file."""

    name: str
    version: str
    implementation: str
    uri: str


@dataclass
class Replica:
    index: int
    pid: int = 0
    http_port: int = 0
    grpc_port: int = 0
    metrics_port: int = 0
    spec_hash: str = ""
    started_at: float = 0.0
    crashes: int = 0
    next_start_at: float = 0.0
    gave_up: bool = False
    ready_path: str = "/v2/health/ready"

    @property
    def url(self):
        return f"http://127.0.0.1:{self.http_port}"


@dataclass
class EndpointStatus:
    """The same fields as pods on a cluster."""

    running: int = 0
    pending: int = 0
    failed: int = 0
    message: str = ""
    urls: list = field(default_factory=list)


def _alive(pid, marker):
    """True if `pid` is a live (not zombie) process whose command line contains `marker`: a
    recycled pid that now belongs to something else does not count. A process reads with an
    empty command line while it is being exec'ed (a loaded machine makes that window long): one
    that leads its own session, as our replicas do, counts then."""
    if pid <= 0:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return False
    state, _, _, session = stat.rsplit(")", 1)[1].split()[:4]
    if state in ("Z", "X"):
        return False
    return marker in cmdline or (not cmdline and int(session) == pid)


# Everything a model server's environment holds besides MLServer's own settings.
BASE_ENVIRONMENT = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "LANG": "C.UTF-8",
    # The model folder holds what the model server is given, nothing it writes.
    "PYTHONDONTWRITEBYTECODE": "1",
}
# Tenants' model servers run as users numbered from here (above the ranges distributions give).
FIRST_TENANT_UID = 200_000


def _place(source, target):
    """`source` at `target`: a hard link when both are on one filesystem, else a copy."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


@functools.cache
def _runs_as_another_user(executable, uid):
    """Whether the model server's `executable` starts as `uid` (it can't when its interpreter
    sits in a folder only root may enter, such as a pyenv under /root)."""
    try:
        result = subprocess.run(  # noqa: S603 - our own model server binary
            [executable, "--version"],
            user=uid,
            group=uid,
            env=BASE_ENVIRONMENT,
            cwd="/",
            capture_output=True,
            timeout=120,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return False
    return result.returncode == 0


class TenantUsers:
    """One user id per tenant (no account is needed: processes run with the number), kept in
    `<root>/tenant-users.json`. Available only to root."""

    def __init__(self, root):
        self.path = Path(root) / "tenant-users.json"

    @staticmethod
    def available():
        return os.geteuid() == 0

    def uid(self, tenant):
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            known = json.loads(self.path.read_text()) if self.path.exists() else {}
            if tenant not in known:
                known[tenant] = FIRST_TENANT_UID + len(known)
                self.path.write_text(json.dumps(known))
            return known[tenant]


def make_private(data_dir, keep):
    """Close the data directory to other users, but for `keep` (the runtime folder, which model
    servers must reach): it can be passed through, not listed, and everything else in it is for
    its owner only."""
    data_dir = Path(data_dir)
    data_dir.chmod(0o711)
    for entry in data_dir.iterdir():
        if entry.is_symlink():
            continue
        if entry == Path(keep):
            entry.chmod(0o711)
        else:
            entry.chmod(0o700 if entry.is_dir() else 0o600)


# How long a readiness check may take. A model server on a busy machine can take a second to
# answer; a shorter limit made the gateway answer 503 endpoint_not_running for a replica that was
# serving (seen with the machine under load).
READY_CHECK_SECONDS = 3


def _ready(replica, timeout=READY_CHECK_SECONDS):
    """Whether the replica answers its readiness check with 200. Anything else is not ready,
    an answer that is not HTTP included (some other server on the port)."""
    try:
        with urlopen(f"{replica.url}{replica.ready_path}", timeout=timeout) as response:  # noqa: S310
            return response.status == 200
    except (URLError, OSError, HTTPException):
        return False


def _file_identity(path):
    """What changes when a file is replaced: its path, size and modification time."""
    stat = os.stat(path)
    return [str(path), stat.st_size, stat.st_mtime_ns]


class LocalRuntime:
    """`mlserver`: MLServer's command; `llama_python`: the python of llama-cpp-python's server;
    `private`: the data directory to close to tenants' users, when they have users."""

    def __init__(self, root, mlserver, private=None, llama_python=None):
        self.root = Path(root)
        self.mlserver = str(mlserver)
        self.llama_python = str(llama_python) if llama_python else None
        self.private = private
        self.users = TenantUsers(self.root)

    def _server(self, spec):
        """The model server for `spec` (the served models, as dicts): llama-cpp-python's for a
        language model, else MLServer."""
        if any(model["implementation"] == LLAMA_CPP for model in spec):
            return LlamaServer(self.llama_python)
        return MLServer(self.mlserver)

    def _user_of(self, key, server):
        """The uid the model servers of `key` run as, or None (they run as this process's)."""
        if not self.users.available():
            return None
        uid = self.users.uid(key.split("/", 1)[0])
        return uid if _runs_as_another_user(server.executable, uid) else None

    # --- layout ---------------------------------------------------------------------------

    def _dir(self, key):
        return self.root / key

    def _replica_path(self, key, index):
        return self._dir(key) / f"replica-{index}.json"

    def log_path(self, key, index):
        return self._dir(key) / f"replica-{index}.log"

    def _replicas(self, key):
        replicas = []
        for path in sorted(self._dir(key).glob("replica-*.json")):
            replicas.append(Replica(**json.loads(path.read_text())))
        return sorted(replicas, key=lambda r: r.index)

    def _save(self, key, replica):
        path = self._replica_path(key, replica.index)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(replica.__dict__))
        tmp.replace(path)

    @contextmanager
    def _locked(self, key):
        folder = self._dir(key)
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield folder
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def endpoint_keys(self):
        """Every endpoint that has a folder here, as `<tenant>/<endpoint>`."""
        if not self.root.is_dir():
            return []
        return sorted(str(p.parent.relative_to(self.root)) for p in self.root.glob("*/*/spec.json"))

    def spec(self, key):
        """The models `key` serves now (name, version, implementation, uri), or []."""
        path = self._dir(key) / "spec.json"
        return json.loads(path.read_text())["models"] if path.exists() else []

    # --- desired state --------------------------------------------------------------------

    def ensure(self, key, models, replicas):
        """Make `key` serve `models` with `replicas` processes: write the model repository,
        start missing replicas, restart those serving an older spec, stop extra ones."""
        with self._locked(key) as folder:
            spec = [m.__dict__ for m in sorted(models, key=lambda m: (m.name, m.version))]
            # A model file replaced under the same name is a new spec too.
            files = [_file_identity(m.uri) for m in models]
            spec_hash = hashlib.sha256(
                json.dumps([spec, sorted(files)], sort_keys=True).encode()
            ).hexdigest()[:16]
            if (
                not (folder / "spec.json").exists()
                or json.loads((folder / "spec.json").read_text()).get("hash") != spec_hash
            ):
                server = self._server(spec)
                self._write_repository(folder, models, server, self._user_of(key, server))
                (folder / "spec.json").write_text(json.dumps({"hash": spec_hash, "models": spec}))
            current = {r.index: r for r in self._replicas(key)}
            for index in range(replicas):
                replica = current.pop(index, None) or Replica(index=index)
                if replica.spec_hash != spec_hash or replica.gave_up:
                    self._stop_process(key, replica)
                    replica = Replica(index=index)
                if not _alive(replica.pid, str(folder)):
                    replica = self._start(key, replica, spec_hash)
                self._save(key, replica)
            for extra in current.values():
                self._stop_process(key, extra)
                self._replica_path(key, extra.index).unlink(missing_ok=True)

    def _write_repository(self, folder, models, server, uid):
        """The model repository in `<folder>/models`: per served version, a link to (or copy of)
        its model file and what its model server needs beside it, and nothing else. Readable by
        the endpoint's user alone."""
        repository = folder / "models"
        shutil.rmtree(repository, ignore_errors=True)
        repository.mkdir()
        for model in models:
            target = repository / f"{model.name}-{model.version}"
            target.mkdir()
            source = Path(model.uri)
            _place(source, target / source.name)
            server.prepare(target, model)
        if uid is not None:
            # The user may read its repository; other tenants' users may not even enter it.
            os.chown(repository, 0, uid)
            repository.chmod(0o750)

    def _home(self, key, uid):
        """The model server's working directory and HOME: empty but for what it writes itself,
        and its user's alone."""
        home = self._dir(key) / "home"
        home.mkdir(exist_ok=True)
        if uid is not None:
            if self.private is not None:
                make_private(self.private, keep=self.root)
            for folder in (self.root, self._dir(key).parent, self._dir(key)):
                folder.chmod(0o711)
            os.chown(home, uid, uid)
            home.chmod(0o700)
        return home

    def _start(self, key, replica, spec_hash):
        folder = self._dir(key)
        spec = self.spec(key)
        server = self._server(spec)
        uid = self._user_of(key, server)
        home = self._home(key, uid)
        server.assign_ports(replica)
        env = {**BASE_ENVIRONMENT, "HOME": str(home), **server.environment(replica)}
        with open(self.log_path(key, replica.index), "ab") as log:
            log.write(f"{RUN_MARKER} replica {replica.index} at {time.ctime()}\n".encode())
            log.flush()
            process = subprocess.Popen(  # noqa: S603 - our own model server binary
                server.command(folder, key, spec, replica),
                cwd=home,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **({"user": uid, "group": uid, "extra_groups": []} if uid is not None else {}),
            )
        replica.pid = process.pid
        replica.spec_hash = spec_hash
        replica.ready_path = server.ready_path
        replica.started_at = time.time()
        return replica

    def _stop_process(self, key, replica):
        if not _alive(replica.pid, str(self._dir(key))):
            return
        with suppress(ProcessLookupError):
            os.killpg(replica.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        while _alive(replica.pid, str(self._dir(key))) and time.monotonic() < deadline:
            time.sleep(0.1)
        with suppress(ProcessLookupError):
            os.killpg(replica.pid, signal.SIGKILL)

    def stop(self, key):
        """Stop every replica of `key` and forget it."""
        folder = self._dir(key)
        if not folder.exists():
            return
        with self._locked(key):
            for replica in self._replicas(key):
                self._stop_process(key, replica)
        shutil.rmtree(folder, ignore_errors=True)

    def stop_all(self):
        """Stop every model server this runtime knows of (the embedded runner's shutdown). The
        folders stay, and the replicas are marked stopped rather than crashed: the next
        supervision starts them again at once."""
        for key in self.endpoint_keys():
            with self._locked(key):
                for replica in self._replicas(key):
                    self._stop_process(key, replica)
                    replica.pid, replica.next_start_at = 0, 0.0
                    self._save(key, replica)

    # --- observed state -------------------------------------------------------------------

    def supervise(self, key):
        """Restart crashed replicas (with backoff), and report what runs."""
        status = EndpointStatus()
        if not (self._dir(key) / "spec.json").exists():
            return status
        with self._locked(key) as folder:
            spec_hash = json.loads((folder / "spec.json").read_text())["hash"]
            now = time.time()
            for replica in self._replicas(key):
                if _alive(replica.pid, str(folder)):
                    if _ready(replica):
                        status.running += 1
                        status.urls.append(replica.url)
                        if replica.crashes and now - replica.started_at > HEALTHY_AFTER_SECONDS:
                            replica.crashes = 0
                            self._save(key, replica)
                    else:
                        status.pending += 1
                    continue
                if replica.pid == 0:
                    # Stopped on purpose (stop_all): start again, no crash counted.
                    self._save(key, self._start(key, replica, spec_hash))
                    status.pending += 1
                    continue
                if replica.gave_up:
                    status.failed += 1
                    status.message = self._crash_message(key, replica, now)
                    continue
                if replica.next_start_at == 0:
                    # Just found dead: count the crash and schedule the restart.
                    replica.crashes += 1
                    if replica.crashes > MAX_RESTARTS:
                        replica.gave_up = True
                    else:
                        delay = min(RESTART_BACKOFF_CAP_SECONDS, 2 ** (replica.crashes - 1))
                        replica.next_start_at = now + delay
                    self._save(key, replica)
                elif now >= replica.next_start_at:
                    replica.next_start_at = 0
                    self._save(key, self._start(key, replica, spec_hash))
                    status.pending += 1
                    continue
                # Down after a crash, until it starts again: why is said at once, from the first
                # crash (a model that can't load must not look like a slow start).
                status.failed += 1
                status.message = self._crash_message(key, replica, now)
        return status

    def _crash_message(self, key, replica, now):
        lines = self.last_run_log(key, replica.index)
        errors = [line for line in lines if _ERROR_LINE.search(line)]
        shown = "\n".join(errors[-6:] or lines[-LOG_TAIL_LINES:])
        times = "once" if replica.crashes == 1 else f"{replica.crashes} times in a row"
        if replica.gave_up:
            then = "; it is not started again until the endpoint changes"
        else:
            then = f"; it starts again in {max(0, round(replica.next_start_at - now))} s"
        return f"The model server crashed {times}{then}. Its log says:\n{shown}"

    def last_run_log(self, key, index):
        """The log lines of the replica's latest run."""
        path = self.log_path(key, index)
        if not path.exists():
            return []
        with open(path, "rb") as log:
            log.seek(max(0, path.stat().st_size - 65536))
            text = log.read().decode(errors="replace")
        return text.rsplit(RUN_MARKER, 1)[-1].strip().splitlines()[1:]

    def ready_urls(self, key):
        """Where the replicas of `key` that answer their readiness check are: gateway backends."""
        folder = self._dir(key)
        return [
            r.url
            for r in self._replicas(key)
            if r.http_port and _alive(r.pid, str(folder)) and _ready(r)
        ]
