"""Tables that fit a width: shorten labels first, then leave out optional columns, never cut a number.

A table is a list of :class:`Column`. A qualifier of a header (`(each)`) goes under its title
when the table must be narrower than it would be. Text columns (a layer's label, a path) may be shortened:
each of their cells is ``(head, body, tail)``, and only the body is cut, ending in ``…``, so tree
guides (the head) and a ``× 12`` or ``…`` suffix (the tail) always stay whole. Number and shape
columns are never cut: when shortening is not enough, optional columns go, in their drop order,
and what went is said under the table. Only when even that is not enough is the line wider than
asked (a wrapped number would be worse than a long line).
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass, field

GAP = "   "
ELLIPSIS = "…"
SOFT_MIN = 24  # a label is first shortened only to this width before columns are left out
HARD_MIN = 8  # ... and, with every optional column gone, down to this


@dataclass
class Column:
    key: str
    header: str
    cells: list  # str, or (head, body, tail) for a column that may be shortened
    right: bool = False
    shrink: bool = False  # cells are (head, body, tail); the body may be cut
    drop: int | None = None  # optional column: lower numbers are left out first
    note: str = ""  # a qualifier of the header, `(each)`: after it, or under it when room is short
    width: int = field(default=0, init=False)
    stacked: bool = field(default=False, init=False)

    def titles(self) -> list[str]:
        """The header's lines: one (`Params (each)`), or two when stacked (`Params` over `(each)`)."""
        if not self.note:
            return [self.header]
        return [self.header, self.note] if self.stacked else [f"{self.header} {self.note}"]

    def natural(self) -> int:
        return max([len(t) for t in self.titles()] + [_length(c) for c in self.cells])

    def floor(self, limit: int) -> int:
        """The narrowest this column can be made when cut to ``limit`` (heads and tails stay)."""
        if not self.shrink:
            return self.natural()
        need = max([len(t) for t in self.titles()] + [len(c[0]) + len(c[2]) + (1 if c[1] else 0) for c in self.cells])
        return min(self.natural(), max(limit, need))

    def texts(self) -> list[str]:
        if not self.shrink:
            return list(self.cells)
        return [_cut(c, self.width) for c in self.cells]


def _length(cell) -> int:
    return len(cell) if isinstance(cell, str) else len(cell[0]) + len(cell[1]) + len(cell[2])


def _cut(cell: tuple[str, str, str], width: int) -> str:
    head, body, tail = cell
    if len(head) + len(body) + len(tail) <= width:
        return head + body + tail
    room = max(width - len(head) - len(tail) - 1, 0)
    return head + body[:room].rstrip() + ELLIPSIS + tail


@dataclass
class Fitted:
    columns: list[Column]
    dropped: list[str]  # headers of the columns left out
    gap: str = GAP

    def header_lines(self) -> list[str]:
        """One header line, or two when a qualifier (`(each)`) went under its title."""
        titles = [c.titles() for c in self.columns]
        count = max(len(t) for t in titles)
        return [self.gap.join(_pad(t[k] if k < len(t) else "", c) for t, c in zip(titles, self.columns)).rstrip() for k in range(count)]

    def rows(self) -> list[str]:
        texts = [col.texts() for col in self.columns]
        return [self.gap.join(_pad(texts[i][r], c) for i, c in enumerate(self.columns)).rstrip() for r in range(len(texts[0]) if texts else 0)]


def _pad(text: str, col: Column) -> str:
    return text.rjust(col.width) if col.right else text.ljust(col.width)


def fit(columns: list[Column], width: int | None) -> Fitted:
    """Lay ``columns`` out within ``width`` characters (None: no limit)."""
    cols = list(columns)
    dropped: list[str] = []
    for col in cols:
        col.stacked = False
        col.width = col.natural()
    if width is None or _total(cols, GAP) <= width:
        return Fitted(cols, dropped)
    # 0. qualifiers go under their titles
    for col in cols:
        col.stacked = bool(col.note)
    # 1. shorten the text columns down to SOFT_MIN
    if _shrink(cols, width, SOFT_MIN, GAP):
        return Fitted(cols, dropped)
    # 2. leave out optional columns, lowest drop number first, growing the text columns back
    for victim in sorted((c for c in cols if c.drop is not None), key=lambda c: c.drop):
        cols.remove(victim)
        dropped.append(victim.header)
        if _shrink(cols, width, SOFT_MIN, GAP):
            return Fitted(cols, dropped)
    # 3. shorten further, then narrow the gaps; past that the line is wider than asked
    if _shrink(cols, width, HARD_MIN, GAP):
        return Fitted(cols, dropped)
    _shrink(cols, width, HARD_MIN, "  ")
    return Fitted(cols, dropped, "  ")


def _total(cols: list[Column], gap: str) -> int:
    return sum(c.width for c in cols) + len(gap) * (len(cols) - 1)


def _shrink(cols: list[Column], width: int, minimum: int, gap: str) -> bool:
    """Give the text columns what the fixed columns leave, widest first; True if it all fits."""
    fixed = [c for c in cols if not c.shrink]
    texts = [c for c in cols if c.shrink]
    for c in cols:
        c.width = c.natural()
    room = width - sum(c.width for c in fixed) - len(gap) * (len(cols) - 1)
    if texts:
        # water-filling: every text column gets at most `cap`, the largest cap that fits `room`
        floors = {id(c): c.floor(minimum) for c in texts}
        naturals = {id(c): c.natural() for c in texts}

        def used(cap: int) -> int:
            return sum(max(floors[id(c)], min(naturals[id(c)], cap)) for c in texts)

        low, high = 0, max(naturals.values())  # the largest cap with used(cap) <= room (or 0)
        while low < high:
            mid = (low + high + 1) // 2
            if used(mid) <= room:
                low = mid
            else:
                high = mid - 1
        for c in texts:
            c.width = max(floors[id(c)], min(naturals[id(c)], low))
    return _total(cols, gap) <= width


# spaces that must not break a line: a number and its unit, around `×`, inside a command
_GLUE = re.compile(r"(?<=[\d)⁰¹²³⁴⁵⁶⁷⁸⁹]) (?=(?:[kMGT]?B|[kMGT]|FLOPs|elements)\b)| (?=×)|(?<=×) | (?=--)|(?<=nnshape) ")


def wrap_value(text: str, width: int | None) -> list[str]:
    """``text`` in lines of at most ``width`` characters, broken only at spaces that do not join a
    number to its unit; a piece longer than ``width`` stays whole."""
    if width is None or len(text) <= width:
        return [text]
    glued = _GLUE.sub("\u00a0", text)
    pieces = textwrap.wrap(glued, max(width, 20), break_long_words=False, break_on_hyphens=False)
    return [piece.replace("\u00a0", " ") for piece in pieces] or [text]
