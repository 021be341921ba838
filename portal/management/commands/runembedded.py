"""Run the embedded default: the ASGI web server and a Celery worker with embedded beat.

Each child runs in its own session, so this command alone decides when they stop: on Ctrl-C or
SIGTERM it asks each to stop, waits, and then kills whatever is left of their process groups.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management.base import BaseCommand

from endpoints.tasks import sync_endpoint_status
from workers.backends.local import LocalOrchestrator

STOP_GRACE_SECONDS = 20


class Command(BaseCommand):
    help = "Run the web server and the worker of the embedded default until Ctrl-C."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))

    def handle(self, host, port, **options):
        python = sys.executable
        commands = {
            "web": [
                python,
                "-m",
                "uvicorn",
                "portal.asgi:application",
                "--host",
                host,
                "--port",
                str(port),
                "--no-access-log",
            ],
            "worker": [
                python,
                "-m",
                "celery",
                "-A",
                "portal",
                "worker",
                "-B",
                "--loglevel",
                "INFO",
                "--concurrency",
                "2",
                "--hostname",
                "embedded@%h",
            ],
        }
        children = {
            name: subprocess.Popen(command, start_new_session=True)  # noqa: S603
            for name, command in commands.items()
        }
        stopping = False

        def stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        # Model servers stopped by the last Ctrl-C come back at the first status sync: ask for
        # one now rather than in MODELPORT_STATUS_SECONDS.
        sync_endpoint_status.delay()
        self.stdout.write(
            f"Modelport is running at http://{host}:{port}/ (data in {settings.DATA_DIR}).\n"
            f"  Portal:     http://{host}:{port}/ui/ (sign in as admin)\n"
            f"  API docs:   http://{host}:{port}/api/docs/\n"
            f"  Admin site: http://{host}:{port}/admin/\n"
            "Press Ctrl-C to stop."
        )
        try:
            while not stopping:
                exited = [name for name, child in children.items() if child.poll() is not None]
                if exited:
                    self.stderr.write(
                        f"{', '.join(exited)} stopped unexpectedly; stopping the rest."
                    )
                    break
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


def _signal_group(child, signum):
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signum)
