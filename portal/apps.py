from django.apps import AppConfig

from core.logs import carry_request_ids


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self):
        carry_request_ids()
