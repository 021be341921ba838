from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from testinfra.fixtures import KUBERNETES_VERSION

MANIFESTS = Path(__file__).resolve().parents[2] / "deploy" / "kubernetes"
DOCUMENTS = [
    pytest.param(doc, id=f"{path.name}:{doc['kind']}/{doc['metadata']['name']}")
    for path in sorted(MANIFESTS.glob("*.yaml"))
    for doc in yaml.safe_load_all(path.read_text())
    if doc
]


@pytest.mark.parametrize("document", DOCUMENTS)
def test_each_deploy_manifest_is_valid_kubernetes(document):
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
