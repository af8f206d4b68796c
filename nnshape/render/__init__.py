"""Renderers turn a Summary into text; only the CLI prints."""

from __future__ import annotations

from typing import Iterator

from ..summary import Summary
from .rows import visible_rows

__all__ = ["COLUMNS", "FORMATS", "render", "render_chunks", "visible_rows"]

FORMATS = ("table", "json", "csv", "markdown")
COLUMNS = ("input", "kernel", "rf", "params%", "macs%", "path", "line")


def render_chunks(summary: Summary, fmt: str = "table", **options) -> Iterator[str]:
    """:func:`render` in pieces, for a caller that writes them as they come: JSON is written
    row by row (a 200,000-row document is never held whole); other formats come in one piece."""
    if fmt == "json":
        from .data import summary_json_chunks

        yield from summary_json_chunks(summary, by=options.get("by"))
    else:
        yield render(summary, fmt, **options)


def render(
    summary: Summary, fmt: str = "table", *, depth: int | None = None, columns: tuple[str, ...] = (), color: bool | None = None,
    width: int | None = None, footer: str = "compact", by: str | None = None,
) -> str:
    """``summary`` as text. Table and markdown: ``depth`` folds deeper blocks, ``columns`` adds
    columns, ``footer`` is ``compact`` or ``full``; the table fits ``width`` (None: no limit).
    ``by`` ("kind" or "family"): the totals per operator instead of the layers (JSON: a
    ``breakdown`` besides them)."""
    if fmt == "json":
        from .data import to_json

        return to_json(summary, by=by)
    if fmt == "csv":
        if by is not None:
            from .breakdown import to_csv as breakdown_csv

            return breakdown_csv(summary, by)
        from .data import to_csv

        return to_csv(summary, depth)
    if fmt == "markdown":
        from .markdown import to_markdown

        return to_markdown(summary, depth, columns, footer, by=by)
    if fmt == "table":
        from .table import to_table

        return to_table(summary, depth, columns, color=color, width=width, footer=footer, by=by)
    raise ValueError(f"unknown format {fmt!r}")
