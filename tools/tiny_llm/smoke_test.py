#!/usr/bin/env python3
"""Probe a running OpenAI-compatible server (llama-cpp-python's) endpoint by endpoint.

Usage:  python smoke_test.py http://127.0.0.1:PORT [--json out.json]
Needs:  requests.  Prints one summary block per endpoint; exits 0 even when an
endpoint fails, because the point is to record behaviour.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import requests


def show(title, info):
    print(f"=== {title}")
    for k, v in info.items():
        print(f"  {k}: {v}")
    sys.stdout.flush()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("--json")
    args = ap.parse_args()
    base = args.base.rstrip("/")
    results = {}

    r = requests.get(f"{base}/v1/models", timeout=30)
    info = {"status": r.status_code, "body": r.text[:400]}
    model_id = r.json()["data"][0]["id"] if r.ok else "tiny"
    results["models"] = info
    show("GET /v1/models", info)

    msgs = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Say something about Python."},
    ]

    t = time.time()
    r = requests.post(
        f"{base}/v1/chat/completions",
        timeout=120,
        json={"model": model_id, "messages": msgs, "max_tokens": 40, "temperature": 0.7, "seed": 1},
    )
    body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
    info = {
        "status": r.status_code,
        "seconds": round(time.time() - t, 2),
        "usage": body.get("usage"),
        "finish_reason": (body.get("choices") or [{}])[0].get("finish_reason"),
        "content": repr(((body.get("choices") or [{}])[0].get("message") or {}).get("content")),
        "raw_if_error": None if r.ok else r.text[:400],
    }
    results["chat"] = info
    show("POST /v1/chat/completions", info)

    t = time.time()
    r = requests.post(
        f"{base}/v1/chat/completions",
        timeout=120,
        stream=True,
        json={
            "model": model_id,
            "messages": msgs,
            "max_tokens": 30,
            "temperature": 0.7,
            "seed": 1,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    )
    events, text, usage_chunks, done, finish = [], "", [], False, None
    for line in r.iter_lines(decode_unicode=True):
        if not line or not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            done = True
            continue
        ev = json.loads(data)
        events.append(ev)
        if ev.get("usage"):
            usage_chunks.append(ev["usage"])
        for ch in ev.get("choices") or []:
            text += (ch.get("delta") or {}).get("content") or ""
            finish = ch.get("finish_reason") or finish
    info = {
        "status": r.status_code,
        "content_type": r.headers.get("content-type"),
        "seconds": round(time.time() - t, 2),
        "chunks": len(events),
        "got_[DONE]": done,
        "finish_reason": finish,
        "usage_chunks": usage_chunks or "NONE",
        "last_chunk": json.dumps(events[-1])[:300] if events else None,
        "content": repr(text),
    }
    results["chat_stream"] = info
    show("POST /v1/chat/completions stream=true stream_options.include_usage=true", info)

    r = requests.post(
        f"{base}/v1/completions",
        timeout=120,
        json={
            "model": model_id,
            "prompt": "Beautiful is better than",
            "max_tokens": 30,
            "temperature": 0.7,
            "seed": 1,
        },
    )
    body = r.json() if r.ok else {}
    info = {
        "status": r.status_code,
        "usage": body.get("usage"),
        "finish_reason": (body.get("choices") or [{}])[0].get("finish_reason"),
        "text": repr((body.get("choices") or [{}])[0].get("text")),
        "raw_if_error": None if r.ok else r.text[:400],
    }
    results["completions"] = info
    show("POST /v1/completions", info)

    r = requests.post(
        f"{base}/v1/completions",
        timeout=120,
        stream=True,
        json={
            "model": model_id,
            "prompt": "Simple is",
            "max_tokens": 10,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    )
    usage_chunks, n = [], 0
    for line in r.iter_lines(decode_unicode=True):
        if line and line.startswith("data:") and line[5:].strip() != "[DONE]":
            ev = json.loads(line[5:])
            n += 1
            if ev.get("usage"):
                usage_chunks.append(ev["usage"])
    info = {"status": r.status_code, "chunks": n, "usage_chunks": usage_chunks or "NONE"}
    results["completions_stream"] = info
    show("POST /v1/completions stream=true stream_options.include_usage=true", info)

    r = requests.post(
        f"{base}/v1/embeddings",
        timeout=120,
        json={"model": model_id, "input": ["hello world", "the zen of python"]},
    )
    if r.ok:
        body = r.json()
        emb = body["data"][0]["embedding"]
        shape = f"{len(body['data'])} items; item0 is list of {len(emb)} " + (
            "lists (per-token vectors)" if emb and isinstance(emb[0], list) else "floats"
        )
        info = {"status": 200, "usage": body.get("usage"), "shape": shape}
    else:
        info = {"status": r.status_code, "raw": r.text[:400]}
    results["embeddings"] = info
    show("POST /v1/embeddings", info)

    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main())
