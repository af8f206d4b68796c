"""Machine formats: JSON (the versioned schema of docs/json-schema.md) and CSV."""

from __future__ import annotations

import csv
import io
import json
from typing import Iterable, Iterator

from ..summary import Summary
from ..symbolic import to_json as dim_json
from ..tensor import format_shape

_encode = json.JSONEncoder(ensure_ascii=False, default=str).encode


def to_json(summary: Summary, by: str | None = None) -> str:
    """``summary.to_dict()`` as JSON (see :func:`json_chunks`); ``by``: with its ``breakdown``."""
    return "".join(summary_json_chunks(summary, by))


def summary_json_chunks(summary: Summary, by: str | None = None) -> Iterator[str]:
    """:func:`to_json` in pieces, one layer row each."""
    head = summary.to_dict(layers=False)
    if by is not None:
        from .breakdown import groups

        head["breakdown"] = {"by": by, "groups": [g.to_dict() for g in groups(summary, by)]}
    return json_chunks(head, "layers", (row.to_dict() for row in summary.layers))


def json_chunks(head: dict, rows_key: str, rows: Iterable[dict]) -> Iterator[str]:
    """``head`` with ``rows_key: [rows...]`` appended, as JSON text in pieces, laid out for
    reading and diffing: one key per line at the top and in nested objects, shapes inline, and one
    line per input, warning and row. A diff of two outputs then shows the changed layers; a
    100,000-row document is written row by row by the C encoder (not all at once by the much
    slower indenting one), and a caller that writes each piece as it comes never holds it whole."""
    lines = [f"  {_encode(key)}: {_pretty(value, 1)}" for key, value in head.items()]
    yield "{\n" + ",\n".join(lines) + f",\n  {_encode(rows_key)}: ["
    separator = "\n    "
    for row in rows:
        yield separator + _encode(row)
        separator = ",\n    "
    yield ("]" if separator == "\n    " else "\n  ]") + "\n}\n"


def _pretty(value, level: int) -> str:
    pad = "  " * level
    if isinstance(value, dict) and value and level < 2:
        items = ",\n".join(f"{pad}  {_encode(key)}: {_pretty(item, level + 1)}" for key, item in value.items())
        return f"{{\n{items}\n{pad}}}"
    if isinstance(value, list) and any(isinstance(item, (dict, list)) for item in value):
        items = ",\n".join(f"{pad}  {_encode(item)}" for item in value)
        return f"[\n{items}\n{pad}]"
    return _encode(value)


CSV_FIELDS = (
    "path", "kind", "label", "line", "depth", "is_block", "repeat", "input_shapes", "output_shape", "params", "trainable_params",
    "buffers", "macs", "shares",
)


def to_csv(summary: Summary, depth: int | None = None) -> str:
    from .rows import visible_rows

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for row in visible_rows(summary, depth):
        writer.writerow(
            [
                row.path,
                row.kind,
                row.label,
                row.line,
                row.depth,
                str(row.is_block).lower(),
                row.repeat,
                " ".join(format_shape(s, "x") for s in row.input_shapes),
                format_shape(row.output_shape, "x"),
                dim_json(row.params),
                dim_json(row.trainable_params),
                dim_json(row.buffers),
                dim_json(row.macs),
                row.shares_text,
            ]
        )
    return buffer.getvalue()
