"""What nnshape prints cannot steer a terminal or a CI log.

File names, spec strings, budget-file keys and `git:` revisions come from outside. Printed raw,
a control character in them acts: CR and ESC sequences rewrite or hide lines and retitle the
window (OSC), bidi overrides reorder what a reviewer reads, and a newline followed by ``::`` starts
a GitHub Actions workflow command (``::add-mask::``, ``::error::``). So every character in
:data:`UNSAFE` is shown as a visible escape, ``\\u001b``, never written raw:

- :func:`one_line` for a piece of text that must stay on its line (a file name in ``ok  NAME``,
  a diagnostic's message): newlines and tabs are escaped too;
- :class:`SafeStream` for everything the command line writes: the CLI wraps ``sys.stdout`` and
  ``sys.stderr`` in it (:func:`install`), so no code path can print a raw control character, and
  a newline in a name that missed :func:`one_line` can at worst break a line, never inject an ESC.
  Its escape is also a valid JSON escape, so JSON output stays valid and decodes to the same text.

The only sequences let through are the colours nnshape itself asks rich for (SGR, ``ESC[...m``),
and only inside :func:`styles` (the coloured tables of a terminal).
"""

from __future__ import annotations

import contextlib
import re
import sys

# C0 (but \t and \n, the layout of our own text), DEL, C1 (0x85 NEL and 0x9b CSI included), the
# Arabic letter mark, LRM/RLM, line/paragraph separators, bidi embeddings/overrides and isolates.
_RANGES = "\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
UNSAFE = re.compile(f"[{_RANGES}]")
_UNSAFE_LINE = re.compile(f"[{_RANGES}\t\n]")
_SGR_OR_UNSAFE = re.compile(f"\x1b\\[[0-9;]*m|[{_RANGES}]")
_SHORT = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _code(ch: str) -> str:
    return f"\\u{ord(ch):04x}"


def escape(text: str) -> str:
    """Every unsafe character as ``\\uXXXX`` (newlines and tabs stay)."""
    return UNSAFE.sub(lambda m: _code(m.group()), text) if UNSAFE.search(text) else text


def one_line(text: object) -> str:
    """``text`` as one printable line: unsafe characters, newlines and tabs escaped
    (``\\n``, ``\\t``, ``\\r``, else ``\\uXXXX``)."""
    text = str(text)
    if _UNSAFE_LINE.search(text) is None:
        return text
    return _UNSAFE_LINE.sub(lambda m: _SHORT.get(m.group()) or _code(m.group()), text)


def is_clean(text: str) -> bool:
    """True when ``text`` holds no unsafe character (the tests' check of every output)."""
    return UNSAFE.search(text) is None


_allow_styles = False


@contextlib.contextmanager
def styles():
    """Let SGR colour sequences (``ESC[1m``, ``ESC[0m``) through :class:`SafeStream` while the
    block runs: for text that rich coloured from already escaped pieces."""
    global _allow_styles
    before, _allow_styles = _allow_styles, True
    try:
        yield
    finally:
        _allow_styles = before


def _escape_keep_styles(text: str) -> str:
    return _SGR_OR_UNSAFE.sub(lambda m: m.group() if len(m.group()) > 1 else _code(m.group()), text)


class SafeStream:
    """A text stream that writes through to ``stream`` with every unsafe character escaped.

    Anything else (``encoding``, ``isatty``, ``flush``, ``buffer`` ...) is the wrapped stream's,
    so click and rich treat it as the terminal or pipe it wraps.
    """

    def __init__(self, stream):
        self.raw_stream = stream

    def write(self, text):
        if isinstance(text, str) and UNSAFE.search(text) is not None:
            text = _escape_keep_styles(text) if _allow_styles else escape(text)
        return self.raw_stream.write(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str):
        return getattr(self.raw_stream, name)


def raw(stream):
    """The stream under a :class:`SafeStream` (for rich's live progress display, which draws with
    cursor sequences and only ever shows nnshape's own words)."""
    return stream.raw_stream if isinstance(stream, SafeStream) else stream


def install() -> tuple:
    """Wrap ``sys.stdout`` and ``sys.stderr`` (once); returns what to pass to :func:`restore`."""
    before = (sys.stdout, sys.stderr)
    if sys.stdout is not None and not isinstance(sys.stdout, SafeStream):
        sys.stdout = SafeStream(sys.stdout)
    if sys.stderr is not None and not isinstance(sys.stderr, SafeStream):
        sys.stderr = SafeStream(sys.stderr)
    return before


def restore(before: tuple) -> None:
    sys.stdout, sys.stderr = before
