"""A :class:`~.graph.Graph` as Graphviz DOT text, and DOT laid out by Graphviz's ``dot`` program.

Writing DOT needs nothing installed; SVG, PNG and PDF need ``dot`` (a system program: pip cannot
install it). Everything that comes from the spec (statements, names, shapes, the file name)
reaches DOT only inside HTML-like labels, escaped here: node and cluster ids are ours (``n12``,
``cluster_3``), and no spec text goes into an attribute that Graphviz would interpret (``\\N``,
``URL``, ``href``, ``id``).
"""

from __future__ import annotations

import math
import shutil
import subprocess

from ..errors import NNShapeError
from ..limits import DOT_TIMEOUT_S
from .graph import Cluster, Graph, Node

FORMATS = ("dot", "svg", "png", "pdf")
DIRECTIONS = ("TB", "LR")
INSTALL_HINT = "install Graphviz, which provides `dot`: apt-get install graphviz (Debian, Ubuntu), brew install graphviz (macOS), conda install graphviz"

FAMILY_FILL = {
    "conv": "#cfe2f3",
    "dense": "#d9ead3",
    "norm": "#fff2cc",
    "activation": "#fce5cd",
    "pooling": "#d0e0e3",
    "attention": "#ead1dc",
    "sequence": "#d9d2e9",
    "regularization": "#eeeeee",
    "shape": "#f6f6f6",
    "augmentation": "#e2efda",
    "block": "#e4dff2",
    "io": "#ffffff",
    "op": "#ffffff",
}
STATUS_COLOR = {"added": "#1a7f37", "removed": "#cf222e", "changed": "#bf8700"}
CLUSTER_STYLE = {  # kind: (style, colour)
    "block": ("rounded", "#7f7f7f"),
    "call": ("rounded", "#9e9e9e"),
    "repeat": ("rounded,bold", "#6a51a3"),
    "pass": ("rounded,dotted", "#6a51a3"),
    "residual": ("rounded,dashed", "#2b7bba"),
    "shortcut": ("rounded,dotted", "#2b7bba"),
    "merge": ("rounded,dashed", "#7f7f7f"),
    "branch": ("rounded,dotted", "#9e9e9e"),
    "from": ("rounded,dashed", "#8c6d31"),
}
EDGE_STYLE = {
    "data": 'color="#555555"',
    "skip": 'color="#2b7bba", penwidth=1.6',
    "named": 'color="#8c6d31", style=dashed',
    "shares": 'color="#7b3294", style=dashed, constraint=false',  # tie= / reuse: the weights' owner to a user
}
SHADE_STOPS = ((255, 247, 236), (253, 187, 132), (239, 101, 72), (153, 0, 0))  # light to dark
SHADE_NAMES = {"macs": "MACs", "params": "parameters", "memory": "activation memory"}
LABEL_WIDTH = 44  # characters per label line before it wraps
LABEL_LINES = 4


class DotMissingError(NNShapeError):
    """Graphviz's `dot` is not installed (needed for SVG, PNG, PDF and the HTML report)."""

    code = "E0620"


class DotFailedError(NNShapeError):
    """`dot` failed or ran out of time."""

    code = "E0623"


# ---------------------------------------------------------------------- escaping
def text(value: str) -> str:
    """Text for an HTML-like label: XML-escaped; control characters shown as `?` (Graphviz's XML
    parser rejects them)."""
    value = "".join(ch if ch.isprintable() else "?" for ch in str(value))
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def wrap(value: str, width: int = LABEL_WIDTH, lines: int = LABEL_LINES) -> list[str]:
    """Break a long statement at spaces (or anywhere, for a long word) into at most ``lines``."""
    out: list[str] = []
    current = ""
    for word in str(value).split(" "):
        while len(word) > width:
            if current:
                out.append(current)
                current = ""
            out.append(word[:width])
            word = word[width:]
        if current and len(current) + 1 + len(word) > width:
            out.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current or not out:
        out.append(current)
    if len(out) > lines:
        out = out[: lines - 1] + [out[lines - 1][: width - 1] + "…"]
    return out


# ---------------------------------------------------------------------- colours
def shade(fraction: float) -> str:
    """A colour on the light-to-dark ramp for ``fraction`` in [0, 1]."""
    fraction = min(max(fraction, 0.0), 1.0)
    position = fraction * (len(SHADE_STOPS) - 1)
    i = min(int(position), len(SHADE_STOPS) - 2)
    t = position - i
    a, b = SHADE_STOPS[i], SHADE_STOPS[i + 1]
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(a, b))


def fill_of(node: Node, metric: str | None, maxima: dict[str, int]) -> tuple[str, str]:
    """(fill colour, font colour) of a node: by its kind's family, or shaded by ``metric``."""
    if metric is None or node.role in ("input", "output", "op"):
        return FAMILY_FILL.get(node.family, "#ffffff"), "#000000"
    value, top = node.metrics.get(metric), maxima.get(metric, 0)
    if value is None or top <= 0:
        return "#ffffff", "#000000"
    fraction = math.sqrt(max(value, 0) / top)  # square root: the small layers stay visible
    return shade(fraction), "#ffffff" if fraction > 0.62 else "#000000"


