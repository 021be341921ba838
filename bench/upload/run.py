"""Upload benchmark: a file sent through the Modelport API (a real uvicorn server process) beside
boto3's `upload_file` straight to the same S3 server (moto's, in its own process), in one run.

    make bench-upload                      # 1 GiB, the documented run
    .venv/bin/python bench/upload/run.py --size-mib 256 --concurrency 4 --part-mib 64

Prints both throughputs, their ratio and the API process's peak memory growth (VmHWM from
/proc), and exits 1 if a target is missed: API >= 80% of direct, peak growth < 100 MB.
"""

import argparse
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from testinfra.servers import MotoS3Server, free_port, stop_process, wait_for_http  # noqa: E402

MiB = 1024 * 1024
TENANT = "bench"


def setup_portal():
    """Run inside the portal's environment: migrate, make a ready tenant and an editor token."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    django.setup()
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command

    from models_store.storage import get_object_store
    from portal.models import PersonalAccessToken
    from tenants.models import Phase, Tenant, TenantBinding

    call_command("migrate", verbosity=0)
    user = User.objects.create_user("bench")
    user.groups.add(Group.objects.create(name="bench-editors"))
    tenant = Tenant.objects.create(name=TENANT, scope="bench-editors", phase=Phase.READY)
    TenantBinding.objects.create(tenant=tenant, group="bench-editors", role="editor")
    get_object_store().ensure_bucket(tenant.bucket)
    print(PersonalAccessToken.issue(user)[1])


def cpu_seconds(pid):
    """User + system CPU time the process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def memory_kib(pid, field):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not found for process {pid}")


