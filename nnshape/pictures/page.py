"""One self-contained HTML page: escaping, inlined scripts and styles, and a Content Security
Policy that lets only those scripts run.

A report shows text from an untrusted spec (names, statements, the file name). Everything from
it goes through :func:`esc` (element text and attribute values) or :func:`json_for_script`
(data read by the scripts); the SVG diagram comes from Graphviz, which escapes its labels. As a
second wall, the page's policy runs only the scripts whose SHA-256 it lists (ours and the
charting library's) and loads nothing from anywhere (``default-src 'none'``): a script that got
into the page some other way would not run, and opening the file makes no network request.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
from importlib.resources import files

from .. import __version__


def esc(value) -> str:
    """Text or an attribute value (quoted with ") for HTML; control characters become `?`."""
    value = "".join(ch if ch.isprintable() or ch in "\n\t" else "?" for ch in str(value))
    return html.escape(value, quote=True)


def json_for_script(data) -> str:
    """JSON that is safe inside ``<script type="application/json">``: no ``<``, ``>`` or ``&``
    (so no ``</script>`` or ``<!--``), no line separators."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for ch, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, code)
    return text


def asset(name: str) -> str:
    """A file of ours shipped in nnshape/pictures/assets/ (the report's script and style)."""
    return (files("nnshape.pictures") / "assets" / name).read_text(encoding="utf-8")


_SVG_START = re.compile(r"<svg\b[^>]*>", re.S)


def inline_svg(svg: str) -> str:
    """Graphviz's SVG document as an element to put in HTML: the XML prolog, doctype and comments
    before ``<svg`` dropped, its fixed width and height removed (the page sizes it)."""
    start = svg.find("<svg")
    if start < 0:
        raise ValueError("not an SVG document")
    body = svg[start:]
    match = _SVG_START.match(body)
    assert match is not None
    tag = re.sub(r'\s(width|height)="[^"]*"', "", match.group(0))
    tag = tag.replace("<svg", '<svg class="diagram" role="img" aria-label="network diagram"', 1)
    return tag + body[match.end():]


def _digest(script: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii") + "'"


def page(title: str, body: str, data: dict, scripts: list[str], style: str) -> str:
    """The whole page. ``body`` is HTML already escaped; ``data`` goes in as JSON for the
    scripts, which run in order after the body."""
    for script in scripts:
        if "</script" in script.lower():  # would end the element early
            raise ValueError("an inlined script contains '</script'")
    policy = (
        "default-src 'none'; "
        f"script-src {' '.join(_digest(s) for s in scripts)}; "
        "style-src 'unsafe-inline'; img-src data:; font-src data:; base-uri 'none'; form-action 'none'"
    )
    parts = [
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n",
        f'<meta http-equiv="Content-Security-Policy" content="{esc(policy)}">\n',
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        f'<meta name="generator" content="nnshape {esc(__version__)}">\n',
        f"<title>{esc(title)}</title>\n<style>\n{style}</style>\n</head>\n<body>\n",
        body,
        f'\n<script type="application/json" id="nnshape-data">{json_for_script(data)}</script>\n',
    ]
    parts += [f"<script>{script}</script>\n" for script in scripts]
    parts.append("</body>\n</html>\n")
    return "".join(parts)
