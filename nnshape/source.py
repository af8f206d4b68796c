"""Spec text with a name, and positions into it (1-based line and column)."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import BinaryIO, NamedTuple

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
    def from_bytes(cls, name: str, data: bytes, *, size: int | None = None) -> "Source":
        """``data`` as UTF-8 text. ``size``: the whole input's size when only its first
        MAX_SPEC_BYTES + 1 bytes were read (None: unknown, or ``data`` is all of it)."""
        from .errors import SpecReadError

        if len(data) > MAX_SPEC_BYTES:
            known = size if size is not None and size > len(data) else None
            shown = f"{known:,} bytes" if known else f"{len(data):,} bytes" if len(data) > MAX_SPEC_BYTES + 1 else f"more than {MAX_SPEC_BYTES:,} bytes"
            raise SpecReadError(
                f"spec is too large ({shown})",
                expected=f"at most {MAX_SPEC_BYTES:,} bytes",
                found=shown,
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
    def from_path(cls, path: str | os.PathLike) -> "Source":
        """Read a regular file, at most MAX_SPEC_BYTES + 1 bytes of it. A FIFO, a device or a
        socket is refused without waiting on it (opening a FIFO blocks until a writer comes;
        /dev/zero never ends): pipe such input to '-' instead."""
        from .errors import SpecReadError

        name = os.fsdecode(path)
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0))
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise SpecReadError(
                f"cannot read spec '{name}': {reason}",
                hint="check the path; use '-' to read the spec from standard input",
                code="E0001",
            ).with_source(cls(name, "")) from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise SpecReadError(
                    f"cannot read spec '{name}': it is {_file_type(info.st_mode)}, not a regular file",
                    expected="a spec file",
                    hint="to read from a pipe or a device, send it to standard input: `... | nnshape summary -`",
                    code="E0001",
                ).with_source(cls(name, ""))
            with os.fdopen(fd, "rb") as handle:
                fd = -1
                data = read_bounded(handle)
        except OSError as exc:
            raise SpecReadError(
                f"cannot read spec '{name}': {exc.strerror or exc}", code="E0001",
            ).with_source(cls(name, "")) from None
        finally:
            if fd >= 0:
                os.close(fd)
        return cls.from_bytes(name, data, size=info.st_size)


def read_bounded(handle: BinaryIO) -> bytes:
    """At most MAX_SPEC_BYTES + 1 bytes (one more than allowed, to tell that there was more)."""
    chunks, size = [], 0
    while size <= MAX_SPEC_BYTES:
        chunk = handle.read(MAX_SPEC_BYTES + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _file_type(mode: int) -> str:
    for test, what in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return what
    return "not a file"
