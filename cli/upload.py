"""`modelport models upload` and `download`, straight to and from storage at presigned URLs
(the API never carries the bytes). Each file goes up as a multipart upload; a part that fails
on the network or with a 5xx is sent again, a few times; any other failure aborts the uploads,
so neither storage nor the version keeps part of them. A download is written whole or not at
all."""

import contextlib
import math
import time
from pathlib import Path

import requests

from cli.client import Client, CliError, q

PART_BYTES = 8 * 1024**2
MAX_PARTS = 10_000
PRESIGN_BATCH = 100
RETRIES = 3
RETRY_AFTER = (0.5, 1.0, 2.0)
RETRYABLE = {408, 429, 500, 502, 503, 504}


def files_to_upload(paths):
    """(name in the version, local path) for each file; a directory contributes its files
    with their paths relative to it, so its layout is kept."""
    chosen = []
    for given in map(Path, paths):
        if given.is_dir():
            chosen += [
                (str(found.relative_to(given).as_posix()), found)
                for found in sorted(given.rglob("*"))
                if found.is_file()
            ]
        elif given.is_file():
            chosen.append((given.name, given))
        else:
            raise CliError(f"{given} is not a file or a directory.", "no_such_file")
    if not chosen:
        raise CliError("There is nothing to upload.", "no_files")
    names = [name for name, _ in chosen]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise CliError(f"Two files would be called {', '.join(twice)}.", "duplicate_file_name")
    return chosen


def part_bytes_for(size):
    return max(PART_BYTES, math.ceil(size / MAX_PARTS))


def upload_files(client: Client, tenant, model, version, files, *, overwrite, report):
    """Upload (name, path) pairs into a model version, all or nothing: every file's parts go to
    storage first, and only then are the files completed, so a failure or Ctrl-C part-way leaves
    no file of this upload in the version. `report(name, sent, size)` follows each part. Returns
    the API's file items."""
    base = f"/tenants/{q(tenant)}/upload"
    started = []
    try:
        sent = []
        for name, path in files:
            ids = {"modelName": model, "modelVersion": version, "fileName": name}
            answer = client.call("POST", f"{base}/start", json={**ids, "overwrite": overwrite})
            started.append({**ids, "uploadId": answer["uploadId"]})
            parts = _send_parts(client, base, started[-1], path, report)
            sent.append({**started[-1], "parts": parts})
        return [client.call("POST", f"{base}/done", json=upload) for upload in sent]
    except BaseException:
        # If an abort fails too, the platform's reaper aborts forgotten uploads later.
        for upload in started:
            with contextlib.suppress(CliError):
                client.call("POST", f"{base}/abort", json=upload)
        raise


def _send_parts(client, base, upload, path, report):
    """PUT the file's parts at presigned URLs; the parts list `done` takes."""
    size = path.stat().st_size
    part_bytes = part_bytes_for(size)
    count = max(1, math.ceil(size / part_bytes))
    parts, sent, urls = [], 0, {}
    with path.open("rb") as file:
        for number in range(1, count + 1):
            if number not in urls:
                batch = list(range(number, min(number + PRESIGN_BATCH, count + 1)))
                urls = _presign(client, base, upload, batch, size, part_bytes)
            chunk = file.read(part_bytes)
            parts.append({"PartNumber": number, "ETag": _put(client, urls[number], chunk)})
            sent += len(chunk)
            report(upload["fileName"], sent, size)
    return parts


def _presign(client, base, upload, numbers, size, part_bytes):
    body = {**upload, "partNumbers": numbers, "fileSize": size, "partSize": part_bytes}
    answer = client.call("POST", f"{base}/presign", json=body)
    return {item["PartNumber"]: item["url"] for item in answer["urls"]}


def _put(client, url, chunk):
    """PUT one part; its ETag. Network errors and 5xx are tried again."""
    for attempt in range(RETRIES + 1):
        try:
            response = client.session.put(url, data=chunk, timeout=(10, 300))
        except requests.RequestException as exc:
            problem = f"the connection failed ({exc.__class__.__name__})"
        else:
            if response.ok and response.headers.get("ETag"):
                return response.headers["ETag"]
            if response.status_code not in RETRYABLE:
                raise CliError(f"Storage refused a part: {_reason(response)}", "storage_refused")
            problem = f"storage answered {response.status_code}"
        if attempt < RETRIES:
            time.sleep(RETRY_AFTER[attempt])
    raise CliError(f"A part could not be sent after {RETRIES + 1} tries: {problem}.", "part_failed")


def _reason(response):
    text = response.text or ""
    start, end = text.find("<Message>"), text.find("</Message>")
    if 0 <= start < end:
        return text[start + len("<Message>") : end]
    if not response.ok:
        return f"{response.status_code} {response.reason}"
    return "it gave no ETag"


def download(client: Client, url, target: Path):
    """Stream a presigned download URL into `target`, written whole or not at all."""
    partial = target.with_name(target.name + ".part")
    try:
        with client.session.get(url, stream=True, timeout=(10, 300)) as response:
            if not response.ok:
                raise CliError(
                    f"Storage refused the download: {_reason(response)}", "storage_refused"
                )
            with partial.open("wb") as file:
                for chunk in response.iter_content(1024 * 1024):
                    file.write(chunk)
    except requests.RequestException as exc:
        partial.unlink(missing_ok=True)
        raise CliError(
            f"The download failed ({exc.__class__.__name__}).", "download_failed"
        ) from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    partial.replace(target)
