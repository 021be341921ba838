"""Streaming bytes in bounded pieces, so no file or part is ever held whole in memory."""

import hashlib

from workers.errors import PermanentError

# The largest piece of a stream held in memory at once.
CHUNK_SIZE = 1024 * 1024


class ExactLengthReader:
    """Reads exactly `length` bytes from `stream`, never more; a short stream is an error.

    Wraps a request body so a part or archive member is sent to storage piece by piece."""

    def __init__(self, stream, length):
        self.stream = stream
        self.remaining = length

    def read(self, size=-1):
        """Up to `size` bytes (all that remain if `size` is negative, which callers here never
        ask for with large objects), filling the request unless the object ends first."""
        wanted = self.remaining if size is None or size < 0 else min(size, self.remaining)
        pieces = []
        while wanted > 0:
            data = self.stream.read(min(wanted, CHUNK_SIZE))
            if not data:
                raise PermanentError(f"The stream ended {self.remaining} bytes early.")
            pieces.append(data)
            wanted -= len(data)
            self.remaining -= len(data)
        return b"".join(pieces)

    def chunks(self):
        while data := self.read(CHUNK_SIZE):
            yield data

    def check_complete(self):
        if self.remaining:
            raise PermanentError(f"The stream ended {self.remaining} bytes early.")


def multipart_etag(part_digests):
    """S3's ETag for a multipart object: MD5 of the parts' MD5s, then `-<number of parts>`."""
    combined = hashlib.md5(b"".join(part_digests), usedforsecurity=False).hexdigest()
    return f'"{combined}-{len(part_digests)}"'
