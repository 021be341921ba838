"""Tokens an answer reports (OpenAI-style `usage.total_tokens` in a JSON body), read from a copy
of the answer while it streams to the caller. A compressed answer is counted from a decompressed
copy: the gateway only lets callers ask for the codings it can read (READABLE_CODINGS)."""

import json
import zlib

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


class TokenScan:
    """Fed the answer's chunks as they pass; `total` is the count once the answer has ended."""

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

    def feed(self, chunk):
        if not self.active:
            return
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
    def total(self):
        """`usage.total_tokens` of the answer; 0 if it has none (or was not read)."""
        if not self.active or not self.copy:
            return 0
        try:
            tokens = json.loads(self.copy).get("usage", {}).get("total_tokens", 0)
        except (ValueError, AttributeError):
            return 0
        valid = isinstance(tokens, int) and not isinstance(tokens, bool) and tokens > 0
        return tokens if valid else 0
