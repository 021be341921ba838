"""Streaming through the gateway's OpenAI-compatible /v1/ beside straight to the model server.

    make bench-llm-gateway        (or: .venv/bin/python bench/llm-gateway/run.py [--seconds 10]
                                   [--concurrency 1,8,32] [--baseline <git ref>])

Starts, in a temporary data folder, the portal under uvicorn (the embedded default: SQLite, the
local orchestrator, no Redis, so plan budgets are held in the gateway process's MemoryBudget) and
two model servers, then streams chat completions (`stream: true`) from N concurrent clients
(asyncio + aiohttp, the headers an SDK sends) for --seconds per path, in the same run:

- direct: straight to the model server;
- gateway member: POST /v1/chat/completions with a tenant member's token (no plan limits);
- gateway app: with an application's API key whose plan has a token budget (large enough never
  to refuse), so every call reserves its tokens and settles them afterwards.

The model servers:

1. tiny-chat, the real tiny language model (testinfra.llm.LlamaServer: llama-cpp-python's
   server), run as the local runtime runs it: it computes one answer at a time and a waiting
   call does not interrupt the one streaming (`--interrupt_requests false`), so concurrent
   calls queue (its streams/s and TTFT at concurrency 8 and 32 are its queue's) and every
   stream is a whole answer. `finished` counts the streams that reached a finish_reason.
2. An instrumented SSE server (a separate process, started by this script): each call streams
   --chunks chunks of one token, one every --interval-ms, in OpenAI's chat.completion.chunk
   shape, then [DONE]; every chunk carries `sent`, the wall-clock time it was written. The client
   notes each chunk's arrival, so `lag` = arrival - sent, and the gateway's added latency per
   chunk is its lag minus the direct lag (p50, p99 over all chunks). `growth` is the median lag
   of the last quarter of a stream's chunks minus that of the first quarter: a gateway that held
   chunks back would make early chunks wait for later ones. `intact` counts the streams whose
   chunks (less `sent` and `created`) are exactly what the server sent, in order, ending with
   one [DONE].

TTFT is from sending the request to the arrival of the first chunk with content. Targets: at
most 2 ms added to TTFT at p50, and no added buffering (chunks arrive as the backend sends them).

Everything runs on this machine's cores: the client, the gateway and the model servers compete
for them, so the figures are for this machine, not for a cluster. With --baseline, the gateway of
that git revision (in a temporary worktree, same virtualenv, database and model servers) is
measured in the same run.
"""

import argparse
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    checkout,
    embedded_portal,
    machine,
    remove_checkout,
    serve_portal,
    wait_for,
)

HERE = Path(__file__).resolve().parent
PORTAL_WITH_BACKENDS = HERE / "portal_with_backends.py"
TENANT = "demo"
LLM_ENDPOINT = "tiny-chat"
SSE_ENDPOINT = "sse"
MESSAGES = [{"role": "user", "content": "Beautiful is better than"}]
# Completion tokens asked of the language model per stream.
LLM_MAX_TOKENS = 16
# The headers the openai SDK's requests carry that matter here; aiohttp's own defaults
# (Accept-Encoding, User-Agent) are left out.
SDK_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
SKIP_AUTO_HEADERS = ("Accept-Encoding", "User-Agent")


# The instrumented SSE server (run as `run.py --serve-sse <port>`, in a process of its own).


def sse_events(model, count, include_usage):
    """The chunks the instrumented server streams for one call, without the times each is given
    when written (`created`, `sent`)."""
    base = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "model": model}

    def chunk(seq, delta, finish=None):
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return {**base, "seq": seq, "choices": [choice]}

    events = [chunk(0, {"role": "assistant", "content": ""})]
    events += [chunk(i + 1, {"content": f" t{i}"}) for i in range(count)]
    events.append(chunk(count + 1, {}, "stop"))
    if include_usage:
        usage = {"prompt_tokens": 8, "completion_tokens": count, "total_tokens": count + 8}
        events.append({**base, "seq": count + 2, "choices": [], "usage": usage})
    return events


def serve_sse(port, chunks, interval):
    async def models(request):
        return web.json_response({"object": "list", "data": [{"id": SSE_ENDPOINT}]})

    async def chat(request):
        body = await request.json()
        count = min(body.get("max_tokens") or chunks, chunks)
        options = body.get("stream_options") or {}
        events = sse_events(body.get("model"), count, options.get("include_usage") is True)
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        loop = asyncio.get_running_loop()
        start = loop.time()
        created = int(time.time())
        for event in events:
            seq = event["seq"]
            if 1 < seq <= count:
                # Paced by the schedule, not by the previous write: one late chunk does not
                # delay the ones after it.
                delay = start + (seq - 1) * interval - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            line = json.dumps({**event, "created": created, "sent": time.time()})
            await response.write(b"data: " + line.encode() + b"\n\n")
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/chat/completions", chat)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


