"""Gateway overhead: the same V2 inference request straight to MLServer and through the gateway.

    make bench-gateway            (or: .venv/bin/python bench/gateway/run.py [--seconds 10]
                                   [--baseline <git ref>])

Starts, in a temporary data folder: one MLServer replica serving a scikit-learn iris model (the
local runtime), and the portal under uvicorn (the embedded default: SQLite, local orchestrator).
Then runs wrk at concurrency 8 and 32 against both addresses in the same run and prints
requests/s, p50 and p99 for each, and the ratios. Targets: the gateway adds at most 1 ms at p50
and 5 ms at p99 and keeps at least 85% of direct throughput.

With --baseline, the gateway of that git revision (checked out in a temporary worktree, run with
the same virtualenv, data folder and replica) is measured in the same run, beside this one, so a
change to the gateway is compared under the same conditions.

Everything runs on this machine's cores: wrk, the gateway and MLServer compete for them, so the
figures are for this machine, not for a cluster.
"""

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.common import checkout, embedded_portal, remove_checkout, serve_portal  # noqa: E402

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


def wrk(url, connections, seconds, token, script_dir):
    body = json.dumps(
        {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP64", "data": ROWS}]}
    )
    script = script_dir / "post.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(body)}\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        + (f'wrk.headers["Authorization"] = "{token}"\n' if token else "")
    )
    output = subprocess.run(
        [
            "wrk",
            "-t",
            "2",
            "-c",
            str(connections),
            "-d",
            f"{seconds}s",
            "--latency",
            "-s",
            str(script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "Non-2xx" in output:
        raise RuntimeError(f"errors during the run:\n{output}")

    def latency(percent):
        match = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        value, unit = float(match.group(1)), match.group(2)
        return value * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    return {"rps": rps, "p50": latency(50), "p99": latency(99)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--baseline", help="also measure the gateway of this git revision")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install wrk")

    data_dir, env = embedded_portal("modelport-bench-")
    from django.contrib.auth.models import Group, User

    from endpoints.models import Endpoint, ServingTemplate
    from identity.models import PersonalAccessToken
    from tenants.models import Tenant, TenantBinding
    from testinfra.models import SKLEARN, train_iris
    from workers.backends.local import LocalOrchestrator
    from workers.backends.local_runtime import ServedModel

    user = User.objects.create_user("bench")
    user.groups.add(Group.objects.create(name="bench"))
    tenant = Tenant.objects.create(name="demo", scope="bench")
    TenantBinding.objects.create(tenant=tenant, group="bench", role="viewer")
    token = PersonalAccessToken.issue(user)[1]
    # The row the gateway looks up; the runtime below stands in for the worker's reconcile.
    Endpoint.objects.create(
        tenant=tenant,
        name="iris",
        model_name="iris",
        serving=ServingTemplate.objects.get(name="mlserver"),
        subject_name="bench",
    )

    model = data_dir / "model.joblib"
    train_iris(model)
    runtime = LocalOrchestrator().runtime
    runtime.ensure("demo/iris", [ServedModel("iris", "1", SKLEARN, str(model))], replicas=1)
    portals = []
    try:
        deadline = time.monotonic() + 60
        while not (urls := runtime.ready_urls("demo/iris")):
            if time.monotonic() > deadline:
                raise TimeoutError("MLServer did not become ready")
            time.sleep(0.3)
        direct = f"{urls[0]}/v2/models/iris/infer"
        paths = {"direct": direct}
        sources = {"gateway": ROOT}
        if args.baseline:
            sources["baseline"] = checkout(args.baseline, data_dir / "baseline")
        for port, (name, source) in enumerate(sources.items(), start=18765):
            portals.append(serve_portal(source, port, env))
            paths[name] = f"http://127.0.0.1:{port}/gateway/demo/iris/v2/models/iris/infer"

        # Warm every path (connections, caches, lazy imports).
        credential = {name: None if name == "direct" else token for name in paths}
        for name, url in paths.items():
            wrk(url, 4, 2, credential[name], data_dir)
        print(f"{'concurrency':>11} {'path':>8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}")
        for connections in (8, 32):
            results = {
                name: wrk(
                    url, connections, args.seconds, None if name == "direct" else token, data_dir
                )
                for name, url in paths.items()
            }
            a = results["direct"]
            for name, r in results.items():
                row = f"{r['rps']:>9.0f} {r['p50']:>8.2f} {r['p99']:>8.2f}"
                print(f"{connections:>11} {name:>8} {row}")
                if name != "direct":
                    added = f"{r['p50'] - a['p50']:>+8.2f} {r['p99'] - a['p99']:>+8.2f}"
                    print(f"{'':>11} {'ratio':>8} {r['rps'] / a['rps']:>9.2f} {added}")
    finally:
        for portal in portals:
            portal.terminate()
            portal.wait()
        runtime.stop("demo/iris")
        if args.baseline:
            remove_checkout(data_dir / "baseline")
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
