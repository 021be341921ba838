from rest_framework import status as http
from rest_framework.response import Response

# The HTTP status of each word of the envelope (the OpenAPI schema documents the same).
HTTP_STATUS = {
    "OK": http.HTTP_200_OK,
    "CREATED": http.HTTP_201_CREATED,
    "PATCHED": http.HTTP_200_OK,
    "DELETED": http.HTTP_200_OK,
}


def envelope(word, data):
    """The reference success body: {"status": "CREATED"|"OK"|"PATCHED"|"DELETED", "data": ...}."""
    return Response({"status": word, "data": data}, status=HTTP_STATUS[word])
