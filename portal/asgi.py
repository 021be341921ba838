import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django_application = get_asgi_application()

# Imported once Django is set up: they use the ORM and the settings.
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from gateway.access import (  # noqa: E402
    authorize,
    caller_tenants,
    catalogue,
    check_csrf,
    endpoint_backends,
    store_usage,
)
from gateway.openai import OpenAiGateway  # noqa: E402
from gateway.proxy import Gateway  # noqa: E402
from portal.request_context import RequestContext  # noqa: E402
from portal.request_guard import RequestGuard  # noqa: E402

# Every request gets its id first; the portal's few static files (admin, browsable API, API
# docs) are served by this process; /gateway/ and the OpenAI-compatible /v1/ are served by the
# gateway before Django sees the request; every other request body is judged by the guard
# before Django reads it.
gateway = Gateway(
    RequestGuard(ASGIStaticFilesHandler(django_application)),
    authorize,
    endpoint_backends,
    store_usage,
    check_csrf,
)
gateway.mount("/v1/", OpenAiGateway(gateway, caller_tenants, catalogue))
application = RequestContext(gateway)
