"""The endpoint pages are tested with the endpoint API's people and rows."""

from endpoints.tests.conftest import (  # noqa: F401 - fixtures
    editor,
    editor_api,
    make_endpoint,
    tenant,
    viewer,
    viewer_api,
)