# The client.


async def one_stream(session, url, headers, body):
    """(when it was sent, by perf_counter; the status; [(arrival by the wall clock, by
    perf_counter, the line)] of its `data:` lines)."""
    sent = time.perf_counter()
    async with session.post(url, data=body, headers=headers) as response:
        if response.status != 200:
            return sent, response.status, [(0, 0, await response.read())]
        lines = []
        async for line in response.content:
            if line.startswith(b"data:"):
                lines.append((time.time(), time.perf_counter(), line))
        return sent, 200, lines


async def load(url, headers, body, concurrency, seconds):
    """`concurrency` clients, each streaming one call after another for `seconds` (the calls
    under way then finish). Returns (the streams, the seconds they took)."""
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_read=300)
    async with aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        skip_auto_headers=SKIP_AUTO_HEADERS,
        auto_decompress=False,
    ) as session:
        streams = []
        started = time.perf_counter()
        deadline = started + seconds

        async def client():
            while time.perf_counter() < deadline:
                streams.append(await one_stream(session, url, headers, body))

        await asyncio.gather(*(client() for _ in range(concurrency)))
        return streams, time.perf_counter() - started


def percentile(values, percent):
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * percent / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def content_of(chunk):
    choices = chunk.get("choices") or []
    delta = choices[0].get("delta") if choices and isinstance(choices[0], dict) else None
    return delta.get("content") if isinstance(delta, dict) else None


