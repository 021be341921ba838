"""PostgreSQL and Redis for one test session: Debian's server binaries, started in a temporary
folder on free loopback ports and stopped when the session ends, so the suite needs no shared
server and two runs on one machine never meet."""

import ctypes
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from testinfra.servers import free_port, stop_process

INSTALL_HINT = "apt-get install postgresql redis-server (testinfra/system-packages.sh does it)"


def _die_with_parent():
    """The server gets SIGTERM if the test process dies without stopping it (a killed run must
    not leave servers behind)."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def _postgres_binary(name):
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    path = found[0] if found else shutil.which(name)
    if path is None:
        raise RuntimeError(f"PostgreSQL's {name} is missing: {INSTALL_HINT}")
    return path


def _wait_for_line(log_path, needle, process, what, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log_path.read_text(errors="replace") if log_path.exists() else ""
        if needle in text:
            return
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}:\n{text}")
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not start within {timeout}s:\n{log_path.read_text()}")


class PostgresServer:
    """A throwaway cluster: initdb, then `postgres` in the foreground. PostgreSQL refuses to run
    as root, so as root it runs as the `postgres` account the Debian package creates."""

    def __init__(self):
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="modelport-postgres-"))
        self.process = None
        self.user = None
        if os.geteuid() == 0:
            try:
                self.user = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError(
                    f"no postgres account to run PostgreSQL as: {INSTALL_HINT}"
                ) from None
            os.chown(self.directory, self.user.pw_uid, self.user.pw_gid)

    @property
    def url(self):
        return f"postgres://postgres@127.0.0.1:{self.port}/modelport"

    def _run_as_owner(self):
        return {"user": self.user.pw_uid, "group": self.user.pw_gid} if self.user else {}

    def start(self):
        data = self.directory / "data"
        subprocess.run(
            [
                *(_postgres_binary("initdb"), "-D", str(data), "-U", "postgres", "--auth=trust"),
                *("--encoding=UTF8", "--locale=C.UTF-8", "--no-sync"),
            ],
            check=True,
            capture_output=True,
            cwd=self.directory,
            **self._run_as_owner(),
        )
        log_path = self.directory / "postgres.log"
        self.log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        # Durability is not wanted from a database that lives for one test session.
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": self.port,
            "unix_socket_directories": self.directory,
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": 200,
        }
        command = [_postgres_binary("postgres"), "-D", str(data)]
        for name, value in settings.items():
            command += ["-c", f"{name}={value}"]
        self.process = subprocess.Popen(
            command,
            cwd=self.directory,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,  # the session starts its servers before any thread
            **self._run_as_owner(),
        )
        _wait_for_line(
            log_path, "database system is ready to accept connections", self.process, "PostgreSQL"
        )
        return self

    def stop(self):
        if self.process is not None:
            # SIGINT is PostgreSQL's fast shutdown: sessions are ended, nothing waits on clients.
            self.process.send_signal(signal.SIGINT)
            stop_process(self.process)
            self.log.close()
        shutil.rmtree(self.directory, ignore_errors=True)


class RedisServer:
    def __init__(self):
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="modelport-redis-"))
        self.process = None

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not Path(binary).exists():
            raise RuntimeError(f"redis-server is missing: {INSTALL_HINT}")
        log_path = self.directory / "redis.log"
        self.process = subprocess.Popen(
            [
                *(binary, "--bind", "127.0.0.1", "--port", str(self.port)),
                *("--dir", str(self.directory), "--save", "", "--appendonly", "no"),
                *("--logfile", str(log_path)),
            ],
            cwd=self.directory,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,  # the session starts its servers before any thread
        )
        _wait_for_line(log_path, "Ready to accept connections", self.process, "Redis")
        return self

    def stop(self):
        if self.process is not None:
            stop_process(self.process)
        shutil.rmtree(self.directory, ignore_errors=True)
