"""The OpenAI-compatible surface of the gateway: `/v1/models`, `/v1/chat/completions`,
`/v1/completions` and `/v1/embeddings`, for the `openai` SDK and everything built on it.

`model` names an endpoint: `<tenant>/<endpoint>`, or `<endpoint>` when the caller belongs to one
tenant (an application's key always does). The call then goes the way of every gateway call
(credential, subscription, plan limits, a replica, usage), with the body's `model` replaced by
the endpoint's name, the name its model server serves under. `/v1/models` lists exactly what the
caller may call: each tenant's grant decides both (`Grant.allows`).

Streams (`stream: true`) pass through event by event as the model server sends them. The gateway
asks the model server for the final usage chunk (`stream_options.include_usage`) and strips it
again when the caller did not ask for it; a server that sends none (llama-cpp-python's) has its
completion tokens counted one per content chunk and its prompt estimated from above (one
token per byte of text, plus what a chat template may add).
Errors have OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.

Under a plan with token budgets (gateway.budgets) a call reserves its prompt estimate and the
completion tokens it may have (its max_tokens within the plan's cap, no more than the budgets
hold) before it is forwarded, and the model server is asked for no more than that. A stream
that goes on producing anyway is cut off there: a last chunk with finish_reason "length", the
usage chunk if the caller asked for it, an error event, and [DONE].
"""

import json

from asgiref.sync import sync_to_async

from gateway.proxy import (
    LANGUAGE_MODEL_CALLS,
    PROTECTIVE_RESPONSE_HEADERS,
    GatewayError,
    TtlCache,
    credential,
)
from gateway.tokens import TokenScan, Usage, reported_usage

PREFIX = "/v1/"
# Prompt tokens a chat template may add per message (role markers, separators), and once for
# the reply's start, over the messages' own text: the upper estimate budgets reserve.
TEMPLATE_TOKENS_PER_MESSAGE = 32
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


def error_body(error):
    """An error in OpenAI's shape."""
    kind = _ERROR_TYPES.get(error.status, "api_error" if error.status >= 500 else "error")
    body = {"message": error.message, "type": kind, "param": None, "code": error.code}
    return json.dumps({"error": body}).encode()


class OpenAiErrors:
    """The surface of a call that fails before it names a model: errors in OpenAI's shape."""

    error_body = staticmethod(error_body)


class OpenAiSurface(OpenAiErrors):
    """A model call: `body` (the caller's, `model` already the endpoint's name) is forwarded
    with its max_tokens within the plan and the reservation; the answer is read by an
    EventScan (a stream) or a TokenScan."""

    def __init__(self, path, body):
        self.body = body
        self.completes = path != "/v1/embeddings"
        self.asked = _max_tokens(body)
        self.caller_wants_usage = True
        if body.get("stream") is True:
            options = body.get("stream_options")
            options = options if isinstance(options, dict) else {}
            self.caller_wants_usage = options.get("include_usage") is True
            body["stream_options"] = {**options, "include_usage": True}
        self.prompt_estimate = estimate_prompt_tokens(body)

    def tokens_wanted(self, limits):
        """The prompt tokens (an upper estimate) and completion tokens to reserve."""
        completion = limits.completion_tokens(self.asked) if self.completes else 0
        return self.prompt_estimate, completion

    def request(self, scope, receive, limits, reservation):
        """The call as it is forwarded: the body, asking for no more completion tokens than the
        plan and the reservation allow, and its headers."""
        body = self.body
        if self.completes and limits is not None:
            allowed = (
                reservation.completion
                if reservation is not None
                else limits.completion_tokens(self.asked)
            )
            body = {**body, "max_tokens": allowed}
            if "max_completion_tokens" in body:
                body["max_completion_tokens"] = allowed
        forwarded = json.dumps(body).encode()
        headers = [
            (k, v)
            for k, v in scope["headers"]
            if k not in (b"content-length", b"transfer-encoding", b"accept-encoding")
        ]
        # The answer is read (and a stream edited) on its way: ask for it uncompressed.
        headers += [
            (b"content-length", str(len(forwarded)).encode()),
            (b"accept-encoding", b"identity"),
        ]

        async def replay():
            return {"type": "http.request", "body": forwarded, "more_body": False}

        return {**scope, "headers": headers, "query_string": b""}, replay

    def scan(self, headers, reservation):
        content_type = headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type == "text/event-stream":
            return EventScan(self.caller_wants_usage, self.prompt_estimate, reservation)
        return TokenScan(headers)


