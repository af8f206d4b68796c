"""Spec text with a name, and positions into it (1-based line and column)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

from .limits import MAX_SPEC_BYTES


class Span(NamedTuple):
    """A place in the spec: 1-based line and column, and how many characters to underline.
    (A named tuple: a 1 MB spec makes a few hundred thousand, and a frozen dataclass takes
    twice as long to create one.)"""

    line: int
    col: int
    length: int = 1

    def __str__(self) -> str:
        return f"{self.line}:{self.col}"


@dataclass(frozen=True, eq=False)
class Source:
    """The text of one spec and the name it is reported under (a path, `<stdin>`, `<string>`)."""

    name: str
    text: str

    @cached_property
    def lines(self) -> list[str]:
        return self.text.split("\n")

    def line_text(self, line: int) -> str | None:
        if 1 <= line <= len(self.lines):
            return self.lines[line - 1].rstrip("\r")
        return None

    @classmethod
    def from_bytes(cls, name: str, data: bytes) -> "Source":
        from .errors import SpecReadError

        if len(data) > MAX_SPEC_BYTES:
            raise SpecReadError(
                f"spec is too large ({len(data):,} bytes)",
                expected=f"at most {MAX_SPEC_BYTES:,} bytes",
                found=f"{len(data):,} bytes",
                code="E0003",
            ).with_source(cls(name, ""))
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            col = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
            shown = cls(name, data.decode("utf-8", errors="replace"))
            raise SpecReadError(
                "spec is not valid UTF-8 text",
                Span(line, col),
                expected="a UTF-8 text file",
                found=f"byte 0x{data[exc.start]:02x} at offset {exc.start}",
                hint="is this a binary file? specs are plain text",
                code="E0002",
            ).with_source(shown) from None
        return cls(name, text)

    @classmethod
    def from_path(cls, path: str | Path) -> "Source":
        from .errors import SpecReadError

        path = Path(path)
        try:
            with open(path, "rb") as handle:
                data = handle.read(MAX_SPEC_BYTES + 1)
        except OSError as exc:
            raise SpecReadError(
                f"cannot read spec '{path}': {exc.strerror or exc}",
                hint="check the path; use '-' to read the spec from standard input",
                code="E0001",
            ).with_source(cls(str(path), "")) from None
        return cls.from_bytes(str(path), data)
