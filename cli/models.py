"""`modelport models …`: model files in the tenant's bucket, listed, uploaded, downloaded and
deleted by version (the bytes go through cli/upload.py, straight to and from storage)."""

import sys
from pathlib import Path

from cli import upload
from cli.client import q
from cli.options import TENANT, add_command, add_group
from cli.output import listing


def list_models(client, args):
    columns = ["name", "version", "path", "size"]
    return listing(client, args, f"/tenants/{q(args.tenant)}/models", "models", columns)


def upload_model(client, args):
    shown = set()

    def report(name, sent, size):
        if args.quiet:
            return
        if shown and name not in shown:
            print(file=sys.stderr)  # the previous file's line is finished
        shown.add(name)
        percent = 100 if size == 0 else sent * 100 // size
        print(f"\r{name}: {percent}% of {size:,} bytes", end="", file=sys.stderr, flush=True)

    files = upload.files_to_upload(args.paths)
    done = upload.upload_files(
        client,
        args.tenant,
        args.model,
        args.version,
        files,
        overwrite=args.overwrite,
        report=report,
    )
    if shown:
        print(file=sys.stderr)
    if args.json:
        return done
    total = sum(item.get("size") or 0 for item in done)
    return f"Uploaded {len(done)} file(s), {total:,} bytes, to {args.model} version {args.version}."


def download_model(client, args):
    params = {"modelName": args.model, "modelVersion": args.version, "fileName": args.file}
    link = client.call("GET", f"/tenants/{q(args.tenant)}/models/download", params=params)
    target = Path(args.output or Path(args.file).name)
    upload.download(client, link["url"], target)
    return f"Saved {args.file} to {target} ({target.stat().st_size:,} bytes)."


def delete_model(client, args):
    data = client.call(
        "DELETE",
        f"/tenants/{q(args.tenant)}/models",
        json={"modelName": args.model, "modelVersion": args.version},
    )
    return f"Deleting {data['model_path']}."


def register(commands):
    """Add the models group to the top-level commands."""
    model_commands = add_group(commands, "models", "model files in the tenant's bucket")
    add_command(model_commands, "list", list_models, "the tenant's model files", TENANT)
    add_command(
        model_commands,
        "upload",
        upload_model,
        "upload files (or directories) as a model version",
        TENANT,
        (("model",), {}),
        (("version",), {"type": int}),
        (("paths",), {"nargs": "+", "metavar": "path"}),
        (("--overwrite",), {"action": "store_true", "help": "replace files that exist"}),
        (("--quiet",), {"action": "store_true", "help": "no progress on stderr"}),
    )
    add_command(
        model_commands,
        "download",
        download_model,
        "download one file of a model version",
        TENANT,
        (("model",), {}),
        (("version",), {"type": int}),
        (("file",), {"help": "its name in the version, e.g. variables/variables.index"}),
        (("-o", "--output"), {"help": "where to save it (default: its name, here)"}),
    )
    add_command(
        model_commands,
        "delete",
        delete_model,
        "delete a model version",
        TENANT,
        (("model",), {}),
        (("version",), {"type": int}),
    )
