"""Run the embedded default: the ASGI web server and a Celery worker with embedded beat.

Each child runs in its own session, so this command alone decides when they stop: on Ctrl-C or
SIGTERM it asks each to stop, waits, and then kills whatever is left of their process groups. A
child that dies on its own is started again, after a pause that doubles with each crash in a row
(up to RESTART_CAP_SECONDS): one crashed process never takes the product down.
"""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand
from prometheus_client import multiprocess

from endpoints.models import Endpoint
from endpoints.tasks import sync_endpoint_status
from portal.demo import IRIS_SAMPLE, v2_request
from workers.backends.local import LocalOrchestrator

STOP_GRACE_SECONDS = 20
RESTART_CAP_SECONDS = 30
# A child that has run this long without dying is healthy again: its next crash counts as 1.
HEALTHY_AFTER_SECONDS = 60


class Command(BaseCommand):
    help = "Run the web server and the worker of the embedded default until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))

    def handle(self, host, port, **options):
        python, manage = sys.executable, settings.BASE_DIR / "manage.py"
        _share_metrics()
        commands = {
            "web": [python, str(manage), "serve", "--host", host, "--port", str(port)],
            "worker": [
                python,
                "-m",
                "celery",
                "-A",
                "portal",
                "worker",
                "-B",
                # Logging is settings.LOGGING's (LOG_LEVEL), as in the web server.
                "--concurrency",
                "2",
                "--hostname",
                "embedded@%h",
            ],
        }
        children = {name: _start(command) for name, command in commands.items()}
        started = dict.fromkeys(children, time.monotonic())
        crashes = dict.fromkeys(children, 0)
        restart_at = {}
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        # Model servers stopped by the last Ctrl-C come back at the first status sync: ask for
        # one now rather than in MODELPORT_STATUS_SECONDS.
        sync_endpoint_status.delay()
        self.stdout.write(summary(host, port))
        try:
            while not stopping:
                now = time.monotonic()
                for name, child in children.items():
                    if name in restart_at:
                        if now >= restart_at[name]:
                            del restart_at[name]
                            children[name], started[name] = _start(commands[name]), now
                        continue
                    if child.poll() is None:
                        continue
                    # Whatever is left of its group (a pool) goes before it starts again.
                    _signal_group(child, signal.SIGKILL)
                    multiprocess.mark_process_dead(child.pid)
                    healthy = now - started[name] > HEALTHY_AFTER_SECONDS
                    crashes[name] = 1 if healthy else crashes[name] + 1
                    delay = min(RESTART_CAP_SECONDS, 2 ** (crashes[name] - 1))
                    restart_at[name] = now + delay
                    self.stderr.write(
                        f"The {name} process stopped (exit code {child.returncode}); starting it "
                        f"again in {delay} s."
                    )
                time.sleep(0.5)
        finally:
            self._stop(children)

    def _stop(self, children):
        # The main processes shut their own helpers down (Celery's pool, say) when asked.
        for child in children.values():
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in children.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
        # Whatever is left in the children's groups (pool processes) goes now.
        for child in children.values():
            _signal_group(child, signal.SIGKILL)
            child.wait()
        # Model servers run in sessions of their own, so they outlive a worker restart; the
        # runtime knows them all. The next start brings them back through the reconcile.
        LocalOrchestrator().runtime.stop_all()
        self.stdout.write("Stopped.")


def _shown(path):
    """`path` relative to where the command runs, when it is below it (shorter to copy)."""
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def summary(host, port):
    """What `make run` ends with: where everything is, how to sign in, and a call to try."""
    base = f"http://{host}:{port}"
    password_file = settings.DATA_DIR / "admin-password"
    password = (
        f"password {password_file.read_text().strip()}, kept in {_shown(password_file)}"
        if password_file.exists()
        else "the password you set"
    )
    lines = [
        "",
        f"Modelport is running; its data is in {_shown(settings.DATA_DIR)}. Ctrl-C stops it.",
        f"  Portal      {base}/ui/  sign in as admin with {password}",
        f"  API docs    {base}/api/docs/",
        f"  Admin site  {base}/admin/",
        f"  Metrics     {base}/metrics",
    ]
    token = settings.DATA_DIR / "demo-token"
    if token.exists() and Endpoint.objects.filter(tenant__name="demo", name="iris").exists():
        body = json.dumps(v2_request(IRIS_SAMPLE))
        lines += [
            "  Predict     (once the demo endpoint is Ready, a few seconds from now)",
            f"    curl -s {base}/gateway/demo/iris/v2/models/iris/infer \\",
            f'      -H "Authorization: $(cat {_shown(token)})" \\',
            '      -H "Content-Type: application/json" \\',
            f"      -d '{body}'",
        ]
    if token.exists() and Endpoint.objects.filter(tenant__name="demo", name="tiny-chat").exists():
        # Flush left: a heredoc's end marker and Python's indentation must be copied as they are.
        lines += [
            "  Chat        (tiny-chat, a 0.7 MB model made here: it streams character soup) with",
            "              the openai SDK, in the portal's virtualenv:",
            f"{_shown(Path(sys.executable))} - <<'EOF'",
            "from openai import OpenAI",
            "client = OpenAI(",
            f'    base_url="{base}/v1",',
            f'    api_key=open("{_shown(token)}").read().strip(),  # the demo user\'s token',
            ")",
            "stream = client.chat.completions.create(",
            '    model="demo/tiny-chat",',
            '    messages=[{"role": "user", "content": "Say hello"}],',
            "    max_tokens=40,",
            "    stream=True,",
            ")",
            "for chunk in stream:",
            "    for choice in chunk.choices:",
            '        print(choice.delta.content or "", end="", flush=True)',
            "print()",
            "EOF",
        ]
    return "\n".join(lines) + "\n"


def _share_metrics():
    """The web server and the worker's processes count into one folder that GET /metrics sums
    (prometheus-client's multiprocess mode); it starts empty, as the counters do."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return  # the operator's choice
    folder = settings.DATA_DIR / "metrics"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)


def _start(command):
    return subprocess.Popen(command, start_new_session=True)  # noqa: S603 - our own commands


def _signal_group(child, signum):
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signum)
