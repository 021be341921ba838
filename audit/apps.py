from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"

    def ready(self):
        # Django's way to connect receivers once the app registry is ready.
        from audit import receivers  # noqa: F401, PLC0415