class EventScan:
    """Reads a server-sent event stream as it passes, one whole event at a time: the usage chunk
    the caller did not ask for is left out, the tokens are counted, and with a `reservation`
    the stream is held to it."""

    def __init__(self, caller_wants_usage, prompt_estimate, reservation=None):
        self.caller_wants_usage = caller_wants_usage
        self.prompt_estimate = prompt_estimate
        self.reservation = reservation
        self.pending = b""
        self.reported = None
        self.content_chunks = 0
        self.last_chunk = {}
        self.cut = False

    def feed(self, chunk):
        self.pending += chunk
        passed = []
        while not self.cut:
            end, separator = _event_end(self.pending)
            if end < 0:
                break
            event = self.pending[: end + len(separator)]
            self.pending = self.pending[end + len(separator) :]
            passed.append(self._pass(event, separator))
        return b"".join(passed)

    def finish(self):
        rest, self.pending = self.pending, b""
        return b"" if self.cut else rest

    def _pass(self, event, separator):
        """What to send on for one event: the event, nothing, (at the end of a stream the caller
        asked usage of, when the server sent none) the gateway's count then the end, or (over
        budget) the stream's end."""
        data = b"\n".join(
            line[5:].strip() for line in event.splitlines() if line.startswith(b"data:")
        )
        if data == b"[DONE]" and self.caller_wants_usage and self.reported is None:
            return self._usage_event(separator) + event
        try:
            chunk = json.loads(data) if data and data != b"[DONE]" else None
        except ValueError:
            chunk = None
        if not isinstance(chunk, dict):
            return event
        self.last_chunk = {k: chunk[k] for k in ("id", "object", "created", "model") if k in chunk}
        content = _content_tokens(chunk)
        held = self.reservation
        if held is not None and held.windows and self.content_chunks + content > held.completion:
            return self._cut_off(separator)
        self.content_chunks += content
        return event if self._keep(chunk) else b""

    def _cut_off(self, separator):
        """The end of a stream whose budget is used up: a last chunk that says "length", the
        usage if asked for, an error event, and [DONE]."""
        self.cut = True
        chat = self.last_chunk.get("object") == "chat.completion.chunk"
        last = {"index": 0, "finish_reason": "length", **({"delta": {}} if chat else {"text": ""})}
        events = [{**self.last_chunk, "choices": [last]}]
        granted = self.reservation.completion
        if granted < self.reservation.wanted:
            error = GatewayError(
                429,
                "token_budget_exhausted",
                f"The application's token budget allowed this answer {granted} tokens: it was "
                "cut off there.",
            )
        else:
            error = GatewayError(
                502,
                "max_tokens_exceeded",
                f"The model server went on past max_tokens ({granted}): the answer was cut off "
                "there.",
            )
        ended = b"".join(b"data: " + json.dumps(e).encode() + separator for e in events)
        if self.caller_wants_usage:
            ended += self._usage_event(separator)
        return ended + b"data: " + error_body(error) + separator + b"data: [DONE]" + separator

    def _usage_event(self, separator):
        counted = {**self.last_chunk, "choices": [], "usage": self._usage_object()}
        return b"data: " + json.dumps(counted).encode() + separator

    def _usage_object(self):
        usage = self.usage
        return {
            "prompt_tokens": usage.prompt,
            "completion_tokens": usage.completion,
            "total_tokens": usage.total,
        }

    def _keep(self, chunk):
        choices = chunk.get("choices") or []
        usage = reported_usage(chunk.get("usage"))
        if usage is not None:
            self.reported = usage
            # The usage chunk has no choices; one the caller did not ask for is not sent.
            return self.caller_wants_usage or bool(choices)
        return True

    @property
    def usage(self):
        if self.reported is not None:
            return self.reported
        return Usage(self.prompt_estimate, self.content_chunks)


def _content_tokens(chunk):
    """The tokens a chunk carries, as counted here: one per choice with text."""
    counted = 0
    for choice in chunk.get("choices") or []:
        if not isinstance(choice, dict):
            continue
        delta = choice.get("delta")
        text = delta.get("content") if isinstance(delta, dict) else choice.get("text")
        counted += bool(text)
    return counted


def _max_tokens(body):
    """The completion tokens the call asks for at most (None: it does not say)."""
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise invalid(f"`{name}` must be a whole number of at least 1.", "invalid_max_tokens")
        return value
    return None


def _event_end(buffer):
    """Where the first complete event in `buffer` ends, and its blank-line separator."""
    found = [(buffer.find(sep), sep) for sep in (b"\n\n", b"\r\n\r\n") if sep in buffer]
    return min(found) if found else (-1, b"")


def _prompt_text(body):
    """The text a request sends to the model, for an estimate of its tokens."""
    parts = []
    for message in body.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts += [p.get("text", "") for p in content if isinstance(p, dict)]
    for field in ("prompt", "input"):
        value = body.get(field)
        parts += (
            [value] if isinstance(value, str) else [v for v in value or [] if isinstance(v, str)]
        )
    return "".join(p for p in parts if isinstance(p, str))


def estimate_prompt_tokens(body):
    """At least the prompt tokens any byte-level tokenizer (BPE, or SentencePiece with byte
    fallback) makes of the request: one per byte of its text, plus what a chat template adds."""
    text = _prompt_text(body).encode()
    messages = body.get("messages")
    turns = len(messages) + 1 if isinstance(messages, list) else 0
    return len(text) + TEMPLATE_TOKENS_PER_MESSAGE * turns


def invalid(message, code="invalid_request"):
    return GatewayError(400, code, message)


