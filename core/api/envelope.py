from rest_framework import status as http
from rest_framework.response import Response

_HTTP_STATUS = {"OK": http.HTTP_200_OK, "CREATED": http.HTTP_201_CREATED}


def envelope(word, data):
    """The reference success body: {"status": "CREATED"|"OK"|"PATCHED"|"DELETED", "data": ...}."""
    return Response({"status": word, "data": data}, status=_HTTP_STATUS.get(word, http.HTTP_200_OK))
