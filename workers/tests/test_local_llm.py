"""Language models in the local runtime: a version holding one GGUF file is served by
llama-cpp-python's OpenAI-compatible server (the real one, built in the user's cache, with the tiny
model made on this machine), supervised and isolated like MLServer's replicas; and end to end, an
uploaded GGUF model answers the `openai` SDK through the gateway's /v1/ surface."""

import os
import shutil
import signal

import openai
import pytest
from django.conf import settings
from django.core.management import call_command

from core.phase import Phase
from endpoints.models import Endpoint
from endpoints.tasks import sync_endpoint_status
from identity.models import PersonalAccessToken
from models_store.tests.conftest import upload_file
from testinfra.fixtures import wait_until
from testinfra.llm import tiny_model
from workers.backends.local import LocalOrchestrator
from workers.backends.local_models import served_model
from workers.backends.local_runtime import LocalRuntime, _alive
from workers.backends.model_servers import LLAMA_CPP
from workers.backends.targets import EndpointTarget, ModelFiles
from workers.errors import PermanentError
from workers.tests.test_local_isolation import SECRETS, environment_of


@pytest.fixture(scope="module")
def tiny():
    return tiny_model()


@pytest.fixture
def runtime(tmp_path):
    runtime = LocalRuntime(
        tmp_path / "runtime",
        settings.MODELPORT_MLSERVER,
        llama_python=settings.MODELPORT_LLAMA_PYTHON,
    )
    yield runtime
    for key in runtime.endpoint_keys():
        runtime.stop(key)


def version_folder(parent, tiny):
    folder = parent / "version"
    folder.mkdir()
    shutil.copy(tiny, folder / "tiny-chat.gguf")
    (folder / "README.txt").write_text("not a model")
    return folder


def running(runtime, key):
    def check():
        status = runtime.supervise(key)
        return status if status.running == 1 else None

    return wait_until(check, timeout=60, interval=0.3, message="a running replica")


def chat(url, model="anything"):
    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    return client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Hello"}], max_tokens=8, seed=1
    )


def test_a_gguf_file_is_served_by_llama_cpp(tmp_path, tiny):
    model = served_model("tiny-chat", 2, version_folder(tmp_path, tiny))
    assert (model.name, model.version, model.implementation) == ("tiny-chat", "2", LLAMA_CPP)
    assert model.uri.endswith("tiny-chat.gguf")


def test_the_model_answers_the_openai_api_under_the_endpoints_name(runtime, tmp_path, tiny):
    model = served_model("tiny-chat", 1, version_folder(tmp_path, tiny))
    runtime.ensure("demo/chat", [model], replicas=1)
    [url] = running(runtime, "demo/chat").urls

    client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    assert [m.id for m in client.models.list()] == ["chat"]
    answer = chat(url)
    assert answer.choices[0].finish_reason in ("length", "stop")
    assert answer.usage.prompt_tokens > 0
    # Its model folder holds its own file, nothing else (no MLServer settings, no README).
    repository = runtime.root / "demo" / "chat" / "models"
    assert [p.name for p in repository.rglob("*") if p.is_file()] == ["tiny-chat.gguf"]


def test_a_killed_language_model_server_comes_back(runtime, tmp_path, tiny):
    runtime.ensure("demo/chat", [served_model("chat", 1, version_folder(tmp_path, tiny))], 1)
    running(runtime, "demo/chat")
    pid = runtime._replicas("demo/chat")[0].pid
    os.killpg(pid, signal.SIGKILL)
    wait_until(lambda: not _alive(pid, "demo/chat"), message="the process to die")
    status = runtime.supervise("demo/chat")
    assert (status.running, status.failed) == (0, 1)
    assert "The model server crashed once; it starts again in" in status.message
    second = running(runtime, "demo/chat")
    assert runtime._replicas("demo/chat")[0].pid != pid
    assert chat(second.urls[0]).choices


