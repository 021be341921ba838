import os

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
# The portal's few static files (admin, browsable API, API docs) are served by this process.
application = ASGIStaticFilesHandler(get_asgi_application())
