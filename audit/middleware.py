from core import audit


class AuditContext:
    """Changes recorded while a request is served are that request's: its user (once the API
    or the session has authenticated it) through its door (core.audit.door_of)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = audit.serving(request)
        try:
            return self.get_response(request)
        finally:
            audit.done(token)
