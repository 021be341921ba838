"""A real S3 server for the storage tests: the Versity S3 Gateway (Apache-2.0) on a posix directory.

It checks SigV4 signatures, presigned URL expiry and signed headers, so tests can prove
what a presigned URL binds. testinfra/build_versitygw.sh builds the binary into the user's cache.
"""

import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

from core.machine_cache import cache_root
from testinfra.servers import free_port, stop_process, wait_for_http

VERSITYGW_VERSION = os.environ.get("VERSITYGW_VERSION", "v1.8.0")


def versitygw_binary():
    """The cached binary for the pinned version, or None when build_versitygw.sh has not run."""
    path = cache_root() / "versitygw" / VERSITYGW_VERSION / "versitygw"
    return path if path.is_file() and os.access(path, os.X_OK) else None


class VersityGatewayServer:
    """versitygw in its own process on a free loopback port, objects in a temporary directory."""

    region = "us-east-1"
    health_path = "/health"

    def __init__(self, binary=None):
        self.binary = binary or versitygw_binary()
        if self.binary is None:
            raise RuntimeError("versitygw is not built: run testinfra/build_versitygw.sh")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.access_key = "modelport-test"
        self.secret_key = secrets.token_hex(16)
        self.data_dir = None
        self.process = None

    def start(self):
        self.data_dir = tempfile.mkdtemp(prefix="modelport-versitygw-")
        self.process = subprocess.Popen(
            [
                str(self.binary),
                "--port",
                f"127.0.0.1:{self.port}",
                "--region",
                self.region,
                "--health",
                self.health_path,
                "--quiet",
                "posix",
                self.data_dir,
            ],
            # The root credentials go in the environment, not on the command line.
            env={
                **os.environ,
                "ROOT_ACCESS_KEY": self.access_key,
                "ROOT_SECRET_KEY": self.secret_key,
            },
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            wait_for_http(f"{self.url}{self.health_path}", process=self.process)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        if self.process is not None:
            stop_process(self.process)
            self.process = None
        if self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def reset(self):
        """Forget every bucket: with the posix backend a bucket is a directory of the data dir."""
        for child in Path(self.data_dir).iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()

    def storage_settings(self):
        return {
            "backend": "s3",
            "endpoint_url": self.url,
            "access_key_id": self.access_key,
            "secret_access_key": self.secret_key,
            "region": self.region,
        }

    def environment(self):
        return {
            "S3_ENDPOINT_URL": self.url,
            "S3_ACCESS_KEY_ID": self.access_key,
            "S3_SECRET_ACCESS_KEY": self.secret_key,
            "S3_REGION": self.region,
        }
