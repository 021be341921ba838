from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "portal"
    verbose_name = "Portal"

    def ready(self):
        # Registers the OpenAPI descriptions of our authentication classes.
        from portal.identity import schema  # noqa: F401