def analyse(streams, seconds, expected=None):
    """The figures of one run; `expected`: the chunks the instrumented server sends per stream."""
    result = {
        "streams/s": 0.0,
        "errors": 0,
        "ttft": [],
        "lag": [],
        "early": [],
        "late": [],
        "chunks": [],
        "finished": 0,
        "intact": 0,
        "completed": 0,
    }
    for sent, status, lines in streams:
        if status != 200:
            result["errors"] += 1
            result.setdefault("first_error", f"{status} {lines[0][2][:300]!r}")
            continue
        result["completed"] += 1
        payloads = [line[5:].strip() for _, _, line in lines]
        done = [i for i, p in enumerate(payloads) if p == b"[DONE]"]
        chunks = [
            (wall, counter, json.loads(p))
            for (wall, counter, _), p in zip(lines, payloads, strict=True)
            if p != b"[DONE]"
        ]
        first = next((counter for _, counter, c in chunks if content_of(c)), None)
        if first is not None:
            result["ttft"].append((first - sent) * 1000)
        content = [c for _, _, c in chunks if content_of(c)]
        result["chunks"].append(len(content))
        result["finished"] += any(
            (c.get("choices") or [{}])[0].get("finish_reason") for _, _, c in chunks
        )
        if expected is None:
            continue
        lags = [(c["seq"], (wall - c["sent"]) * 1000) for wall, _, c in chunks if "sent" in c]
        result["lag"] += [lag for _, lag in lags]
        quarter = max(len(expected) // 4, 1)
        result["early"] += [lag for seq, lag in lags if seq < quarter]
        result["late"] += [lag for seq, lag in lags if seq >= len(expected) - quarter]
        received = [
            {k: v for k, v in c.items() if k not in ("sent", "created")} for _, _, c in chunks
        ]
        result["intact"] += received == expected and done == [len(payloads) - 1]
    result["streams/s"] = result["completed"] / seconds
    return result


def cpu_seconds(pid):
    """The CPU time (user + system) process `pid` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_counters():
    """(busy, total) jiffies of every core so far, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle, iowait
    return sum(values) - idle, sum(values)


class Way:
    """One way to the model server: its URL, the credential and model name to send, and the
    portal process (None: straight to the model server) whose CPU time is counted."""

    def __init__(self, url, token, model, pid=None):
        self.url, self.model, self.pid = url, model, pid
        self.headers = dict(SDK_HEADERS)
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.streams, self.seconds, self.cpu = [], 0.0, 0.0
        self.busy, self.total = 0, 0

    def run(self, max_tokens, concurrency, seconds):
        """`concurrency` clients for `seconds`; their streams are added to this path's."""
        body = json.dumps(
            {"model": self.model, "messages": MESSAGES, "stream": True, "max_tokens": max_tokens}
        ).encode()
        cpu = cpu_seconds(self.pid) if self.pid else 0
        busy, total = cpu_counters()
        streams, took = asyncio.run(load(self.url, self.headers, body, concurrency, seconds))
        after = cpu_counters()
        self.busy, self.total = self.busy + after[0] - busy, self.total + after[1] - total
        if self.pid:
            self.cpu += cpu_seconds(self.pid) - cpu
        self.streams += streams
        self.seconds += took
        if streams and all(status != 200 for _, status, _ in streams):
            _, status, lines = streams[0]
            raise RuntimeError(f"every call to {self.url} failed: {status} {lines[0][2][:300]!r}")

    def result(self, expected=None):
        result = analyse(self.streams, self.seconds, expected)
        result["busy"] = 100 * self.busy / max(self.total, 1)
        if self.pid:
            result["cpu"] = self.cpu * 1000 / max(len(self.streams), 1)
        return result


# The report.


def cell(value, signed=False):
    return f"{value:+8.2f}" if signed else f"{value:8.2f}"


def print_table(title, runs, instrumented):
    """One row per concurrency and path; `added`: this path's percentile minus direct's."""
    print(f"\n{title}")
    head = f"{'conc':>4} {'path':<16} {'streams/s':>9} {'TTFT p50':>8} {'p99':>8} {'added50':>8}"
    head += f" {'added99':>8}"
    if instrumented:
        head += f" {'lag p50':>8} {'p99':>8} {'added50':>8} {'added99':>8} {'growth':>8}"
    head += f" {'chunks':>6} {'intact' if instrumented else 'finished':>11}"
    print(head + f" {'errors':>6} {'busy%':>5} {'gw cpu':>6}")
    for concurrency, results in runs:
        direct = results["direct"]
        for name, r in results.items():
            row = f"{concurrency:>4} {name:<16} {r['streams/s']:>9.1f}"
            for key in ("ttft", "lag") if instrumented else ("ttft",):
                mine = [percentile(r[key], p) for p in (50, 99)]
                row += f" {cell(mine[0])} {cell(mine[1])}"
                if name == "direct":
                    row += f" {'':>8} {'':>8}"
                else:
                    base = [percentile(direct[key], p) for p in (50, 99)]
                    row += f" {cell(mine[0] - base[0], True)} {cell(mine[1] - base[1], True)}"
            if instrumented:
                growth = percentile(r["late"], 50) - percentile(r["early"], 50)
                row += f" {cell(growth, True)}"
            chunks = sum(r["chunks"]) / max(len(r["chunks"]), 1)
            good = r["intact"] if instrumented else r["finished"]
            row += f" {chunks:>6.1f} {good:>5}/{r['completed']:<5} {r['errors']:>6}"
            row += f" {r['busy']:>5.0f}"
            print(row + (f" {r['cpu']:>6.2f}" if "cpu" in r else ""))
    print(
        "  TTFT: request sent to first content chunk; lag: chunk arrival - its `sent` time; "
        "growth: lag of the\n  last quarter of a stream minus the first (p50); chunks: content "
        "chunks per stream; busy%: the machine's\n  CPU use (every core, every process) "
        "during the path's runs; gw cpu: the portal process's CPU ms per stream"
    )


def versions(llm_python):
    found = [f"Python {platform.python_version()}"]
    for package in ("Django", "uvicorn", "aiohttp"):
        found.append(f"{package} {metadata.version(package)}")
    llama = subprocess.run(
        [str(llm_python), "-c", "import llama_cpp; print(llama_cpp.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    found.append(f"llama-cpp-python {llama or '?'}")
    revision = subprocess.run(
        ["git", "describe", "--always", "--dirty"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return ", ".join(found) + f"; modelport {revision or '?'}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10, help="per path and concurrency")
    parser.add_argument("--rounds", type=int, default=2, help="paths take turns this often")
    parser.add_argument("--concurrency", default="1,8,32", help="comma-separated")
    parser.add_argument("--chunks", type=int, default=64, help="instrumented server: per stream")
    parser.add_argument("--interval-ms", type=float, default=2.0, help="between its chunks")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--baseline", help="also measure the gateway of this git revision")
    parser.add_argument("--serve-sse", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_sse:
        serve_sse(args.serve_sse, args.chunks, args.interval_ms / 1000)
        return
    levels = [int(n) for n in args.concurrency.split(",")]

    data_dir, env = embedded_portal("modelport-bench-llm-")
    from django.contrib.auth.models import Group, User

    from applications.models import ApiKey, Application, Plan
    from endpoints.models import Endpoint, ServingTemplate
    from identity.models import PersonalAccessToken
    from tenants.models import Tenant, TenantBinding
    from testinfra.llm import LlamaServer
    from testinfra.servers import free_port

    user = User.objects.create_user("bench")
    user.groups.add(Group.objects.create(name="bench"))
    tenant = Tenant.objects.create(name=TENANT, scope="bench")
    TenantBinding.objects.create(tenant=tenant, group="bench", role="viewer")
    member_token = PersonalAccessToken.issue(user)[1]
    serving = ServingTemplate.objects.get(name="mlserver")
    endpoints = [
        Endpoint.objects.create(
            tenant=tenant, name=name, model_name=name, serving=serving, subject_name="bench"
        )
        for name in (LLM_ENDPOINT, SSE_ENDPOINT)
    ]
    # Budgets large enough never to refuse: the reserve and settle work is what is measured.
    plan = Plan.objects.create(name="bench-budget", tokens_per_minute=10**9)
    application = Application.objects.create(tenant=tenant, name="bench", plan=plan)
    application.endpoints.set(endpoints)
    app_key = ApiKey.issue(application)[1]

    processes = []
    llm = LlamaServer(alias=LLM_ENDPOINT, log_path=data_dir / "llama.log")
    try:
        llm.start()
        sse_port = free_port()
        with open(data_dir / "sse.log", "ab") as sse_log:
            processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        __file__,
                        "--serve-sse",
                        str(sse_port),
                        "--chunks",
                        str(args.chunks),
                        "--interval-ms",
                        str(args.interval_ms),
                    ],
                    stdout=sse_log,
                    stderr=subprocess.STDOUT,
                )
            )
        sse_url = f"http://127.0.0.1:{sse_port}"
        wait_for(f"{sse_url}/v1/models")

        env["MODELPORT_BENCH_BACKENDS"] = json.dumps(
            {LLM_ENDPOINT: [llm.url], SSE_ENDPOINT: [sse_url]}
        )
        sources = {"gateway": ROOT}
        if args.baseline:
            sources["baseline"] = checkout(args.baseline, data_dir / "baseline")
        portals = {}
        for name, source in sources.items():
            port = free_port()
            server = (sys.executable, str(PORTAL_WITH_BACKENDS))
            processes.append(serve_portal(source, port, env, server=server))
            portals[name] = (f"http://127.0.0.1:{port}/v1/chat/completions", processes[-1].pid)

        def paths(direct_url, endpoint):
            found = {"direct": (f"{direct_url}/v1/chat/completions", None, endpoint, None)}
            for name, (url, pid) in portals.items():
                found[f"{name} member"] = (url, member_token, f"{TENANT}/{endpoint}", pid)
                found[f"{name} app"] = (url, app_key, f"{TENANT}/{endpoint}", pid)
            return found

        print(f"machine: {machine()}")
        print(f"versions: {versions(llm.python)}")
        print(
            f"{args.seconds:g} s per path and concurrency, in {args.rounds} rounds; TTFT and lag "
            f"in ms; load average before: {os.getloadavg()[0]:.2f}"
        )
        backends = [
            (
                f"instrumented SSE server: {args.chunks} chunks of one token per stream, one "
                f"every {args.interval_ms:g} ms",
                paths(sse_url, SSE_ENDPOINT),
                args.chunks,
                sse_events(SSE_ENDPOINT, args.chunks, include_usage=False),
            ),
            (
                f"tiny-chat (llama-cpp-python {LLM_MAX_TOKENS} tokens max, one answer at a time)",
                paths(llm.url, LLM_ENDPOINT),
                LLM_MAX_TOKENS,
                None,
            ),
        ]
        for title, by_path, max_tokens, expected in backends:
            # Warm every path (connections, caches, lazy imports).
            for url, token, model, _ in by_path.values():
                Way(url, token, model).run(max_tokens, 2, 1)
            runs = []
            for concurrency in levels:
                ways = {name: Way(*path) for name, path in by_path.items()}
                # In rounds, each path in turn, so that they share whatever else the machine is
                # doing alike.
                for _ in range(args.rounds):
                    for way in ways.values():
                        way.run(max_tokens, concurrency, args.seconds / args.rounds)
                results = {name: way.result(expected) for name, way in ways.items()}
                runs.append((concurrency, results))
            print_table(title, runs, instrumented=expected is not None)
        print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait()
        llm.stop()
        if args.baseline:
            remove_checkout(data_dir / "baseline")
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
