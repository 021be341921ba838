"""The OpenAI-compatible surface (/v1/) with the `openai` SDK, a client nobody here wrote: models,
chat, streams, completions, embeddings, errors and limits, in front of a real language model
server (llama-cpp-python serving the tiny model made on this machine) behind a real uvicorn."""

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import openai
import pytest
import redis
import requests
from django.conf import settings

from applications.models import ApiKey, Application, Plan
from endpoints.models import Endpoint, ServingTemplate
from gateway.openai import estimate_prompt_tokens
from gateway.usage import query_usage
from identity.models import PersonalAccessToken
from tenants.models import Tenant, TenantBinding
from testinfra.fixtures import wait_until
from testinfra.llm import LlamaServer
from workers.backends.local import LocalOrchestrator

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_gateway")]


@pytest.fixture(scope="module")
def llm_server():
    with LlamaServer(alias="tiny-chat") as server:
        yield server


class _Runaway(BaseHTTPRequestHandler):
    """A fault: a model server that ignores max_tokens and streams RUNAWAY_CHUNKS chunks of one
    token each, a few milliseconds apart."""

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        base = {"id": "run", "object": "chat.completion.chunk", "created": 1, "model": "runaway"}
        events = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant"}}]}]
        events += [{**base, "choices": [{"index": 0, "delta": {"content": "x"}}]}] * RUNAWAY_CHUNKS
        events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        try:
            for event in events:
                self.wfile.write(b"data: " + json.dumps(event).encode() + b"\n\n")
                self.wfile.flush()
                time.sleep(0.002)
            self.wfile.write(b"data: [DONE]\n\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the gateway cut the stream off

    def log_message(self, *args):
        pass


RUNAWAY_CHUNKS = 60


@pytest.fixture(scope="module")
def runaway_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Runaway)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def tenants(make_user, llm_server, runaway_server, monkeypatch):
    """Tenant `demo` with endpoints tiny-chat (the language model), other-chat and runaway (a
    server that ignores max_tokens), tenant `lab` with one endpoint; `bob` belongs to demo,
    `ann` to both."""
    monkeypatch.setattr(
        LocalOrchestrator,
        "endpoint_backends",
        lambda self, target: [runaway_server if target.name == "runaway" else llm_server.url],
    )
    serving, _ = ServingTemplate.objects.get_or_create(name="mlserver")
    names = {"demo": ["tiny-chat", "other-chat", "runaway"], "lab": ["lab-chat"]}
    for name, endpoints in names.items():
        tenant = Tenant.objects.create(name=name, scope=f"{name}-team")
        TenantBinding.objects.create(tenant=tenant, group=f"{name}-team", role="editor")
        for endpoint in endpoints:
            Endpoint.objects.create(tenant=tenant, name=endpoint, model_name="m", serving=serving)
    return {
        "bob": PersonalAccessToken.issue(make_user("bob", groups=["demo-team"]))[1],
        "ann": PersonalAccessToken.issue(make_user("ann", groups=["demo-team", "lab-team"]))[1],
    }


def application_key(tenant="demo", endpoints=("tiny-chat",), **limits):
    plan = Plan.objects.create(name=f"plan-{Plan.objects.count()}", **limits)
    application = Application.objects.create(
        tenant=Tenant.objects.get(name=tenant), name="chat-app", plan=plan
    )
    application.endpoints.set(Endpoint.objects.filter(tenant__name=tenant, name__in=endpoints))
    return ApiKey.issue(application)[1]


def sdk(gateway_url, key, **options):
    return openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=key, max_retries=0, **options)


CHAT = [{"role": "user", "content": "Beautiful is better than"}]


def test_models_lists_exactly_what_the_key_may_call(gateway_url, tenants):
    key = application_key()
    assert [m.id for m in sdk(gateway_url, key).models.list()] == ["demo/tiny-chat"]
    member = [m.id for m in sdk(gateway_url, tenants["ann"]).models.list()]
    assert member == ["demo/other-chat", "demo/runaway", "demo/tiny-chat", "lab/lab-chat"]
    assert sdk(gateway_url, key).models.retrieve("tiny-chat").owned_by == "demo"
    with pytest.raises(openai.NotFoundError):
        sdk(gateway_url, key).models.retrieve("demo/other-chat")


@pytest.mark.parametrize("model", ["demo/tiny-chat", "tiny-chat"])
def test_chat_through_the_gateway(gateway_url, tenants, model):
    answer = sdk(gateway_url, application_key()).chat.completions.create(
        model=model, messages=CHAT, max_tokens=12, seed=1
    )
    assert answer.choices[0].message.role == "assistant"
    assert answer.usage.prompt_tokens > 0
    assert 0 < answer.usage.completion_tokens <= 12


