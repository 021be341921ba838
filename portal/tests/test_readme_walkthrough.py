"""The README's "Serve your own model" runs as written: its shell block, against a fresh `make
run` (the product with its demo), from the repository's folder, with only the address changed
to the test's port and the CLI's credentials kept in the test's folder. So does the Quick start's
chat with the demo's tiny-chat through the `openai` SDK."""

import re
import subprocess
from pathlib import Path

import pytest

from testinfra.fixtures import wait_until

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e


def walkthrough():
    """The first shell block after the heading "## Serve your own model"."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Serve your own model\n", 1)[1]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def test_the_readme_walkthrough_serves_a_model_of_ones_own(embedded_product, tmp_path):
    script = walkthrough()
    assert "127.0.0.1:8000" in script
    product = embedded_product(demo=True)
    environment = {
        **product.environment,
        "MODELPORT_CONFIG": str(tmp_path / "credentials.json"),
    }
    model_file = ROOT / "wine.joblib"
    try:
        run = subprocess.run(
            [
                "bash",
                "-c",
                "set -euo pipefail\n" + script.replace("127.0.0.1:8000", product.url[7:]),
            ],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=900,
        )
    finally:
        model_file.unlink(missing_ok=True)
    shown = f"stdout:\n{run.stdout}\nstderr:\n{run.stderr}\nproduct:\n{product.output()[-3000:]}"
    assert run.returncode == 0, shown
    # The metadata names the model's 13 features, the prediction is the first wine's class (0),
    # and the usage table counts the application's two calls.
    assert '"shape":[-1,13]' in run.stdout.replace(" ", ""), shown
    assert re.search(
        r'"outputs":\[\{"name":"predict".*"data":\[0\]', run.stdout.replace(" ", "")
    ), shown
    lines = run.stdout.splitlines()
    header = lines.index("TIME                  REQUESTS  ERRORS  P50_MS  P99_MS  TOKENS")
    hours = [line.split() for line in lines[header + 1 :]]  # two, if the calls straddle an hour
    assert sum(int(hour[1]) for hour in hours) == 2, shown
    assert sum(int(hour[2]) for hour in hours) == 0, shown


def test_the_quick_starts_chat_streams_from_tiny_chat(embedded_product):
    readme = (ROOT / "README.md").read_text()
    quick_start = readme.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    [script] = [b for b in re.findall(r"```sh\n(.*?)```", quick_start, re.S) if "openai" in b]
    product = embedded_product(demo=True)
    # The data folder is the product's, not .modelport: the token's path is what the test moves.
    script = script.replace("127.0.0.1:8000", product.url[7:]).replace(
        ".modelport/demo-token", str(product.data_dir / "demo-token")
    )

    def streamed():
        run = subprocess.run(
            ["bash", "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        # 503 until the endpoint's model server is ready; then the stream's text (character
        # soup, now and then empty), ended by a newline.
        return run if run.returncode == 0 else None

    run = wait_until(streamed, timeout=120, interval=2, message="the chat to stream")
    assert run.stdout.endswith("\n"), run.stderr
