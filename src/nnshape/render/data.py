"""Machine formats: JSON (the versioned schema of docs/json-schema.md) and CSV."""

from __future__ import annotations

import csv
import io
import json

from ..summary import Summary
from ..symbolic import to_json as dim_json
from ..tensor import format_shape


def to_json(summary: Summary) -> str:
    """``json.dumps(summary.to_dict(), indent=2)``, written row by row so that a 50,000-row spec
    never holds every row's dict at once."""
    head = _dumps(summary.to_dict(layers=False))
    rows = ",\n".join(_indented(_dumps(row.to_dict())) for row in summary.layers)
    layers = f'[\n{rows}\n  ]' if rows else "[]"
    return f'{head[:-2]},\n  "layers": {layers}\n}}\n'


def _dumps(data) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)


def _indented(text: str) -> str:
    return "\n".join("    " + line for line in text.split("\n"))


CSV_FIELDS = ("path", "kind", "label", "line", "depth", "is_block", "repeat", "input_shapes", "output_shape", "params", "trainable_params", "buffers", "macs")


def to_csv(summary: Summary, depth: int | None = None) -> str:
    from . import visible_rows

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
            ]
        )
    return buffer.getvalue()
