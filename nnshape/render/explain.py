"""Worked formulas (`nnshape explain`, `summary --explain`): each layer's rules with its numbers."""

from __future__ import annotations

from ..summary import LayerRow, Summary


MERGES = ("concat", "add", "multiply", "residual")


def explained_rows(summary: Summary) -> list[LayerRow]:
    """The rows with formulas: every layer, and every merge (concat, add, multiply, residual),
    which comes after its branches (it joins them)."""
    out: list[LayerRow] = []
    pending: list[LayerRow] = []  # merges whose branches are still being listed
    for row in summary.layers:
        while pending and pending[-1].depth >= row.depth:
            out.append(pending.pop())
        if not row.is_block:
            out.append(row)
        elif row.kind in MERGES:
            pending.append(row)
    out.extend(reversed(pending))
    return out


def rows_on_line(summary: Summary, line: int | None) -> list[LayerRow]:
    """The rows to explain: all, or those written on ``line`` — a block or def call written
    there brings the layers and merges inside it."""
    rows = explained_rows(summary)
    if line is None:
        return rows
    blocks = [row.path + "." for row in summary.layers if row.is_block and row.line == line]
    return [row for row in rows if row.line == line or any(row.path.startswith(b) for b in blocks)]


def explain_text(summary: Summary, rows: list[LayerRow] | None = None) -> str:
    """One paragraph per layer or merge: `path  label  (line N)` then its formulas, indented."""
    out: list[str] = []
    for row in explained_rows(summary) if rows is None else rows:
        times = f"  × {row.repeat:,}" if row.repeat > 1 else ""
        out.append(f"{row.path}  {row.label}{times}  (line {row.line})")
        out.extend(f"    {text}" for text in row.explain)
        out.append("")
    return "\n".join(out[:-1]) + "\n" if out else ""
