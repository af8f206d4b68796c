"""What reaches a terminal: ASCII stand-ins where the encoding lacks a symbol, colour for reports.

nnshape prints `×`, `─`, `│`, `…`, `→`, `Δ` and a few more. A console whose encoding lacks one
of them (cp1252 on Windows, `PYTHONIOENCODING=ascii`) would make Python raise
UnicodeEncodeError in the middle of a table. :func:`install_fallback` registers a codec error
handler on stdout and stderr instead, so every write, whoever makes it, shows an ASCII stand-in:
`x` for `×`, `-` and `|` for the tree's lines, `~` for `…`. The symbols that line tables up have
one-character stand-ins, so columns stay aligned; the rest read as words (`floor(…)`, `^2`).
Characters the encoding has are left alone (cp1252 keeps its `×`).

Diagnostics (errors and warnings) are coloured when stderr is a terminal that takes colour, as
tables are on stdout (rich decides: NO_COLOR, FORCE_COLOR, TERM=dumb).
"""

from __future__ import annotations

import codecs
import io
import os
import re
import sys

ERRORS = "nnshape-ascii"

# one character each: these appear inside tables, where a longer stand-in would shift the columns
_TABLE = {
    "×": "x", "─": "-", "│": "|", "├": "|", "└": "`", "┌": ",", "┐": ",", "┘": "'", "┬": "-", "┴": "-", "┼": "+",
    "…": "~", "—": "-", "–": "-", "−": "-", "→": ">", "←": "<", "Δ": "d", "·": "*", "≠": "#", "✓": "+", "✗": "x",
    "\u00a0": " ", "‘": "'", "’": "'", "“": '"', "”": '"',
}
# free text only (explain, conventions, footers)
_TEXT = {
    "⌊": "floor(", "⌋": ")", "⌈": "ceil(", "⌉": ")", "≤": "<=", "≥": ">=", "≈": "~=", "√": "sqrt",
    "⁰": "^0", "¹": "^1", "²": "^2", "³": "^3", "⁴": "^4", "⁵": "^5", "⁶": "^6", "⁷": "^7", "⁸": "^8", "⁹": "^9",
    "⁻": "^-", "ᵀ": "^T", "µ": "u", "α": "alpha", "β": "beta", "γ": "gamma", "ε": "eps", "σ": "sigma",
}
ASCII = {**_TEXT, **_TABLE}


def to_ascii(text: str) -> str:
    """``text`` with every character outside ASCII replaced by its stand-in (``?`` if none)."""
    return "".join(ch if ch < "\x80" else ASCII.get(ch, "?") for ch in text)


def printable(text: str, limit: int = 80) -> str:
    """A word from the command line, safe to echo: control characters shown as `?`, and cut."""
    shown = "".join(ch if ch.isprintable() else "?" for ch in text[:limit])
    return shown + ("…" if len(text) > limit else "")


def _handler(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeEncodeError):
        raise error
    return to_ascii(error.object[error.start : error.end]), error.end


_registered = False


def install_fallback(*streams) -> None:
    """Give ``streams`` (default: stdout and stderr) the ASCII stand-ins for what their encoding
    cannot write. Idempotent; streams that are not text files are left alone."""
    global _registered
    if not _registered:
        codecs.register_error(ERRORS, _handler)
        _registered = True
    for stream in streams or (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.errors in ("strict", "backslashreplace", "replace"):
            try:
                stream.reconfigure(errors=ERRORS)
            except (ValueError, io.UnsupportedOperation):  # pragma: no cover - a closed or odd stream
                pass


# ------------------------------------------------------------------------------ colour

_HEAD = re.compile(r"^(?P<where>\S.*?: )?(?P<severity>error|warning)(?P<code>\[[EW]\d+\])?: (?P<message>.*)$")
_GUTTER = re.compile(r"^(?P<gutter>\s*\d* \| )(?P<rest>.*)$")
_LABEL = re.compile(r"^(?P<label>  (?:expected|found|note|hint):)(?P<rest>.*)$")
_SEVERITY_STYLE = {"error": "bold red", "warning": "bold yellow"}
_LABEL_STYLE = {"hint": "bold cyan", "note": "bold", "expected": "bold", "found": "bold"}


def stderr_wants_color() -> bool:
    """rich's own decision for stderr, asked only when stderr is a terminal or colour is forced
    (so a redirected stderr never imports rich)."""
    if not _isatty(sys.stderr) and not os.environ.get("FORCE_COLOR") and not os.environ.get("TTY_COMPATIBLE"):
        return False
    from rich.console import Console

    console = Console(stderr=True)
    return console.is_terminal and console.color_system is not None and not console.no_color


def _isatty(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def color_diagnostics(text: str) -> str:
    """A rendered report (``file:line:col: error[E…]: …``, the line, the caret, expected/found/
    hint) with rustc's colours: the severity red or yellow, the caret in the same colour, the
    gutter dim blue, the labels bold and the hint cyan."""
    from rich.console import Console
    from rich.text import Text

    out = Text(no_wrap=True, overflow="ignore")
    severity = "error"
    for index, line in enumerate(text.split("\n")):
        if index:
            out.append("\n")
        head = _HEAD.match(line)
        gutter = _GUTTER.match(line)
        label = _LABEL.match(line)
        if head:
            severity = head["severity"]
            if head["where"]:
                out.append(head["where"], style="bold")
            out.append(head["severity"] + (head["code"] or ""), style=_SEVERITY_STYLE[severity])
            out.append(": ")
            out.append(head["message"], style="bold")
        elif gutter:
            out.append(gutter["gutter"], style="bold blue")
            caret = gutter["rest"].strip() and set(gutter["rest"].strip()) <= {"^", "~"}
            out.append(gutter["rest"], style=_SEVERITY_STYLE[severity] if caret else "")
        elif label:
            out.append(label["label"], style=_LABEL_STYLE[label["label"].strip(" :")])
            out.append(label["rest"])
        else:
            out.append(line)
    buffer = io.StringIO()
    Console(file=buffer, force_terminal=True, width=10_000, highlight=False).print(out, end="", soft_wrap=True)
    return buffer.getvalue()