def test_a_stream_arrives_chunk_by_chunk_without_a_usage_chunk_unless_asked(gateway_url, tenants):
    client = sdk(gateway_url, application_key())
    chunks = list(
        client.chat.completions.create(
            model="tiny-chat", messages=CHAT, max_tokens=10, seed=1, stream=True
        )
    )
    content = [c for c in chunks if c.choices and c.choices[0].delta.content]
    assert 1 < len(content) <= 10
    assert all(c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason in ("length", "stop")

    asked = list(
        client.chat.completions.create(
            model="tiny-chat",
            messages=CHAT,
            max_tokens=10,
            seed=1,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in asked if c.choices)
    assert text == "".join(c.choices[0].delta.content for c in content)
    # llama-cpp-python sends no usage chunk: the gateway's count comes last, as OpenAI's would.
    assert asked[-1].choices == []
    assert asked[-1].usage.completion_tokens == len(content)
    assert asked[-1].usage.prompt_tokens > 0
    assert all(c.usage is None for c in asked[:-1])


def test_completions_and_embeddings(gateway_url, tenants):
    client = sdk(gateway_url, tenants["bob"])
    completion = client.completions.create(
        model="demo/tiny-chat", prompt="Simple is", max_tokens=5, seed=1
    )
    assert completion.usage.completion_tokens > 0
    embedding = client.embeddings.create(model="demo/tiny-chat", input=["hello", "world"])
    assert [len(item.embedding) for item in embedding.data] == [64, 64]


def test_unknown_unsubscribed_and_ambiguous_models_in_openais_shape(gateway_url, tenants):
    key = application_key()
    with pytest.raises(openai.NotFoundError) as unknown:
        sdk(gateway_url, key).chat.completions.create(model="demo/nope", messages=CHAT)
    assert unknown.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError):  # another tenant's model is unknown to the key
        sdk(gateway_url, key).chat.completions.create(model="lab/lab-chat", messages=CHAT)
    with pytest.raises(openai.PermissionDeniedError) as unsubscribed:
        sdk(gateway_url, key).chat.completions.create(model="other-chat", messages=CHAT)
    assert unsubscribed.value.code == "endpoint_not_subscribed"
    with pytest.raises(openai.NotFoundError) as ambiguous:
        sdk(gateway_url, tenants["ann"]).chat.completions.create(model="tiny-chat", messages=CHAT)
    assert "name it <tenant>/tiny-chat" in ambiguous.value.message
    with pytest.raises(openai.AuthenticationError):
        sdk(gateway_url, "mpk_not-a-key").models.list()


def test_a_bad_body_is_a_400_in_openais_shape(gateway_url, tenants):
    headers = {"Authorization": f"Bearer {tenants['bob']}", "Content-Type": "application/json"}
    for body in (b"{not json", b"[]", json.dumps({"messages": CHAT}).encode()):
        response = requests.post(
            f"{gateway_url}/v1/chat/completions", data=body, headers=headers, timeout=10
        )
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert error["message"]


def test_a_plan_limit_is_a_429_with_retry_after(gateway_url, tenants):
    client = sdk(gateway_url, application_key(requests_per_minute=1))
    client.chat.completions.create(model="tiny-chat", messages=CHAT, max_tokens=2)
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(model="tiny-chat", messages=CHAT, max_tokens=2)
    assert int(limited.value.response.headers["Retry-After"]) >= 1
    assert limited.value.code == "rate_limited"


def test_prompt_and_completion_tokens_are_counted_for_usage(gateway_url, tenants):
    """A stream's server reports no usage: the gateway counts one completion token per chunk."""
    client = sdk(gateway_url, application_key())
    chunks = list(
        client.chat.completions.create(
            model="tiny-chat", messages=CHAT, max_tokens=8, seed=1, stream=True
        )
    )
    streamed = sum(1 for c in chunks if c.choices and c.choices[0].delta.content)
    answer = client.chat.completions.create(model="tiny-chat", messages=CHAT, max_tokens=8, seed=1)
    demo = Tenant.objects.get(name="demo")

    def totals():
        return query_usage(demo, {"application": "chat-app"}).totals

    wait_until(lambda: totals()["requests"] == 2, message="both calls counted")
    assert totals()["completion_tokens"] == streamed + answer.usage.completion_tokens
    estimate = estimate_prompt_tokens({"messages": CHAT})
    assert totals()["prompt_tokens"] == estimate + answer.usage.prompt_tokens
    assert totals()["tokens"] == totals()["prompt_tokens"] + totals()["completion_tokens"]


# --- budgets ----------------------------------------------------------------------------------


def counted(window):
    """The tokens a budget window (`td` the day's, `tm` the month's) holds for chat-app, in
    Redis."""
    application = Application.objects.get(name="chat-app")
    pattern = f"modelport:rl:application:{application.pk}:{window}:*"
    with redis.Redis.from_url(settings.REDIS_URL) as client:
        return sum(int(client.get(name) or 0) for name in client.scan_iter(pattern))


def stream(client, model, **options):
    """(content chunks, finish reason of the last choice, the error the stream ended with)."""
    chunks, finish, error = 0, None, None
    try:
        for chunk in client.chat.completions.create(
            model=model, messages=CHAT, stream=True, **options
        ):
            if chunk.choices:
                chunks += bool(chunk.choices[0].delta.content)
                finish = chunk.choices[0].finish_reason or finish
    except openai.APIError as exc:
        error = exc
    return chunks, finish, error


def test_a_stream_that_outruns_its_budget_is_cut_off_cleanly(gateway_url, tenants):
    prompt = estimate_prompt_tokens({"messages": CHAT})
    key = application_key(endpoints=("runaway",), tokens_per_day=prompt + 10)
    chunks, finish, error = stream(sdk(gateway_url, key), "runaway", max_tokens=100)
    assert (chunks, finish) == (10, "length")
    assert isinstance(error, openai.APIError)
    assert error.code == "token_budget_exhausted"
    wait_until(lambda: counted("td") == prompt + 10, message="the stream settled")


@pytest.mark.parametrize("model", ["runaway", "tiny-chat"])
def test_concurrent_streams_never_overspend_the_monthly_budget(gateway_url, tenants, model):
    """24 streams at once against a budget a few of them can use up: what is counted never goes
    over it, whether the model server keeps to max_tokens (tiny-chat) or not (runaway)."""
    budget = 700
    key = application_key(endpoints=(model,), tokens_per_month=budget)
    client = sdk(gateway_url, key)
    with ThreadPoolExecutor(24) as pool:
        results = list(pool.map(lambda _: stream(client, model, max_tokens=40, seed=1), range(24)))
    # Refused before it starts: a 429. Served: a stream, whole or cut off by an error event.
    refused = [r for r in results if isinstance(r[2], openai.RateLimitError)]
    cut_off = ("token_budget_exhausted", "max_tokens_exceeded")
    served = [r for r in results if r[2] is None or (r not in refused and r[2].code in cut_off)]
    assert len(refused) + len(served) == 24
    assert refused and served
    assert all(chunks <= 40 for chunks, _, _ in served)
    demo = Tenant.objects.get(name="demo")

    def totals():
        return query_usage(demo, {"application": "chat-app"}).totals

    wait_until(lambda: totals()["requests"] == 24, message="every call counted")
    wait_until(lambda: counted("tm") == totals()["tokens"], message="all settled")
    assert totals()["tokens"] <= budget


def test_a_call_is_held_to_the_plans_cap_and_told_its_limits(gateway_url, tenants):
    key = application_key(tokens_per_minute=100000, max_tokens_per_call=3)
    raw = sdk(gateway_url, key).chat.completions.with_raw_response.create(
        model="tiny-chat", messages=CHAT, max_tokens=50, seed=1
    )
    assert raw.parse().usage.completion_tokens <= 3
    assert raw.headers["RateLimit-Policy"] == '"tokens-minute";q=100000;qu="tokens";w=60'
    remaining = int(raw.headers["RateLimit"].split(";r=")[1].split(";")[0])
    prompt = estimate_prompt_tokens({"messages": CHAT})
    assert remaining == 100000 - prompt - 3


def test_a_budget_refusal_is_a_429_with_retry_after_in_openais_shape(gateway_url, tenants):
    prompt = estimate_prompt_tokens({"messages": CHAT})
    client = sdk(gateway_url, application_key(tokens_per_minute=prompt + 5))
    client.chat.completions.create(model="tiny-chat", messages=CHAT, max_tokens=5)
    with pytest.raises(openai.RateLimitError) as limited:
        for _ in range(3):  # until the first call has settled what it used
            client.chat.completions.create(model="tiny-chat", messages=CHAT, max_tokens=5)
    assert limited.value.code == "token_budget_exhausted"
    assert 1 <= int(limited.value.response.headers["Retry-After"]) <= 60
    with pytest.raises(openai.BadRequestError) as too_big:
        client.chat.completions.create(
            model="tiny-chat", messages=[{"role": "user", "content": "x" * 200}]
        )
    assert too_big.value.code == "exceeds_plan"


def test_budgets_cannot_be_skipped_through_the_v2_path(gateway_url, tenants):
    """/gateway/ reserves no tokens: an application with budgets makes its model calls on /v1/."""
    key = application_key(tokens_per_day=100000)
    body = json.dumps({"model": "tiny-chat", "messages": CHAT, "max_tokens": 2})
    for path in ("v1/chat/completions", "v1/%63hat/completions", "v1/completions/"):
        refused = requests.post(
            f"{gateway_url}/gateway/demo/tiny-chat/{path}",
            data=body,
            headers={"Authorization": key, "Content-Type": "application/json"},
            timeout=10,
        )
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "use_openai_api"
    member = requests.post(
        f"{gateway_url}/gateway/demo/tiny-chat/v1/chat/completions",
        data=body,
        headers={"Authorization": f"Bearer {tenants['bob']}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert member.status_code == 200