class Api:
    def __init__(self, port, token):
        self.port = port
        self.headers = {"Authorization": token}

    def request(self, method, path, body=None, headers=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        try:
            payload = json.dumps(body).encode() if body is not None else None
            all_headers = {**self.headers, "Content-Type": "application/json", **(headers or {})}
            conn.request(method, path, body=payload, headers=all_headers)
            response = conn.getresponse()
            data = response.read()
            if response.status >= 300:
                raise RuntimeError(f"{method} {path}: {response.status} {data[:300]!r}")
            return json.loads(data)
        finally:
            conn.close()

    def put_part(self, path, source, offset, length):
        """PUT `length` bytes of `source` from `offset`, streamed 1 MiB at a time."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        try:
            conn.putrequest("PUT", path)
            for name, value in {
                **self.headers,
                "Content-Type": "application/octet-stream",
                "Content-Length": str(length),
            }.items():
                conn.putheader(name, value)
            conn.endheaders()
            with open(source, "rb") as handle:
                handle.seek(offset)
                remaining = length
                while remaining:
                    chunk = handle.read(min(MiB, remaining))
                    conn.send(chunk)
                    remaining -= len(chunk)
            response = conn.getresponse()
            data = response.read()
            if response.status != 200:
                raise RuntimeError(f"part at {offset}: {response.status} {data[:300]!r}")
            return json.loads(data)["ETag"]
        finally:
            conn.close()

    def upload(self, source, size, name, part_size, concurrency):
        ids = {"modelName": name, "modelVersion": 1, "fileName": "weights.bin"}
        upload_id = self.request("POST", f"/tenants/{TENANT}/upload/start", ids)["uploadId"]
        query = "&".join(f"{k}={v}" for k, v in ids.items())
        offsets = list(range(0, size, part_size))

        def send(number_offset):
            number, offset = number_offset
            path = f"/tenants/{TENANT}/upload?{query}&partNumber={number}&uploadId={upload_id}"
            return self.put_part(path, source, offset, min(part_size, size - offset))

        with ThreadPoolExecutor(concurrency) as pool:
            etags = list(pool.map(send, enumerate(offsets, start=1)))
        parts = [{"ETag": etag, "PartNumber": n} for n, etag in enumerate(etags, start=1)]
        done = self.request(
            "POST", f"/tenants/{TENANT}/upload/done", {**ids, "uploadId": upload_id, "parts": parts}
        )
        return done["data"]["size"]


def run(args):
    size = args.size_mib * MiB
    part_size = args.part_mib * MiB
    with tempfile.TemporaryDirectory(prefix="modelport-bench-") as work:
        work = Path(work)
        source = work / "model.bin"
        block = os.urandom(MiB)
        with source.open("wb") as handle:
            for _ in range(args.size_mib):
                handle.write(block)

        s3 = MotoS3Server().start()
        server = None
        try:
            env = {
                key: value
                for key, value in os.environ.items()
                if key not in ("DATABASE_URL", "REDIS_URL")
            }
            env |= {
                **s3.environment(),
                "DJANGO_SETTINGS_MODULE": "portal.settings",
                "MODELPORT_DATA_DIR": str(work / "portal"),
                "FILE_UPLOAD_TEMP_DIR": str(work),
                "LOG_LEVEL": "WARNING",
            }
            token = (
                subprocess.run(
                    [sys.executable, __file__, "--setup"],
                    cwd=ROOT,
                    env=env,
                    check=True,
                    capture_output=True,
                    text=True,
                )
                .stdout.strip()
                .splitlines()[-1]
            )

            port = free_port()
            server = subprocess.Popen(
                [
                    *(sys.executable, "-m", "uvicorn", "portal.asgi:application"),
                    *("--host", "127.0.0.1", "--port", str(port), "--no-access-log"),
                    *("--log-level", "warning", "--workers", str(args.workers)),
                ],
                cwd=ROOT,
                env=env,
                start_new_session=True,
            )
            wait_for_http(f"http://127.0.0.1:{port}/healthz", process=server)
            api = Api(port, token)

            # Warm up (imports, connection pools), then take the baseline.
            api.upload(source, 8 * MiB, "warmup", 8 * MiB, 1)
            hwm_before = memory_kib(server.pid, "VmHWM")
            rss_before = memory_kib(server.pid, "VmRSS")

            cpu = {"api": cpu_seconds(server.pid), "s3": cpu_seconds(s3.process.pid)}
            started = time.perf_counter()
            stored = api.upload(source, size, "through-api", part_size, args.concurrency)
            api_seconds = time.perf_counter() - started
            assert stored == size, f"the API stored {stored} bytes, not {size}"
            hwm_after = memory_kib(server.pid, "VmHWM")
            cpu = {
                "api": cpu_seconds(server.pid) - cpu["api"],
                "s3": cpu_seconds(s3.process.pid) - cpu["s3"],
            }
            direct_s3_cpu = cpu_seconds(s3.process.pid)

            import boto3

            client = boto3.client(
                "s3",
                endpoint_url=s3.url,
                aws_access_key_id=s3.access_key_id,
                aws_secret_access_key=s3.secret_access_key,
                region_name=s3.region,
            )
            started = time.perf_counter()
            client.upload_file(str(source), TENANT, "direct/1/weights.bin")
            direct_seconds = time.perf_counter() - started
            direct_s3_cpu = cpu_seconds(s3.process.pid) - direct_s3_cpu
            head = client.head_object(Bucket=TENANT, Key="direct/1/weights.bin")
            assert head["ContentLength"] == size
        finally:
            if server is not None:
                stop_process(server)
            s3.stop()

    api_rate = size / MiB / api_seconds
    direct_rate = size / MiB / direct_seconds
    ratio = api_rate / direct_rate
    growth_mb = (hwm_after - hwm_before) * 1024 / 1e6
    print(f"file size:               {args.size_mib} MiB")
    print(
        f"API (uvicorn, {args.concurrency} parts at a time of {args.part_mib} MiB): "
        f"{api_rate:8.1f} MiB/s  ({api_seconds:.1f} s)"
    )
    print(f"boto3 upload_file direct: {direct_rate:8.1f} MiB/s  ({direct_seconds:.1f} s)")
    print(
        f"CPU seconds: API run: API process {cpu['api']:.1f}, S3 server {cpu['s3']:.1f}; "
        f"direct run: S3 server {direct_s3_cpu:.1f} ({os.cpu_count()} cores)"
    )
    print(f"ratio API / direct:       {ratio:8.1%}   (target >= 80%)")
    print(
        f"API process memory:       RSS {rss_before / 1024:.0f} MiB before; VmHWM "
        f"{hwm_before / 1024:.0f} -> {hwm_after / 1024:.0f} MiB; "
        f"peak growth {growth_mb:.1f} MB (target < 100 MB)"
    )
    return 0 if ratio >= 0.8 and growth_mb < 100 else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--part-mib", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    parser.add_argument("--setup", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.setup:
        setup_portal()
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
