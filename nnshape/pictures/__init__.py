"""Pictures of a network: the diagram (Graphviz) and the one-file HTML report.

``graph`` turns the analysis (Summary + Plan) into nodes, edges and clusters; ``dot`` writes DOT
and runs Graphviz; ``report`` and ``diffreport`` assemble the HTML pages (``page`` escapes and
inlines), with charts from ``charts``. Nothing here is imported by ``import nnshape`` or by
``nnshape summary``; plotly is imported only while a report is written.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import NNShapeError
from ..plan import Plan
from ..summary import Summary


class PictureError(NNShapeError):
    """A picture that cannot be made as asked (an unknown output format)."""

    code = "E0621"


def analyze_for_picture(
    spec: Any, *, batch: int = 1, bindings: dict[str, Any] | None = None, dtype: str = "float32",
    optimizer: str = "adam", amp: bool = False,
) -> tuple[Summary, Plan]:
    """(Summary, Plan) of a spec (text, path, Source) or of a Summary (analyzed again from the
    text it keeps, with its own options: the numbers are the same, and now with the structure)."""
    from ..analysis import analyze_with_plan
    from ..api import load_source
    from ..parser import parse
    from ..source import Source

    if isinstance(spec, Summary):
        source = Source(spec.source, spec.source_text)
        memory = spec.memory
        values = {**dict(spec.bindings), **(bindings or {})}
        return analyze_with_plan(
            parse(source), source, batch=spec.batch, bindings=values, dtype=spec.dtype,
            optimizer=memory.optimizer if memory else optimizer, amp=memory.amp if memory else amp,
        )
    source = spec if isinstance(spec, Source) else load_source(spec)
    return analyze_with_plan(parse(source), source, batch=batch, bindings=dict(bindings or {}), dtype=dtype, optimizer=optimizer, amp=amp)


def format_of(path: str | os.PathLike, fmt: str | None = None) -> str:
    """The output format: ``fmt`` if given, else the file's suffix (dot, gv, svg, png, pdf)."""
    from .dot import FORMATS

    if fmt is None:
        suffix = Path(path).suffix.lower().lstrip(".")
        fmt = "dot" if suffix == "gv" else suffix
    if fmt not in FORMATS:
        raise PictureError(
            f"cannot tell the picture format from {str(path)!r}",
            expected="a file name ending in .svg, .png, .pdf or .dot (.gv), or --format",
            found=repr(fmt) if fmt else "no suffix",
        )
    return fmt


def diagram(
    summary: Summary, plan: Plan, fmt: str = "svg", *, depth: int | None = None, direction: str = "TB",
    shade: str | None = None, title: str | None = None, highlight: dict[str, str] | None = None,
) -> bytes:
    """The diagram as ``fmt`` bytes: DOT text (needs nothing) or laid out by Graphviz."""
    from .dot import render, to_dot
    from .graph import build_graph

    graph = build_graph(summary, plan, depth=depth, highlight=highlight)
    text = to_dot(graph, direction=direction, shade_by=shade, title=title)
    if fmt == "dot":
        return text.encode("utf-8")
    return render(text, fmt)


def draw(
    spec: Any, path: str | os.PathLike, *, fmt: str | None = None, depth: int | None = None, direction: str = "TB",
    shade: str | None = None, **options: Any,
) -> Path:
    """Write the diagram of ``spec`` (a Summary, text or path) to ``path``; the format comes from
    the suffix unless ``fmt`` says. ``options``: batch, bindings, dtype (for a spec)."""
    kind = format_of(path, fmt)
    summary, plan = analyze_for_picture(spec, **options)
    data = diagram(summary, plan, kind, depth=depth, direction=direction, shade=shade)
    target = Path(path)
    target.write_bytes(data)
    return target


__all__ = ["PictureError", "analyze_for_picture", "diagram", "draw", "format_of"]
