from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "identity"

    def ready(self):
        # Registers the OpenAPI descriptions of our authentication classes, once the app
        # registry is ready.
        from identity import schema  # noqa: F401, PLC0415
