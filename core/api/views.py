from rest_framework.settings import api_settings
from rest_framework.views import APIView

from core.errors import CoreErrorCode, Invalid


class ApiView(APIView):
    """Base for the management API views: envelope errors, strict bodies, paginated lists."""

    pagination_class = api_settings.DEFAULT_PAGINATION_CLASS

    def body(self, serializer_class, data=None):
        """The request body (or `data`) as `serializer_class` validates it. Fields the
        serializer does not know are refused first, so a typo is a 400 and never silently
        ignored."""
        data = self.request.data if data is None else data
        if not isinstance(data, dict):
            raise Invalid(
                CoreErrorCode.MALFORMED_REQUEST, "The request body must be a JSON object."
            )
        known = serializer_class().fields
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise Invalid(
                CoreErrorCode.UNKNOWN_FIELD,
                f"Unknown field {unknown[0]!r}; expected some of: {', '.join(sorted(known))}.",
                fields={name: ["Unknown field."] for name in unknown},
            )
        serializer = serializer_class(data=data, context={"request": self.request, "view": self})
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def paginate(self, key, queryset, to_item):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, self.request, view=self)
        return paginator.get_enveloped_response(key, [to_item(obj) for obj in page])
