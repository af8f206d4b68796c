"""GitHub Actions workflow commands, so errors land on the right line of a pull request.

``::error file=models/a.nn,line=7,col=5,title=nnshape E0410::message`` — printed on stdout, one
line each; the runner turns them into annotations. As the runner expects, ``%``, CR and LF are
percent-encoded in the message, and ``:`` and ``,`` too in a property (file, title): a file name
can neither end the command nor start another. Other control characters (ESC, bidi overrides)
are shown escaped, as everywhere nnshape prints (safetext).
"""

from __future__ import annotations

from .errors import Diagnostic
from .safetext import UNSAFE, escape


def _data(text: str) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return escape(text) if UNSAFE.search(text) else text


def _prop(text: str) -> str:
    return _data(text).replace(":", "%3A").replace(",", "%2C")


def github(level: str, message: str, *, file: str | None = None, line: int | None = None, col: int | None = None, title: str | None = None) -> str:
    """One workflow command: `level` is error, warning or notice."""
    props = []
    if file:
        props.append(f"file={_prop(file)}")
    if line:
        props.append(f"line={line}")
        if col:
            props.append(f"col={col}")
    if title:
        props.append(f"title={_prop(title)}")
    return f"::{level}{' ' + ','.join(props) if props else ''}::{_data(message)}"


def diagnostic(diag: Diagnostic, file: str | None = None) -> str:
    """An error or warning of a spec as an annotation on its line, with expected/found/hint below."""
    lines = [diag.message]
    if diag.expected:
        lines.append(f"expected: {diag.expected}")
    if diag.found:
        lines.append(f"found: {diag.found}")
    lines.extend(f"note: {note}" for note in diag.notes)
    if diag.hint:
        lines.append(f"hint: {diag.hint}")
    level = "error" if diag.severity == "error" else "warning"
    name = file or (diag.source.name if diag.source else None)
    return github(level, "\n".join(lines), file=name, line=diag.line, col=diag.col, title=f"nnshape {diag.code}")
