"""The portal under uvicorn, its endpoints' replicas at addresses the benchmark names.

    MODELPORT_BENCH_BACKENDS='{"<endpoint>": ["http://127.0.0.1:<port>", ...]}' \\
        python bench/llm-gateway/portal_with_backends.py portal.asgi:application [uvicorn options]

Run from the source tree to serve (bench/llm-gateway/run.py runs it from this checkout and, with
--baseline, from the baseline's worktree). The model servers the benchmark measures against were
not started by an orchestrator, so the local orchestrator's answer to "where does this endpoint
run" (`endpoint_backends`, which the gateway asks through gateway.access) is replaced by that
mapping, as the gateway's tests do; everything else (credentials, plans, budgets, usage, the
proxy) is the portal's own code.
"""

import json
import os
import sys

# The tree being served comes first, not this script's folder.
sys.path.insert(0, os.getcwd())
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")

import django

django.setup()

import uvicorn  # noqa: E402

from workers.backends.local import LocalOrchestrator  # noqa: E402

BACKENDS = json.loads(os.environ["MODELPORT_BENCH_BACKENDS"])


def endpoint_backends(self, target):
    return list(BACKENDS.get(target.name, []))


LocalOrchestrator.endpoint_backends = endpoint_backends

if __name__ == "__main__":
    uvicorn.main()
