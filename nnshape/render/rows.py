"""Which rows a rendering shows (its own module: the renderers use it and the package imports them)."""

from __future__ import annotations

from ..summary import LayerRow, Summary


def visible_rows(summary: Summary, depth: int | None) -> list[LayerRow]:
    """Rows down to `depth` (0 = top level only); deeper rows are folded into their block's totals."""
    return [row for row in summary.layers if depth is None or row.depth <= depth]
