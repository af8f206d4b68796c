"""The problems one analysis found: warnings, and errors it could step over to find more.

An unknown kind or key does not stop the analysis (the layer acts as ``identity``), so one run
reports up to MAX_REPORTED_ERRORS of them; a later error may be only their echo, so they win.
"""

from __future__ import annotations

from ..errors import Diagnostic, NNShapeError
from ..limits import MAX_REPORTED_ERRORS
from ..source import Source, Span


class Diagnostics:
    def __init__(self, source: Source):
        self.source = source
        self.warnings: list[Diagnostic] = []
        self.seen_warnings: set[Diagnostic] = set()
        self.recovered: list[NNShapeError] = []  # errors analysis could step over (unknown names)

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
        warning = Diagnostic("warning", code, message, span, self.source, hint=hint)
        if warning not in self.seen_warnings:  # a def called many times warns once
            self.seen_warnings.add(warning)
            self.warnings.append(warning)
