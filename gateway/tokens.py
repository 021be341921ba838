"""Tokens an answer reports (OpenAI-style `usage` in a JSON body), read from a copy of the answer
while it streams to the caller. A compressed answer is counted from a decompressed copy: the
gateway only lets callers ask for the codings it can read (READABLE_CODINGS)."""

import json
import zlib
from dataclasses import dataclass

# Answers up to this size (after decompression) are read for their token count.
TOKEN_SCAN_BYTES = 1024 * 1024
# Content-Encodings zlib reads: gzip (and its old alias) and deflate (zlib-wrapped, RFC 9110).
READABLE_CODINGS = {"gzip", "x-gzip", "deflate"}


def readable_accept_encoding(value):
    """The caller's Accept-Encoding without the codings the gateway could not read back, so
    every answer's tokens can be counted; `identity` when none is left."""
    kept = []
    for item in value.split(","):
        coding = item.split(";")[0].strip().lower()
        if coding in READABLE_CODINGS or coding == "identity":
            kept.append(item.strip())
    return ", ".join(kept) or "identity"


@dataclass(frozen=True)
class Usage:
    prompt: int = 0
    completion: int = 0

    @property
    def total(self):
        return self.prompt + self.completion


def _count(value):
    valid = isinstance(value, int) and not isinstance(value, bool) and value > 0
    return value if valid else 0


def reported_usage(usage):
    """A Usage from an OpenAI-style `usage` object (an answer's, or a stream's last chunk's);
    tokens in the total beyond the prompt's count as completion tokens when these are not
    given (embeddings report only prompt and total). None if there is none."""
    if not isinstance(usage, dict):
        return None
    prompt, completion = _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))
    total = _count(usage.get("total_tokens"))
    if "completion_tokens" not in usage and total > prompt:
        completion = total - prompt
    return Usage(prompt, completion)


class TokenScan:
    """Fed the answer's chunks as they pass (`feed` returns what to send on: the same bytes);
    `usage` is the count once the answer has ended."""

    def __init__(self, headers):
        content_type = headers.get("Content-Type", "").split(";")[0].strip().lower()
        length = headers.get("Content-Length")
        too_long = length is not None and (not length.isdigit() or int(length) > TOKEN_SCAN_BYTES)
        coding = headers.get("Content-Encoding", "identity").strip().lower()
        self.copy = bytearray()
        self.decompressor = None
        self.active = content_type == "application/json" and not too_long
        if coding in READABLE_CODINGS:
            # 32 + 15: a zlib or a gzip header, whichever the answer has.
            self.decompressor = zlib.decompressobj(wbits=47)
        elif coding != "identity":
            self.active = False

    # Never cuts an answer short (a surface with budgets does: gateway.openai.EventScan).
    cut = False

    def feed(self, chunk):
        if self.active:
            self._copy(chunk)
        return chunk

    def finish(self):
        """What is left to send once the answer has ended: nothing."""
        return b""

    def _copy(self, chunk):
        if self.decompressor is not None:
            try:
                chunk = self.decompressor.decompress(chunk, TOKEN_SCAN_BYTES + 1 - len(self.copy))
            except zlib.error:
                self.active = False
                return
        self.copy += chunk
        if len(self.copy) > TOKEN_SCAN_BYTES:
            self.active = False

    @property
    def usage(self):
        """The answer's `usage`; nothing if it has none (or was not read)."""
        if not self.active or not self.copy:
            return Usage()
        try:
            answer = json.loads(self.copy)
        except ValueError:
            return Usage()
        return (
            reported_usage(answer.get("usage")) if isinstance(answer, dict) else None
        ) or Usage()
