"""How commands' results print: sentences as they are, lists as tables for people, and the
API's data as JSON for scripts (`--json`)."""

import json
import re


def table(rows, columns):
    """Rows (dicts) as left-aligned columns under a header in capitals."""
    lines = [[re.sub(r"(?<=[a-z])(?=[A-Z])", "_", key).upper() for key in columns]]
    lines += [[_cell(row.get(key)) for key in columns] for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(columns))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _cell(value):
    if value is None:
        return "-"
    if isinstance(value, list):
        return ",".join(_cell(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def listing(client, args, path, key, columns):
    """Every item of the paginated list at `path`: the items with --json, else a table of
    `columns`, or one item a line if there are no columns (lists of names)."""
    items = client.all_pages(path, key)
    if args.json:
        return items
    if columns is None:
        return "\n".join(items)
    return table(items, columns)


def show(result):
    """Print what a command returned: a sentence or table as it is, data as JSON."""
    if isinstance(result, str):
        print(result)
    else:
        print(json.dumps(result, indent=2))
