from django.apps import AppConfig


class EndpointsConfig(AppConfig):
    name = "endpoints"

    def ready(self):
        # Django's way to connect receivers once the app registry is ready.
        from endpoints import receivers  # noqa: F401, PLC0415