# ---------------------------------------------------------------------- DOT
def to_dot(graph: Graph, *, direction: str = "TB", shade_by: str | None = None, title: str | None = None) -> str:
    """The DOT text of ``graph``. ``shade_by``: macs, params or memory (else colours by family)."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, not {direction!r}")
    maxima = graph.maxima()
    out = [
        "digraph nnshape {",
        f'  graph [rankdir={direction}, fontname="Helvetica,Arial,sans-serif", fontsize=11, nodesep=0.3, ranksep=0.32, '
        'margin=0.1, bgcolor="white", labeljust=l];',
        '  node [shape=box, style="rounded,filled", fontname="Helvetica,Arial,sans-serif", fontsize=10, '
        'margin="0.12,0.05", height=0.3, penwidth=0.8, color="#444444"];',
        '  edge [fontname="Helvetica,Arial,sans-serif", fontsize=8, fontcolor="#444444", arrowsize=0.6];',
    ]
    caption = []
    if title:
        caption.append(f"<B>{text(title)}</B>")
    if shade_by is not None:
        top = maxima.get(shade_by, 0)
        caption.append(text(f"shade: {SHADE_NAMES[shade_by]} of each node, all copies (darkest {_human(shade_by, top)})"))
    if caption:
        out.append(f"  label=<{'<BR/>'.join(caption)}>; labelloc=b; fontsize=10;")
    by_cluster: dict[str | None, list[Node]] = {}
    for node in graph.nodes:
        by_cluster.setdefault(node.cluster, []).append(node)
    inside: dict[str | None, list[Cluster]] = {}
    for cluster in graph.clusters:
        inside.setdefault(cluster.parent, []).append(cluster)

    def emit(parent: str | None, indent: str) -> None:
        for node in by_cluster.get(parent, ()):
            out.append(indent + _node(node, shade_by, maxima))
        for cluster in inside.get(parent, ()):
            style, color = CLUSTER_STYLE.get(cluster.kind, ("rounded", "#9e9e9e"))
            pen = "0.9"
            if cluster.status in STATUS_COLOR:
                color, pen = STATUS_COLOR[cluster.status], "2.5"
            out.append(f"{indent}subgraph {cluster.id} {{")
            out.append(
                f'{indent}  id="nn-{cluster.id}"; label=<{text(cluster.title)}>; style="{style}"; color="{color}"; '
                f'penwidth={pen}; fontsize=9; fontcolor="#333333"; margin=8; labelloc=t;'
            )
            emit(cluster.id, indent + "  ")
            out.append(f"{indent}}}")

    emit(None, "  ")
    for edge in graph.edges:
        out.append(f"  {edge.src} -> {edge.dst} [label=<{text(edge.label)}>, {EDGE_STYLE.get(edge.kind, EDGE_STYLE['data'])}];")
    out.append("}")
    return "\n".join(out) + "\n"


def _node(node: Node, shade_by: str | None, maxima: dict[str, int]) -> str:
    fill, font = fill_of(node, shade_by, maxima)
    attrs = [f'id="nn-{node.id}"', f'fillcolor="{fill}"', f'fontcolor="{font}"']
    if node.role == "op":
        title = text(node.title)
        attrs.append(f"label=<<B>{title}</B>>")
        attrs.append("shape=circle, width=0.3, fixedsize=false, margin=0.02" if len(node.title) <= 2 else "shape=box, style=\"rounded,filled\"")
    else:
        head = wrap(node.title)
        lines = [f"<B>{text(head[0])}</B>"] + [text(line) for line in head[1:]]
        lines += [f'<FONT POINT-SIZE="8">{text(line)}</FONT>' for line in node.lines]
        attrs.append(f"label=<{'<BR/>'.join(lines)}>")
        if node.role in ("input", "output"):
            attrs.append('shape=box, style="rounded,filled,bold"')
        elif node.role == "block":
            attrs.append('style="rounded,filled,bold", peripheries=2')
    if node.status in STATUS_COLOR:
        attrs.append(f'color="{STATUS_COLOR[node.status]}", penwidth=3')
    return f"{node.id} [{', '.join(attrs)}];"


def _human(metric: str, value: int) -> str:
    from .. import formatting as fmt

    return fmt.human_bytes(value) if metric == "memory" else fmt.human(value)


# ---------------------------------------------------------------------- layout
def find_dot() -> str | None:
    return shutil.which("dot")


def render(dot_text: str, fmt: str, *, timeout: float = DOT_TIMEOUT_S) -> bytes:
    """Lay DOT out with Graphviz: the SVG, PNG or PDF bytes. Raises DotMissingError when ``dot``
    is not installed, DotFailedError when it fails or takes longer than ``timeout`` seconds."""
    if fmt not in ("svg", "png", "pdf"):
        raise ValueError(f"cannot render {fmt!r}")
    program = find_dot()
    if program is None:
        raise DotMissingError(f"drawing {fmt.upper()} needs Graphviz's `dot` program, which is not installed", hint=INSTALL_HINT)
    try:
        proc = subprocess.run([program, f"-T{fmt}"], input=dot_text.encode("utf-8"), capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise DotFailedError(
            f"Graphviz did not finish laying out the diagram in {timeout:g} s", hint="fold deep blocks with --depth"
        ) from None
    except OSError as exc:
        raise DotFailedError(f"could not run Graphviz's `dot` ({exc.strerror or exc})", hint=INSTALL_HINT) from None
    if proc.returncode != 0 or not proc.stdout:
        reason = _printable(proc.stderr.decode("utf-8", "replace").strip().splitlines()[:1])
        raise DotFailedError(f"Graphviz's `dot` failed (status {proc.returncode})" + (f": {reason}" if reason else ""))
    return proc.stdout


def _printable(lines: list[str]) -> str:
    line = lines[0] if lines else ""
    return "".join(ch if ch.isprintable() else "?" for ch in line)[:200]
