"""Spec text written line by line, with indentation and aligned comments."""

from __future__ import annotations

import contextlib
import re

_SAFE_COMMENT = re.compile(r"[^\x20-\x7e]")


def comment_text(text: str) -> str:
    """A comment shows printable ASCII only: a name from a config or a module path can never end
    the line (and start a spec line of its own) or hide characters in a terminal."""
    return _SAFE_COMMENT.sub("?", text)


def fmt_float(value: float) -> str:
    """A float as the spec's lexer reads it back exactly (1e-05, 0.1, 10000.0)."""
    text = repr(float(value))
    return text


class SpecWriter:
    """Collects spec lines. ``line`` adds a statement, ``block`` a header and its indented body."""

    def __init__(self, indent: int = 4):
        self.lines: list[tuple[str, str | None]] = []
        self.depth = 0
        self.indent = indent

    def comment(self, text: str) -> None:
        self.lines.append((" " * (self.depth * self.indent) + "# " + comment_text(text), None))

    def blank(self) -> None:
        self.lines.append(("", None))

    def line(self, text: str, comment: str | None = None) -> None:
        self.lines.append((" " * (self.depth * self.indent) + text, comment_text(comment) if comment else None))

    @contextlib.contextmanager
    def block(self, header: str, comment: str | None = None):
        self.line(header + ":", comment)
        self.depth += 1
        try:
            yield self
        finally:
            self.depth -= 1

    def text(self) -> str:
        width = max((len(t) for t, c in self.lines if c), default=0)
        width = min(width, 60)
        out = []
        for text, comment in self.lines:
            out.append(f"{text.ljust(width)}  # {comment}" if comment else text)
        return "\n".join(out) + "\n"
