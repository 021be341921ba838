"""Upload benchmark: a file sent through the Modelport API (a real uvicorn server process) beside
boto3's `upload_file` straight to the same S3 server (versitygw, in its own process), in one run.

    make bench-upload                      # 1 GiB, the documented run
    .venv/bin/python bench/upload/run.py --size-mib 256 --rounds 1 --part-mib 64

Prints both throughputs, their ratio and the API process's peak memory growth (VmHWM from
/proc), and exits 1 if a target is missed: API >= 80% of direct, peak growth < 100 MB.
"""

import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from testinfra.servers import free_port, stop_process, wait_for_http  # noqa: E402
from testinfra.versitygw import VersityGatewayServer  # noqa: E402

MiB = 1024 * 1024
TENANT = "bench"


def setup_portal():
    """Run inside the portal's environment: migrate, make a ready tenant and an editor token."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    django.setup()
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command

    from core.phase import Phase
    from identity.models import PersonalAccessToken
    from tenants.models import Tenant, TenantBinding
    from workers.storage import get_object_store

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
            return json.loads(data)["data"]["ETag"]
        finally:
            conn.close()

    def upload(self, source, size, name, part_size, concurrency):
        ids = {"modelName": name, "modelVersion": 1, "fileName": "weights.bin"}
        started = self.request("POST", f"/tenants/{TENANT}/upload/start", ids)
        upload_id = started["data"]["uploadId"]
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

        s3 = VersityGatewayServer().start()
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
                    *("--log-level", "warning"),
                ],
                cwd=ROOT,
                env=env,
                start_new_session=True,
            )
            wait_for_http(f"http://127.0.0.1:{port}/healthz", process=server)
            api = Api(port, token)

            import boto3

            client = boto3.client(
                "s3",
                endpoint_url=s3.url,
                aws_access_key_id=s3.access_key,
                aws_secret_access_key=s3.secret_key,
                region_name=s3.region,
            )
            # Warm up both paths (imports, connection pools), then take the baselines.
            api.upload(source, 8 * MiB, "warmup", 8 * MiB, 1)
            client.put_object(Bucket=TENANT, Key="warmup/1/direct", Body=b"warm")
            hwm_before = memory_kib(server.pid, "VmHWM")
            rss_before = memory_kib(server.pid, "VmRSS")

            # Alternate the two paths so that load from elsewhere on the machine falls on both.
            direct_runs, api_runs = [], []
            cpu = {"api": 0.0, "s3 (API runs)": 0.0, "s3 (direct runs)": 0.0}
            for round_number in range(1, args.rounds + 1):
                s3_cpu = cpu_seconds(s3.process.pid)
                started = time.perf_counter()
                key = f"direct/{round_number}/weights.bin"
                client.upload_file(str(source), TENANT, key)
                direct_runs.append(time.perf_counter() - started)
                cpu["s3 (direct runs)"] += cpu_seconds(s3.process.pid) - s3_cpu
                assert client.head_object(Bucket=TENANT, Key=key)["ContentLength"] == size

                api_cpu, s3_cpu = cpu_seconds(server.pid), cpu_seconds(s3.process.pid)
                started = time.perf_counter()
                stored = api.upload(
                    source, size, f"through-api-{round_number}", part_size, args.concurrency
                )
                api_runs.append(time.perf_counter() - started)
                cpu["api"] += cpu_seconds(server.pid) - api_cpu
                cpu["s3 (API runs)"] += cpu_seconds(s3.process.pid) - s3_cpu
                assert stored == size, f"the API stored {stored} bytes, not {size}"
            hwm_after = memory_kib(server.pid, "VmHWM")
        finally:
            if server is not None:
                stop_process(server)
            s3.stop()

    api_seconds, direct_seconds = statistics.median(api_runs), statistics.median(direct_runs)
    api_rate = size / MiB / api_seconds
    direct_rate = size / MiB / direct_seconds
    ratio = api_rate / direct_rate
    growth_mb = (hwm_after - hwm_before) * 1024 / 1e6
    print(f"file size {args.size_mib} MiB, {args.rounds} round(s) each, medians:")
    print(
        f"  API (uvicorn, {args.concurrency} parts of {args.part_mib} MiB at a time): "
        f"{api_rate:7.1f} MiB/s  (runs: {', '.join(f'{t:.1f}' for t in api_runs)} s)"
    )
    print(
        f"  boto3 upload_file straight to S3:              {direct_rate:7.1f} MiB/s  "
        f"(runs: {', '.join(f'{t:.1f}' for t in direct_runs)} s)"
    )
    print(f"  ratio API / direct: {ratio:.1%}  (target >= 80%)")
    print(
        f"  API process memory: RSS {rss_before / 1024:.0f} MiB after warm-up; VmHWM "
        f"{hwm_before / 1024:.0f} -> {hwm_after / 1024:.0f} MiB; peak growth {growth_mb:.1f} MB "
        "(target < 100 MB)"
    )
    print(
        "  CPU seconds: "
        + ", ".join(f"{name} {value:.1f}" for name, value in cpu.items())
        + f" ({os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f})"
    )
    return 0 if ratio >= 0.8 and growth_mb < 100 else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--part-mib", type=int, default=16)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="runs of each path, alternated")
    parser.add_argument("--setup", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.setup:
        setup_portal()
        return 0
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