class OpenAiGateway:
    """Serves /v1/ for the Gateway it belongs to (which owns the caches, the client session, the
    limiter and the usage counters).

    `caller_tenants(headers)` returns the names of the tenants the caller belongs to (an
    application's key: its one tenant); `catalogue(headers)` the `(tenant, endpoint, created)`
    the caller may call. Both are synchronous (ORM) and run in a thread; `caller_tenants` is
    cached like the grants."""

    def __init__(self, gateway, caller_tenants, catalogue):
        self.gateway = gateway
        self.caller_tenants = sync_to_async(caller_tenants, thread_sensitive=False)
        self.catalogue = sync_to_async(catalogue, thread_sensitive=False)
        self.tenants_cache = TtlCache(gateway.auth_cache.seconds)

    async def __call__(self, scope, receive, send):
        surface = OpenAiErrors()
        try:
            path, method = scope["path"], scope["method"]
            if path in LANGUAGE_MODEL_CALLS:
                if method != "POST":
                    raise GatewayError(405, "method_not_allowed", f"{path} takes POST.")
                await self._model_call(scope, receive, send)
                return
            if path == "/v1/models" or path.startswith("/v1/models/"):
                if method != "GET":
                    raise GatewayError(405, "method_not_allowed", f"{path} takes GET.")
                await self._models(scope, send, path[len("/v1/models/") :])
                return
            raise GatewayError(
                404,
                "not_found",
                f"The gateway serves {', '.join(LANGUAGE_MODEL_CALLS)} and /v1/models; not {path}.",
            )
        except GatewayError as error:
            await self.gateway._error(send, error, surface)

    async def _models(self, scope, send, wanted):
        self.gateway.check_csrf(scope)
        listed = [
            {
                "id": f"{tenant}/{endpoint}",
                "object": "model",
                "created": created,
                "owned_by": tenant,
            }
            for tenant, endpoint, created in await self.catalogue(scope["headers"])
        ]
        if wanted:
            found = next((m for m in listed if wanted in (m["id"], m["id"].split("/", 1)[1])), None)
            if found is None:
                raise _model_not_found(wanted)
            body = found
        else:
            body = {"object": "list", "data": listed}
        await _send_json(send, 200, body)

    async def _model_call(self, scope, receive, send):
        gateway = self.gateway
        body = await self._read_body(scope, receive)
        name = body.get("model")
        if not isinstance(name, str) or not name:
            raise invalid("`model` is required: the endpoint to call, as <tenant>/<endpoint>.")
        gateway.check_csrf(scope)
        headers = scope["headers"]
        tenant, endpoint = await self._target(headers, name)
        try:
            grant = await gateway.grant(headers, tenant)
            # Unknown (404) before unsubscribed (403): both are in the caller's own tenant.
            urls = await gateway.backend_cache.get(
                (tenant, endpoint), lambda: gateway.backends(tenant, endpoint)
            )
            if not grant.allows(endpoint):
                raise grant.refusal(endpoint)
        except GatewayError as error:
            # An unknown tenant or endpoint is an unknown model, in the same words.
            if error.code in ("tenant_not_found", "endpoint_not_found"):
                raise _model_not_found(name) from None
            raise
        body["model"] = endpoint
        surface = OpenAiSurface(scope["path"], body)
        await gateway._call(
            scope, receive, send, (tenant, endpoint, scope["path"]), grant, urls, surface
        )

    async def _target(self, headers, name):
        if "/" in name:
            tenant, _, endpoint = name.partition("/")
            if not tenant or not endpoint or "/" in endpoint:
                raise _model_not_found(name)
            return tenant, endpoint
        tenants = await self.tenants_cache.get(
            (credential(headers),), lambda: self.caller_tenants(headers)
        )
        if len(tenants) != 1:
            raise GatewayError(
                404,
                "model_not_found",
                f"There is no model {name!r} without its tenant: you belong to "
                f"{len(tenants)} tenants, so name it <tenant>/{name} (GET /v1/models lists them).",
            )
        return tenants[0], name

    async def _read_body(self, scope, receive):
        limit = self.gateway.max_body
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length and (not length.isdigit() or int(length) > limit):
            raise GatewayError(413, "request_too_large", self.gateway._too_large())
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise GatewayError(499, "client_closed", "The caller went away.")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise GatewayError(413, "request_too_large", self.gateway._too_large())
            chunks.append(chunk)
            more = message.get("more_body", False)
        try:
            body = json.loads(b"".join(chunks))
        except ValueError:
            raise invalid("The request body is not JSON.", "invalid_json") from None
        if not isinstance(body, dict):
            raise invalid("The request body must be a JSON object.", "invalid_json")
        return body


def _model_not_found(name):
    return GatewayError(
        404,
        "model_not_found",
        f"The model {name!r} does not exist or you may not call it; GET /v1/models lists those "
        "you may call.",
    )


async def _send_json(send, status, body):
    raw = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(raw)).encode()),
        *PROTECTIVE_RESPONSE_HEADERS,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": raw})
