"""The rich table of `nnshape summary` (rich is imported only here)."""

from __future__ import annotations

import io
import os
import sys

from ..summary import Summary
from .cells import HEADERS, RIGHT, cells, columns_for, footer_lines


def to_table(summary: Summary, depth: int | None, extra: tuple[str, ...], *, color: bool | None = None, width: int | None = None) -> str:
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    if color is None:
        color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
    cols = columns_for(extra)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold" if color else "")
    for col in cols:
        table.add_column(HEADERS[col], justify="right" if col in RIGHT else "left", no_wrap=col != "layer", overflow="fold")
    for cell in cells(summary, depth):
        rendered = []
        for col in cols:
            text = cell.values[col]
            if col == "layer":
                style = "bold" if cell.row.is_block and color else ""
                rendered.append(Text(cell.prefix, style="dim" if color else "") + Text(text, style=style))
            else:
                rendered.append(Text(text))
        table.add_row(*rendered)
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=color, no_color=not color, width=width or _width(), highlight=False, soft_wrap=False)
    console.print(table)
    console.print()
    key_width = max(len(k) for k, _ in footer_lines(summary))
    for key, value in footer_lines(summary):
        console.print(Text(f"{key + ':':<{key_width + 1}} ", style="bold" if color else "") + Text(value), soft_wrap=key == "Conventions")
    return buffer.getvalue()


def _width() -> int:
    try:
        return max(100, min(os.get_terminal_size().columns, 200))
    except OSError:
        return 140
