"""The model pages are tested with the model store API's people, tenants and both storage
backends."""

from models_store.tests.conftest import (  # noqa: F401 - fixtures
    editor,
    editor_api,
    other_tenant,
    store,
    tenant,
    viewer_api,
)
