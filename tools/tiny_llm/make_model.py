#!/usr/bin/env python3
"""Make a tiny llama-architecture GGUF model on this machine, with no downloads.

What it is (honestly):
  * Tokenizer: SentencePiece-style ("llama") vocab that llama.cpp's SPM loader
    accepts: <unk>, <s>, </s>, 256 byte-fallback tokens <0x00>..<0xFF> (type
    BYTE), then one NORMAL token per printable ASCII character and U+2581
    ("\u2581", SentencePiece's space).  So ASCII text is one token per
    character; anything else falls back to UTF-8 bytes.  No merges needed.
  * Architecture: llama, n_embd 64, 2 layers, 4 heads (4 KV heads),
    n_ff 256, context 256, f32 weights (~0.7 MB).
  * Training: a *bigram* language model trained with numpy (Adam, full batch)
    on text that ships with Python (the Zen of Python from `this`, the
    standard library's module docstrings and CPython's LICENSE.txt).  Only
    token_embd / output_norm / output are trained; they are trained through
    the same RMSNorm that llama.cpp applies before the output head.  The
    transformer blocks are initialised deterministically (seed 0) with small
    random weights and are NOT trained; their output projections are tiny so
    the residual stream carries the trained bigram signal through them.
    Output is character soup that looks English-ish, not language.
  * A ChatML chat template is stored in `tokenizer.chat_template`, so
    llama-cpp-python's server picks it up without --chat_format.

Usage:  python make_model.py [--out PATH] [--steps N]
Needs:  numpy, gguf (pip install gguf numpy).
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import importlib
import io
import os
import sys
import time

import numpy as np

N_EMBD = 64
N_LAYER = 2
N_HEAD = 4
N_HEAD_KV = 4
N_FF = 256
N_CTX = 256
RMS_EPS = 1e-5
ROPE_BASE = 10000.0
SEED = 0

SPACE = "\u2581"
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

STDLIB_MODULES = [
    "abc",
    "argparse",
    "ast",
    "asyncio",
    "base64",
    "bisect",
    "calendar",
    "collections",
    "contextlib",
    "copy",
    "csv",
    "dataclasses",
    "datetime",
    "decimal",
    "difflib",
    "email",
    "enum",
    "fractions",
    "functools",
    "getopt",
    "glob",
    "gzip",
    "hashlib",
    "heapq",
    "hmac",
    "html",
    "http",
    "inspect",
    "io",
    "ipaddress",
    "itertools",
    "json",
    "logging",
    "math",
    "mimetypes",
    "os",
    "pathlib",
    "pickle",
    "pprint",
    "queue",
    "random",
    "re",
    "secrets",
    "shlex",
    "shutil",
    "socket",
    "sqlite3",
    "statistics",
    "string",
    "struct",
    "subprocess",
    "tarfile",
    "tempfile",
    "textwrap",
    "threading",
    "time",
    "timeit",
    "typing",
    "unittest",
    "urllib",
    "uuid",
    "warnings",
    "weakref",
    "zipfile",
    "zlib",
]


# --------------------------------------------------------------------------- data
def training_text() -> str:
    parts = []
    # The Zen of Python: `import this` prints it ROT13-decoded.
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        if "this" in sys.modules:
            del sys.modules["this"]
        importlib.import_module("this")
    zen = buf.getvalue() or codecs.decode(sys.modules["this"].s, "rot13")
    parts.append(zen)
    for name in STDLIB_MODULES:
        try:
            mod = importlib.import_module(name)
        except Exception:  # noqa: S112 - a module that can't be imported has no text for us
            continue
        doc = getattr(mod, "__doc__", None)
        if doc:
            parts.append(doc.strip() + "\n")
    for cand in ("LICENSE.txt", "LICENSE"):
        path = os.path.join(
            sys.base_prefix, "lib", f"python{sys.version_info.major}.{sys.version_info.minor}", cand
        )
        if os.path.exists(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                parts.append(f.read())
            break
    return "\n".join(parts)


# ---------------------------------------------------------------------- tokenizer
def build_vocab():
    tokens, scores, types = [], [], []

    def add(text, score, ttype):
        tokens.append(text)
        scores.append(score)
        types.append(ttype)

    # gguf.TokenType: NORMAL=1 UNKNOWN=2 CONTROL=3 USER_DEFINED=4 UNUSED=5 BYTE=6
    add("<unk>", 0.0, 2)
    add("<s>", 0.0, 3)
    add("</s>", 0.0, 3)
    for b in range(256):
        add(f"<0x{b:02X}>", 0.0, 6)
    add(SPACE, -1.0, 1)
    for c in range(0x21, 0x7F):
        add(chr(c), -1.0, 1)
    return tokens, scores, types


class Tokenizer:
    """Mirror of what llama.cpp's SPM tokenizer does with this vocab."""

    def __init__(self, tokens):
        self.tok2id = {t: i for i, t in enumerate(tokens)}
        self.bos, self.eos = 1, 2

    def encode(self, text: str) -> list[int]:
        out = []
        for ch in text.replace(" ", SPACE):
            tid = self.tok2id.get(ch)
            if tid is not None:
                out.append(tid)
            else:
                out.extend(self.tok2id[f"<0x{b:02X}>"] for b in ch.encode("utf-8"))
        return out


