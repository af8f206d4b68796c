"""The table of `nnshape summary`.

Columns are laid out here (a rich Table measures every cell and takes seconds on a
50,000-row spec). Whether to colour is rich's own decision (terminal, NO_COLOR, FORCE_COLOR);
plain text otherwise, so a pipe never imports rich.
"""

from __future__ import annotations

import io
import os
import sys

from ..summary import Summary
from .cells import HEADERS, RIGHT, cells, columns_for, footer_lines

GAP = "   "


def to_table(summary: Summary, depth: int | None, extra: tuple[str, ...], *, color: bool | None = None, width: int | None = None) -> str:
    if color is None:
        color = _terminal_wants_color()
    cols = columns_for(extra)
    rows = cells(summary, depth, cols)
    texts = [[cell.prefix + cell.values[c] if c == "layer" else cell.values[c] for c in cols] for cell in rows]
    header, *lines = lay_out([HEADERS[c] for c in cols], texts, {i for i, c in enumerate(cols) if c in RIGHT})
    key_width = max(len(k) for k, _ in footer_lines(summary)) + 1
    footer = [(f"{key + ':':<{key_width}} ", value) for key, value in footer_lines(summary)]
    if not color:  # plain text: no need for rich at all (fast on huge specs, clean in pipes)
        body = [header, "─" * len(header), *lines, ""] + [k + v for k, v in footer]
        return "\n".join(body) + "\n"
    return _styled(header, rows, lines, footer, width)


def _styled(header: str, rows, lines: list[str], footer, width: int | None) -> str:
    """The same text with bold headers and blocks and dim tree guides, printed by rich."""
    from rich.console import Console
    from rich.text import Text

    out = Text(no_wrap=True, overflow="ignore")
    out.append(header + "\n", style="bold")
    out.append("─" * len(header) + "\n", style="dim")
    for cell, line in zip(rows, lines):
        guide = len(cell.prefix)
        out.append(line[:guide], style="dim")
        out.append(line[guide:] + "\n", style="bold" if cell.row.is_block else "")
    out.append("\n")
    for key, value in footer:
        out.append(key, style="bold")
        out.append(value + "\n")
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=width or 10_000, highlight=False)
    console.print(out, end="", soft_wrap=True)
    return buffer.getvalue()


def _terminal_wants_color() -> bool:
    """rich's own detection (a terminal, NO_COLOR, FORCE_COLOR, TERM=dumb ...), asked only
    when stdout is a terminal or colour is forced, so pipes never import rich."""
    if not sys.stdout.isatty() and not os.environ.get("FORCE_COLOR") and not os.environ.get("TTY_COMPATIBLE"):
        return False
    from rich.console import Console

    console = Console()
    return console.is_terminal and console.color_system is not None and not console.no_color


def lay_out(headers: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    """The header line, then one line per row: each column as wide as its widest cell, columns
    in ``right`` right-aligned, never wrapped (a long label makes its line long instead)."""
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    template = GAP.join(f"{{{i}:{'>' if i in right else '<'}{w}}}" for i, w in enumerate(widths))
    return [template.format(*cells).rstrip() for cells in [headers, *rows]]
