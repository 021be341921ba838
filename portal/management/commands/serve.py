"""Serve the portal (API, pages, admin site, gateway) over HTTP: uvicorn with the read timeouts
and the connection cap a server facing the Internet needs (portal/http_protocol.py). `make run`
starts it, and so does the image; behind a proxy, set FORWARDED_ALLOW_IPS to the proxy's address
so that X-Forwarded-For from it is believed (and from no one else)."""

import uvicorn
from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Serve the portal and the gateway over HTTP (uvicorn)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, host, port, **options):
        uvicorn.run(
            "portal.asgi:application",
            host=host,
            port=port,
            http="portal.http_protocol:TimedHttpProtocol",
            limit_concurrency=settings.MODELPORT_HTTP_MAX_CONNECTIONS,
            timeout_keep_alive=5,
            access_log=False,
        )
