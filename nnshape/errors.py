"""One exception family for everything that can be wrong with a spec.

Every error carries where it happened (a :class:`Span` into a :class:`Source`), what was
expected, what was found and, where one is clear, a hint. ``str(error)`` is the full,
compiler-style report, so callers never have to assemble one themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .limits import MAX_SHOWN
from .safetext import one_line

if TYPE_CHECKING:  # annotations only: source.py raises these errors, so no import back at run time
    from .source import Source, Span


@dataclass(frozen=True)
class Diagnostic:
    """A located message: the data behind an error or a warning."""

    severity: str  # "error" | "warning"
    code: str
    message: str
    span: Span | None = None
    source: Source | None = None
    expected: str | None = None
    found: str | None = None
    hint: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def line(self) -> int | None:
        return self.span.line if self.span else None

    @property
    def col(self) -> int | None:
        return self.span.col if self.span else None

    def render(self) -> str:
        """Compiler-style text: ``file:line:col: error[E...]: message``, the line, a caret."""
        name = one_line(self.source.name) if self.source else "<spec>"
        where = f"{name}:{self.span.line}:{self.span.col}" if self.span else name
        out = [f"{where}: {self.severity}[{self.code}]: {one_line(self.message)}"]
        if self.span and self.source:
            text = self.source.line_text(self.span.line)
            if text is not None:
                shown = _printable(text)
                start = max(self.span.col - 1, 0)
                if len(shown) > MAX_SHOWN:  # a huge line: show a window around the caret
                    left = max(0, start - MAX_SHOWN // 2)
                    shown = ("…" if left else "") + shown[left:left + MAX_SHOWN] + "…"
                    start = start - left + (1 if left else 0)
                gutter = f"{self.span.line:>4} | "
                out.append(gutter + shown)
                width = max(1, min(self.span.length, max(len(shown) - start, 1)))
                out.append(" " * (len(gutter) - 2) + "| " + " " * start + "^" * width)
        # every text below may quote the spec or a file name: one line each, nothing raw
        if self.expected:
            out.append(f"  expected: {one_line(self.expected)}")
        if self.found:
            out.append(f"  found:    {one_line(self.found)}")
        out.extend(f"  note: {one_line(note)}" for note in self.notes)
        if self.hint:
            out.append(f"  hint: {one_line(self.hint)}")
        return "\n".join(out)

    def to_dict(self) -> dict:
        return {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "file": self.source.name if self.source else None,
            "line": self.line,
            "col": self.col,
            "expected": self.expected,
            "found": self.found,
            "hint": self.hint,
        }


def _printable(text: str) -> str:
    """Show control characters visibly so the caret stays under the right column."""
    return "".join(ch if ch.isprintable() or ch == " " else " " if ch == "\t" else "?" for ch in text)


class NNShapeError(Exception):
    """Base of every error nnshape raises for a bad spec or bad bindings."""

    code = "E0000"
    kind = "error"

    def __init__(
        self,
        message: str,
        span: Span | None = None,
        *,
        source: Source | None = None,
        expected: str | None = None,
        found: str | None = None,
        hint: str | None = None,
        notes: tuple[str, ...] = (),
        code: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.span = span
        self.source = source
        self.expected = expected
        self.found = found
        self.hint = hint
        self.notes = tuple(notes)
        if code:
            self.code = code
        self.others: list[NNShapeError] = []

    def with_source(self, source: Source) -> "NNShapeError":
        if self.source is None:
            self.source = source
        return self

    @property
    def diagnostic(self) -> Diagnostic:
        return Diagnostic(
            "error", self.code, self.message, self.span, self.source,
            self.expected, self.found, self.hint, self.notes,
        )

    @property
    def line(self) -> int | None:
        return self.span.line if self.span else None

    @property
    def col(self) -> int | None:
        return self.span.col if self.span else None

    def __str__(self) -> str:
        parts = [self.diagnostic.render()]
        parts.extend(other.diagnostic.render() for other in self.others)
        return "\n\n".join(parts)


class SpecReadError(NNShapeError):
    """The spec could not be read as text (missing file, invalid UTF-8, too large)."""

    code = "E0001"


class SpecSyntaxError(NNShapeError):
    """The text is not valid spec syntax (tokens, indentation, statement form)."""

    code = "E0100"


class SpecNameError(NNShapeError):
    """An unknown layer kind, argument, constant, tensor or def name."""

    code = "E0200"


class SpecArgumentError(NNShapeError):
    """An argument has the wrong type, is out of range, missing or contradicts the input."""

    code = "E0300"


class SpecShapeError(NNShapeError):
    """A layer cannot accept the shape that reaches it, or branches disagree."""

    code = "E0400"


class SpecLimitError(NNShapeError):
    """A resource limit (size, depth, unrolled repeats, integer size) was exceeded."""

    code = "E0500"


__all__ = [
    "Diagnostic",
    "NNShapeError",
    "SpecReadError",
    "SpecSyntaxError",
    "SpecNameError",
    "SpecArgumentError",
    "SpecShapeError",
    "SpecLimitError",
]
