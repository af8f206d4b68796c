"""Worked formulas (`nnshape explain`, `summary --explain`): each layer's rules with its numbers."""

from __future__ import annotations

from ..summary import LayerRow, Summary


def rows_on_line(summary: Summary, line: int | None) -> list[LayerRow]:
    """The layer rows to explain: all, or those written on ``line`` — a block or def call written
    there brings the layers inside it."""
    leaves = [row for row in summary.layers if not row.is_block]
    if line is None:
        return leaves
    blocks = [row.path + "." for row in summary.layers if row.is_block and row.line == line]
    return [row for row in leaves if row.line == line or any(row.path.startswith(b) for b in blocks)]


def explain_text(summary: Summary, rows: list[LayerRow] | None = None) -> str:
    """One paragraph per layer: `path  label  (line N)` then its formulas, indented."""
    out: list[str] = []
    for row in summary.leaves if rows is None else rows:
        times = f"  × {row.repeat:,}" if row.repeat > 1 else ""
        out.append(f"{row.path}  {row.label}{times}  (line {row.line})")
        out.extend(f"    {text}" for text in row.explain)
        out.append("")
    return "\n".join(out[:-1]) + "\n" if out else ""
