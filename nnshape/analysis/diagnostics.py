"""The problems one analysis found: warnings, and errors it could step over to find more.

An unknown kind or key does not stop the analysis (the layer acts as ``identity``), so one run
reports up to MAX_REPORTED_ERRORS of them; a later error may be only their echo, so they win.
"""

from __future__ import annotations

from dataclasses import replace

from ..errors import Diagnostic, NNShapeError
from ..limits import MAX_REPORTED_ERRORS
from ..source import Source, Span


class Diagnostics:
    def __init__(self, source: Source):
        self.source = source
        self.warnings: list[Diagnostic] = []
        self.seen_warnings: dict[tuple, int] = {}  # (code, message, span) -> index in warnings
        self.also_at: dict[int, list[int]] = {}  # warning index -> the other call lines it came from
        self.recovered: list[NNShapeError] = []  # errors analysis could step over (unknown names)
        self.call_sites: list[tuple[str, int, int]] = []  # the def calls being run: (def, its line, call line)

    def recover(self, error: NNShapeError) -> None:
        """Note an error that does not stop analysis (an unknown kind or key), up to a limit."""
        if any(e.span == error.span and e.code == error.code for e in self.recovered):
            return  # the same place, reached again through another def call
        if len(self.recovered) >= MAX_REPORTED_ERRORS:
            raise self.recovered[0]
        self.recovered.append(error)

    def report(self, error: NNShapeError) -> NNShapeError:
        """The error to raise: all recovered errors (a later error may only be their echo)."""
        if not self.recovered:
            return error.with_source(self.source)
        first, *others = self.recovered
        first.others = [e.with_source(self.source) for e in others]
        return first.with_source(self.source)

    def warn(self, message: str, span: Span, code: str = "W0401", hint: str | None = None) -> None:
        """A warning; inside a def it also names the call (`in def f (line 1), called at line 5`).
        A def called many times warns once, listing the other calls' lines."""
        key = (code, message, span, hint)
        index = self.seen_warnings.get(key)
        if index is None:
            self.seen_warnings[key] = len(self.warnings)
            notes = (call_note(self.call_sites),) if self.call_sites else ()
            self.warnings.append(Diagnostic("warning", code, message, span, self.source, hint=hint, notes=notes))
        elif self.call_sites:
            lines = self.also_at.setdefault(index, [])
            call = self.call_sites[0][2]
            first = self.warnings[index]
            if call not in lines and f"called at line {call}" not in (first.notes[0] if first.notes else ""):
                lines.append(call)
                shown = ", ".join(map(str, lines[:MAX_CALLS_SHOWN])) + (f" and {len(lines) - MAX_CALLS_SHOWN:,} more" if len(lines) > MAX_CALLS_SHOWN else "")
                note = f"the same in the call{'s' if len(lines) > 1 else ''} at line{'s' if len(lines) > 1 else ''} {shown}"
                self.warnings[index] = replace(first, notes=first.notes[:1] + (note,))


MAX_CALLS_SHOWN = 5


def call_note(sites: list[tuple[str, int, int]], shown: int = 4) -> str:
    """`in def g (line 3), called at line 2; in def f (line 1), called at line 5`: innermost first,
    the outer calls of a deep chain counted."""
    inner = list(reversed(sites))
    text = "; ".join(f"in def `{name}` (line {line}), called at line {call}" for name, line, call in inner[:shown])
    if len(inner) > shown:
        text += f"; … and {len(inner) - shown} outer calls, the outermost at line {inner[-1][2]}"
    return text
