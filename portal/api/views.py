from rest_framework.settings import api_settings
from rest_framework.views import APIView

from portal.api.exceptions import ApiError


class StrictBodyMixin:
    """Rejects fields the endpoint does not know, so a typo is a 400 and not silently ignored."""

    def reject_unknown_fields(self, data, known):
        if not isinstance(data, dict):
            raise ApiError("malformed_request", "The request body must be a JSON object.")
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ApiError(
                "unknown_field",
                f"Unknown field {unknown[0]!r}; expected some of: {', '.join(sorted(known))}.",
                fields={name: ["Unknown field."] for name in unknown},
            )


class ApiView(StrictBodyMixin, APIView):
    """Base for the management API views: envelope errors, strict bodies, paginated lists."""

    pagination_class = api_settings.DEFAULT_PAGINATION_CLASS

    def paginate(self, key, queryset, to_item):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, self.request, view=self)
        return paginator.get_enveloped_response(key, [to_item(obj) for obj in page])
