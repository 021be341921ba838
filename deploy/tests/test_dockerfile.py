"""The image cannot be built here (no container engine, and no registry to pull its base image
from), so what can be checked without one is: every file it copies exists, the user it runs as is
the one the chart and the manifests ask for, and its command is the product's own."""

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"


def instructions():
    lines = DOCKERFILE.read_text().replace("\\\n", " ").splitlines()
    return [
        line.split(None, 1) for line in lines if line.strip() and not line.lstrip().startswith("#")
    ]


def test_every_file_the_image_copies_is_in_the_checkout():
    copied = [args.split()[:-1] for keyword, args in instructions() if keyword == "COPY"]
    assert copied, "the Dockerfile copies nothing"
    for sources in copied:
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: not in the checkout"


def test_the_image_runs_as_the_user_the_chart_and_the_manifests_ask_for():
    (user,) = [args.strip() for keyword, args in instructions() if keyword == "USER"]
    helpers = (ROOT / "deploy" / "chart" / "templates" / "_helpers.tpl").read_text()
    assert re.search(rf"runAsUser: {user}\b", helpers)
    manifests = yaml.safe_load_all((ROOT / "deploy" / "kubernetes" / "modelport.yaml").read_text())
    users = {
        doc["spec"]["template"]["spec"]["securityContext"]["runAsUser"]
        for doc in manifests
        if doc and doc["kind"] == "Deployment"
    }
    assert users == {int(user)}


def test_the_images_command_is_the_products_serve_command():
    (command,) = [args for keyword, args in instructions() if keyword == "CMD"]
    argv = yaml.safe_load(command)  # JSON form
    assert argv[:3] == ["python", "manage.py", "serve"]
    helped = subprocess.run(
        [sys.executable, "manage.py", *argv[2:], "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert helped.returncode == 0, helped.stderr
    assert "--host" in helped.stdout
