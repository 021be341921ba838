from django.apps import AppConfig


class EndpointsConfig(AppConfig):
    name = "endpoints"

    def ready(self):
        from endpoints import signals  # noqa: F401 - connects the receivers