# ----------------------------------------------------------------------- training
def rmsnorm(x):
    r = np.sqrt((x * x).mean(-1, keepdims=True) + RMS_EPS)
    return x / r, r


def train_bigram(counts: np.ndarray, steps: int, rng: np.random.Generator):
    """Train E (V,d) and W (V,d): p(b|a) = softmax(W @ rmsnorm(E[a]))[b]."""
    V = counts.shape[0]
    rows = np.nonzero(counts.sum(1))[0]
    C = counts[rows]
    row_tot = C.sum(1, keepdims=True)
    target = C / row_tot
    weight = row_tot / row_tot.sum()

    E = rng.normal(0, 1.0, (V, N_EMBD)).astype(np.float64)
    W = rng.normal(0, 0.02, (V, N_EMBD)).astype(np.float64)
    params = [E, W]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    lr, b1, b2 = 0.05, 0.9, 0.999
    loss = float("nan")
    for t in range(1, steps + 1):
        n, r = rmsnorm(E[rows])
        logits = n @ W.T
        logits -= logits.max(1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(1, keepdims=True)
        loss = float(-(weight * (target * np.log(p + 1e-12)).sum(1, keepdims=True)).sum())
        dlog = (p - target) * weight
        dW = dlog.T @ n
        dn = dlog @ W
        dx = (dn - n * (dn * n).mean(-1, keepdims=True)) / r
        dE = np.zeros_like(E)
        dE[rows] = dx
        for i, (prm, g) in enumerate(zip(params, (dE, dW), strict=False)):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            mh = m[i] / (1 - b1**t)
            vh = v[i] / (1 - b2**t)
            prm -= lr * mh / (np.sqrt(vh) + 1e-8)
        if t == 1 or t % 100 == 0 or t == steps:
            print(f"  step {t:4d}  bigram loss {loss:.3f} nats/token", flush=True)
    # rescale embeddings to rms 1 (logits are unchanged: rmsnorm is scale-free)
    E /= np.sqrt((E * E).mean(-1, keepdims=True) + 1e-12)
    return E.astype(np.float32), W.astype(np.float32), loss


# ------------------------------------------------------------------------- writer
def main() -> int:
    os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.expanduser("~/.cache/modelport/tiny-llama-bytes.gguf"))
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument(
        "--pooling",
        choices=["none", "mean", "last"],
        default="mean",
        help="llama.pooling_type, so /v1/embeddings answers one vector per input "
        "(none: the key is left out and llama.cpp answers a vector per token)",
    )
    args = ap.parse_args()

    import gguf  # noqa: PLC0415 - imported late so --help works without it

    t0 = time.time()
    rng = np.random.default_rng(SEED)
    tokens, scores, types = build_vocab()
    V = len(tokens)
    tok = Tokenizer(tokens)

    text = training_text()
    counts = np.zeros((V, V), dtype=np.float64)
    n_train = 0
    for para in text.split("\n\n"):
        para = para.strip()
        if not para:
            continue
        ids = [tok.bos, *tok.encode(para + "\n"), tok.eos]
        a = np.array(ids[:-1])
        b = np.array(ids[1:])
        np.add.at(counts, (a, b), 1.0)
        n_train += len(ids)
    counts += 1e-3  # tiny smoothing so every token has some mass
    counts[:, 0] = 0.0  # never predict <unk>
    counts[:, tok.bos] = 0.0  # never predict <s>
    print(f"training text: {len(text)} chars, {n_train} tokens, vocab {V}")

    E, W, loss = train_bigram(counts, args.steps, rng)

    # Untrained but deterministic transformer blocks.  Shapes are numpy
    # (rows, cols) = GGUF (ne1, ne0); llama.cpp computes W @ x with ne0 = in.
    std = 0.02
    out_std = 0.02 / np.sqrt(2 * N_LAYER) * 0.1  # keep the block outputs small
    head_dim = N_EMBD // N_HEAD

    def randn(shape, s):
        return (rng.standard_normal(shape) * s).astype(np.float32)

    writer = gguf.GGUFWriter(args.out, "llama")
    writer.add_name("modelport-tiny-llama-bytes")
    writer.add_description(
        "Tiny llama-architecture bigram model made by tools/tiny_llm/make_model.py; not a real LM"
    )
    writer.add_context_length(N_CTX)
    if args.pooling != "none":
        writer.add_pooling_type(gguf.PoolingType[args.pooling.upper()])
    writer.add_embedding_length(N_EMBD)
    writer.add_block_count(N_LAYER)
    writer.add_feed_forward_length(N_FF)
    writer.add_head_count(N_HEAD)
    writer.add_head_count_kv(N_HEAD_KV)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(ROPE_BASE)
    writer.add_layer_norm_rms_eps(RMS_EPS)
    writer.add_vocab_size(V)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)

    writer.add_tokenizer_model("llama")
    writer.add_token_list(tokens)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_unk_token_id(0)
    writer.add_bos_token_id(tok.bos)
    writer.add_eos_token_id(tok.eos)
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_add_space_prefix(False)
    writer.add_chat_template(CHAT_TEMPLATE)

    writer.add_tensor("token_embd.weight", E)
    for i in range(N_LAYER):
        p = f"blk.{i}."
        writer.add_tensor(p + "attn_norm.weight", np.ones(N_EMBD, np.float32))
        writer.add_tensor(p + "attn_q.weight", randn((N_EMBD, N_EMBD), std))
        writer.add_tensor(p + "attn_k.weight", randn((N_HEAD_KV * head_dim, N_EMBD), std))
        writer.add_tensor(p + "attn_v.weight", randn((N_HEAD_KV * head_dim, N_EMBD), std))
        writer.add_tensor(p + "attn_output.weight", randn((N_EMBD, N_EMBD), out_std))
        writer.add_tensor(p + "ffn_norm.weight", np.ones(N_EMBD, np.float32))
        writer.add_tensor(p + "ffn_gate.weight", randn((N_FF, N_EMBD), std))
        writer.add_tensor(p + "ffn_up.weight", randn((N_FF, N_EMBD), std))
        writer.add_tensor(p + "ffn_down.weight", randn((N_EMBD, N_FF), out_std))
    writer.add_tensor("output_norm.weight", np.ones(N_EMBD, np.float32))
    writer.add_tensor("output.weight", W)

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    size = os.path.getsize(args.out)
    print(
        f"wrote {args.out}: {size} bytes ({size / 1e6:.2f} MB), final bigram loss {loss:.3f}, "
        f"{time.time() - t0:.1f}s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