def test_a_language_model_server_gets_no_portal_secret(runtime, tmp_path, tiny, monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    runtime.ensure("demo/chat", [served_model("chat", 1, version_folder(tmp_path, tiny))], 1)
    running(runtime, "demo/chat")
    pid = runtime._replicas("demo/chat")[0].pid
    env = environment_of(pid)
    assert set(env) == {"PATH", "LANG", "HOME", "PYTHONDONTWRITEBYTECODE"}
    home = runtime.root / "demo" / "chat" / "home"
    assert env["HOME"] == str(home)
    assert os.readlink(f"/proc/{pid}/cwd") == str(home)


def store_version(name, version, *files):
    """Files of `name` version `version` in tenant demo's storage, as the orchestrator reads
    them; returns their ModelFiles."""
    folder = settings.DATA_DIR / "storage" / "demo" / name / str(version)
    folder.mkdir(parents=True)
    for file in files:
        shutil.copy(file, folder / file.name)
    return ModelFiles(name, version, "demo", f"{name}/{version}")


def test_the_orchestrator_reports_a_language_model_endpoint_running(tiny):
    orchestrator = LocalOrchestrator()
    target = EndpointTarget("demo", "chat", 1, models=[store_version("chat", 1, tiny)])
    orchestrator.apply_endpoint(target)
    try:

        def seen():
            status = orchestrator.endpoint_statuses({("demo", "chat"): 1})["demo", "chat"]
            return status if status.running == 1 else None

        status = wait_until(seen, timeout=60, interval=0.3, message="the endpoint to run")
        assert (status.available, status.failed, status.failure) == (1, 0, "")
        [url] = orchestrator.endpoint_backends(target)
        assert chat(url).choices
    finally:
        orchestrator.delete_endpoint("demo", "chat")


def test_an_endpoint_serves_one_language_model_alone(tmp_path, tiny):
    iris = tmp_path / "model.joblib"
    iris.write_bytes(b"a scikit-learn model")  # never loaded: the mix is refused before
    orchestrator = LocalOrchestrator()
    chat_1, chat_2 = store_version("chat", 1, tiny), store_version("chat", 2, tiny)
    mixed = EndpointTarget("demo", "mixed", 1, models=[chat_1, store_version("iris", 1, iris)])
    with pytest.raises(PermanentError) as mix:
        orchestrator.apply_endpoint(mixed)
    assert str(mix.value) == (
        "An endpoint serves a GGUF language model alone, but this one's version policy selects "
        "chat version 1 (GGUF), iris version 1; choose a policy that selects one version, such "
        "as {latest {}}."
    )
    with pytest.raises(PermanentError, match=r"selects chat version 1 \(GGUF\), chat version 2"):
        orchestrator.apply_endpoint(EndpointTarget("demo", "both", 1, models=[chat_1, chat_2]))
    assert orchestrator.runtime.endpoint_keys() == []


def test_a_missing_language_model_server_names_the_command_that_builds_it(tiny, settings):
    settings.MODELPORT_LLAMA_PYTHON = str(settings.DATA_DIR / "nowhere" / "bin" / "python")
    target = EndpointTarget("demo", "chat", 1, models=[store_version("chat", 1, tiny)])
    with pytest.raises(PermanentError, match="`make llm-server` builds it"):
        LocalOrchestrator().apply_endpoint(target)


@pytest.mark.django_db(transaction=True)
def test_an_uploaded_gguf_model_answers_the_openai_sdk_through_the_gateway(
    make_user, admin_api, client_for, gateway_url, tiny
):
    call_command("seed_serving_templates")  # transactional tests start with empty tables
    created = admin_api.post("/tenants", {"name": "demo", "scope": "team"}, format="json")
    assert created.status_code == 201
    user = make_user("bob", groups=["team"])
    api, token = client_for(user), PersonalAccessToken.issue(user)[1]
    try:
        done = upload_file(api, "demo", "tiny-chat", 1, "tiny-chat.gguf", [tiny.read_bytes()])
        assert done.status_code == 200, done.json()
        body = {
            "endpointName": "tiny-chat",
            "modelName": "tiny-chat",
            "servingName": "mlserver",
            "subjectName": "client",
            "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}},
        }
        assert api.post("/tenants/demo/endpoints", body, format="json").status_code == 201

        def ready():
            sync_endpoint_status.apply().get()
            return Endpoint.objects.get(name="tiny-chat").phase == Phase.READY

        wait_until(ready, timeout=60, message="the endpoint to be Ready")
        client = openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=token, max_retries=0)
        assert [m.id for m in client.models.list()] == ["demo/tiny-chat"]
        stream = client.chat.completions.create(
            model="demo/tiny-chat",
            messages=[{"role": "user", "content": "Say hello"}],
            max_tokens=10,
            seed=1,
            stream=True,
        )
        pieces = [c.choices[0].delta.content or "" for c in stream if c.choices]
        assert "".join(pieces)
    finally:
        LocalOrchestrator().runtime.stop_all()
