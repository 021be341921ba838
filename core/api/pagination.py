from rest_framework.pagination import PageNumberPagination

from core.api.envelope import envelope


class EnvelopePagination(PageNumberPagination):
    """Page-number pagination that keeps the reference body and adds a `pagination` block:

    {"status": "OK", "data": {"<key>": [...]},
     "pagination": {"count", "page", "pages", "next", "previous"}}
    """

    page_size_query_param = "page_size"
    max_page_size = 1000

    def get_enveloped_response(self, key, items):
        response = envelope("OK", {key: items})
        response.data["pagination"] = {
            "count": self.page.paginator.count,
            "page": self.page.number,
            "pages": self.page.paginator.num_pages,
            "next": self.get_next_link(),
            "previous": self.get_previous_link(),
        }
        return response
