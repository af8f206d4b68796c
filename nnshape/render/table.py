"""The table of `nnshape summary`.

Columns are laid out here (a rich Table measures every cell and takes seconds on a
50,000-row spec), to a width when one is given (render/fit.py: labels shortened first, then
optional columns left out, numbers never cut). Whether to colour is rich's own decision
(terminal, NO_COLOR, FORCE_COLOR); plain text otherwise, so a pipe never imports rich.
"""

from __future__ import annotations

import io
import os
import sys

from ..summary import Summary
from .cells import HEADERS, OPTIONAL, RIGHT, cells, columns_for, footer_lines, header_notes
from .fit import GAP, Column, fit, wrap_value

__all__ = ["GAP", "lay_out", "terminal_width", "to_table", "wrap_value"]


def to_table(
    summary: Summary, depth: int | None, extra: tuple[str, ...], *, color: bool | None = None, width: int | None = None, footer: str = "compact",
    by: str | None = None,
) -> str:
    """The table, then the footer (``compact`` or ``full``), fitted to ``width`` columns (None:
    as wide as the longest line needs). ``by``: the totals per kind or family instead of the layers."""
    if color is None:
        color = _terminal_wants_color()
    if by is not None:
        from .breakdown import to_table as breakdown

        lines = breakdown(summary, by, width)
        footer_text = footer_block(footer_lines(summary, footer), width)
        return "\n".join([*lines, ""] + [k + v for k, v in footer_text]) + "\n"
    cols = columns_for(extra)
    rows = cells(summary, depth, cols)
    notes_of = header_notes(cols, [cell.row for cell in rows])
    columns = [
        Column(
            c,
            HEADERS[c],
            [cell.label_parts for cell in rows] if c == "layer" else [cell.values[c] for cell in rows],
            right=c in RIGHT,
            shrink=c == "layer",
            drop=OPTIONAL.index(c) if c in OPTIONAL else None,
            note=note,
        )
        for c, note in zip(cols, notes_of)
    ]
    fitted = fit(columns, width)
    notes: list[str] = []
    if fitted.columns[0].width < columns[0].natural() and any(cell.prefix for cell in rows):
        # labels had to be cut: two-character tree guides and `×2` leave them more room
        columns[0].cells = [(narrow_guides(cell.prefix), cell.label_parts[1], cell.suffix.replace("  × ", " ×").replace("  …", " …")) for cell in rows]
        fitted = fit(columns, width)
    if fitted.dropped:
        notes.append(f"Left out to fit {width} columns: {', '.join(fitted.dropped)}.")
    if fitted.columns[0].width < columns[0].natural():
        notes.append(f"Labels shortened to fit {width} columns; --depth N folds deep blocks.")
    if notes:
        notes = wrap_value(" ".join(notes) + " --wide shows everything.", width)
    header, lines = fitted.header_lines(), fitted.rows()
    footer_text = footer_block(footer_lines(summary, footer), width)
    if not color:  # plain text: no need for rich at all (fast on huge specs, clean in pipes)
        body = [*header, "─" * max(map(len, header)), *lines, *notes, ""] + [k + v for k, v in footer_text]
        return "\n".join(body) + "\n"
    return _styled(header, rows, lines, notes, footer_text, fitted.columns)


_NARROW = {"│  ": "│ ", "   ": "  ", "├─ ": "├ ", "└─ ": "└ "}


def narrow_guides(prefix: str) -> str:
    """`│  ├─ ` as `│ ├ `: tree guides two characters a level."""
    return "".join(_NARROW[prefix[i : i + 3]] for i in range(0, len(prefix), 3))


def footer_block(items: list[tuple[str, str]], width: int | None) -> list[tuple[str, str]]:
    """(key, value) pairs as (padded key, value) lines: values in one column two characters after
    the longest label, a long value wrapped (at spaces, never inside a number) under its column."""
    key_width = max(len(k) for k, _ in items) + 2
    out = []
    for key, value in items:
        pieces = wrap_value(value, width - key_width if width else None)
        out.append((f"{key + ':':<{key_width}}", pieces[0]))
        out.extend((" " * key_width, piece) for piece in pieces[1:])
    return out


def _styled(header: list[str], rows, lines: list[str], notes: list[str], footer, columns: list[Column]) -> str:
    """The same text with bold headers and blocks and dim tree guides, printed by rich."""
    from rich.console import Console
    from rich.text import Text

    out = Text(no_wrap=True, overflow="ignore")
    for line in header:
        out.append(line + "\n", style="bold")
    out.append("─" * max(map(len, header)) + "\n", style="dim")
    for cell, line, guides in zip(rows, lines, columns[0].cells if columns else []):
        guide = len(guides[0])
        out.append(line[:guide], style="dim")
        out.append(line[guide:] + "\n", style="bold" if cell.row.is_block else "")
    for note in notes:
        out.append(note + "\n", style="dim")
    out.append("\n")
    for key, value in footer:
        out.append(key, style="bold")
        out.append(value + "\n")
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=10_000, highlight=False)
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


def terminal_width(stream=None) -> int | None:
    """The width rich reports for a terminal (COLUMNS, else the terminal's size); None when
    ``stream`` (stdout) is not a terminal: a pipe or a file gets whole lines."""
    stream = stream or sys.stdout
    try:
        if not stream.isatty():
            return None
    except (AttributeError, ValueError):
        return None
    from rich.console import Console

    return Console(file=stream).width


def lay_out(headers: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    """The header line, then one line per row: each column as wide as its widest cell, columns
    in ``right`` right-aligned, never wrapped (a long label makes its line long instead)."""
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    template = GAP.join(f"{{{i}:{'>' if i in right else '<'}{w}}}" for i, w in enumerate(widths))
    return [template.format(*cells).rstrip() for cells in [headers, *rows]]
