"""`nnshape report`: one HTML file with the diagram, the layer table, the charts and the totals.

The file is self-contained (scripts, styles and the SVG inline; see :mod:`.page`), so it can be
mailed or attached to a CI run and opened offline. The charts are drawn by plotly.js, taken from
the ``plotly`` Python package (``pip install plotly``); the diagram is laid out by
Graphviz's ``dot``.
"""

from __future__ import annotations

from .. import formatting as fmt
from ..errors import NNShapeError
from ..install import install_command
from ..limits import MAX_DRAW_NODES, MAX_REPORT_ROWS
from ..plan import Plan
from ..render.cells import footer_lines
from ..summary import LayerRow, Summary
from ..symbolic import Poly
from . import charts
from .dot import FAMILY_FILL, fill_of, render, to_dot
from .graph import METRICS, DiagramTooLarge, Graph, build_graph
from .page import asset, esc, inline_svg, page

INSTALL_HINT = install_command("plotly", "report")
COLUMNS = (  # (key, header, numeric)
    ("layer", "Layer", False),
    ("output", "Output shape", False),
    ("params", "Params", True),
    ("macs", "MACs", True),
    ("memory", "Activations", True),
    ("params%", "% params", True),
    ("macs%", "% MACs", True),
)


class PlotlyMissingError(NNShapeError):
    """The HTML report's charts need plotly, an optional dependency."""

    code = "E0624"


def plotly_js() -> str:
    """plotly.js as shipped in the plotly package (read from its files: importing plotly's Python
    side is not needed)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("plotly")
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        bundle = Path(folder) / "package_data" / "plotly.min.js"
        if bundle.is_file():
            return bundle.read_text(encoding="utf-8")
    try:
        from plotly.offline import get_plotlyjs
    except ImportError:
        raise PlotlyMissingError(
            "the HTML report draws its charts with plotly, which is not installed", hint=f"install it with: {INSTALL_HINT}"
        ) from None
    return get_plotlyjs()


# ---------------------------------------------------------------------- choosing what fits
def fitting_graph(summary: Summary, plan: Plan, depth: int | None, highlight: dict[str, str] | None = None) -> Graph:
    """The diagram at ``depth``, or (``depth`` None) at the deepest depth whose diagram has at
    most MAX_DRAW_NODES nodes (at worst depth 0, which may still be too large: DiagramTooLarge)."""
    if depth is not None:
        return build_graph(summary, plan, depth=depth, highlight=highlight, max_nodes=MAX_DRAW_NODES)
    deepest = max((row.depth for row in summary.layers), default=0)
    # A diagram folded at d has a node for each leaf row down to d and each block row at d (and
    # a few more: inputs, outputs, + and merges): a depth whose count is already too large is skipped.
    leaves_to = [0] * (deepest + 2)
    blocks_at = [0] * (deepest + 2)
    for row in summary.layers:
        if row.is_block:
            blocks_at[row.depth] += 1
        else:
            leaves_to[row.depth] += 1
    for d in range(1, deepest + 2):
        leaves_to[d] += leaves_to[d - 1]
    candidates: list[int | None] = [None] + list(range(deepest, -1, -1))
    for candidate in candidates:
        least = leaves_to[deepest + 1] if candidate is None else leaves_to[candidate] + blocks_at[candidate]
        if least > MAX_DRAW_NODES and candidate != 0:
            continue
        try:
            return build_graph(summary, plan, depth=candidate, highlight=highlight, max_nodes=MAX_DRAW_NODES)
        except DiagramTooLarge:
            if candidate == 0:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def table_depth(summary: Summary) -> int | None:
    """None (every row) or the deepest depth whose rows fit in MAX_REPORT_ROWS."""
    if len(summary.layers) <= MAX_REPORT_ROWS:
        return None
    counts: dict[int, int] = {}
    for row in summary.layers:
        counts[row.depth] = counts.get(row.depth, 0) + 1
    shown, depth = 0, 0
    for d in sorted(counts):
        shown += counts[d]
        if shown > MAX_REPORT_ROWS:
            break
        depth = d
    return depth


# ---------------------------------------------------------------------- parts of the page
def svg_of(graph: Graph, direction: str = "TB", title: str | None = None) -> str:
    return inline_svg(render(to_dot(graph, direction=direction, title=title), "svg").decode("utf-8"))


def node_data(graph: Graph) -> dict:
    """For the page's script: each node's row and its fill and font colour under each shading."""
    maxima = graph.maxima()
    out = {}
    for node in graph.nodes:
        fills = {"family": fill_of(node, None, maxima)}
        for metric in METRICS:
            fills[metric] = fill_of(node, metric, maxima)
        out[node.id] = {"row": node.row, "fills": fills}
    return out


def _num(value) -> str:
    return "" if isinstance(value, Poly) else str(value)


def table_rows(summary: Summary, depth: int | None, statuses: dict[int, str] | None = None) -> list[str]:
    """The ``<tr>`` of each row down to ``depth``: its parent, depth and the raw value of each
    numeric cell (``data-v``) for the script that folds and sorts."""
    out = []
    stack: list[tuple[int, int]] = []  # (depth, index) of the open blocks
    for index, row in enumerate(summary.layers):
        if depth is not None and row.depth > depth:
            continue
        while stack and stack[-1][0] >= row.depth:
            stack.pop()
        parent = stack[-1][1] if stack else ""
        folded = row.is_block and depth is not None and row.depth == depth
        if row.is_block and not folded:
            stack.append((row.depth, index))
        out.append(_tr(summary, index, row, parent, folded, (statuses or {}).get(index)))
    return out


def _tr(summary: Summary, index: int, row: LayerRow, parent, folded: bool, status: str | None) -> str:
    shares = f"  ({row.shares_text})" if row.shares is not None else ""  # as the text table says it
    label = row.label + shares + (f"  × {row.repeat:,}" if row.repeat > 1 else "") + ("  …" if folded else "")
    toggle = '<button class="toggle" type="button" aria-expanded="true" title="fold or unfold">▾</button>' if row.is_block and not folded else '<span class="nochild"></span>'
    memory = row.activation_bytes
    cells = [
        f'<td class="layer" style="padding-left:{0.4 + 1.1 * row.depth:.1f}em">{toggle}<span class="label">{esc(label)}</span></td>',
        f"<td>{esc(fmt.shape(row.output_shape))}</td>",
        f'<td class="num" data-v="{_num(row.params)}">{esc(fmt.count(row.params))}</td>',
        f'<td class="num" data-v="{_num(row.macs)}">{esc(fmt.count(row.macs))}</td>',
        f'<td class="num" data-v="{_num(memory)}">{esc(fmt.human_bytes(memory))}</td>',
        f'<td class="num" data-v="{_pct_value(row.params * row.repeat, summary.total_params)}">{esc(fmt.percent(row.params * row.repeat, summary.total_params))}</td>',
        f'<td class="num" data-v="{_pct_value(row.macs * row.repeat, summary.total_macs)}">{esc(fmt.percent(row.macs * row.repeat, summary.total_macs))}</td>',
    ]
    classes = ["block" if row.is_block else "layer"] + ([f"st-{status}"] if status else [])
    return (
        f'<tr id="row-{index}" class="{" ".join(classes)}" data-i="{index}" data-parent="{parent}" data-depth="{row.depth}" '
        f'data-path="{esc(row.path)}" title="{esc(row.path)} (line {row.line})">' + "".join(cells) + "</tr>"
    )


def _pct_value(part, whole) -> str:
    if isinstance(part, Poly) or isinstance(whole, Poly) or not whole:
        return ""
    return f"{100 * part / whole:.6g}"


def table_html(rows: list[str], caption: str) -> str:
    head = "".join(
        f'<th scope="col" data-col="{i}" data-type="{"num" if numeric else "text"}"'
        + (' class="sortable" tabindex="0" aria-sort="none"' if numeric or key == "layer" else "")
        + f">{esc(title)}</th>"
        for i, (key, title, numeric) in enumerate(COLUMNS)
    )
    return (
        f'<table id="layers-table" class="layers"><caption>{esc(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table>"
    )


def totals_html(summary: Summary) -> str:
    items = "".join(f"<dt>{esc(key)}</dt><dd>{esc(value)}</dd>" for key, value in footer_lines(summary))
    return f'<dl class="totals">{items}</dl>'


def warnings_html(summary: Summary) -> str:
    if not summary.warnings:
        return ""
    items = "".join(f"<li><pre>{esc(w.render())}</pre></li>" for w in summary.warnings)
    return f'<section id="warnings"><h2>Warnings</h2><ul class="warnings">{items}</ul></section>'


def cards_html(summary: Summary) -> str:
    cards = [
        ("Parameters", fmt.human(summary.total_params) if not isinstance(summary.total_params, Poly) else fmt.count(summary.total_params)),
        ("MACs", fmt.human(summary.total_macs)),
        ("Output", fmt.shape(summary.output_shape)),
    ]
    if summary.memory is not None:
        cards.append((f"Training memory ({summary.memory.optimizer})", fmt.human_bytes(summary.memory.training_bytes)))
        if summary.memory.inference_peak_bytes is not None:
            cards.append(("Inference peak", fmt.human_bytes(summary.memory.inference_peak_bytes)))
    return '<div class="cards">' + "".join(f'<div class="card"><div class="k">{esc(k)}</div><div class="v">{esc(v)}</div></div>' for k, v in cards) + "</div>"


def legend_html() -> str:
    names = ["conv", "dense", "norm", "activation", "pooling", "attention", "sequence", "regularization", "shape", "block"]
    return '<div class="legend" id="legend-family">' + "".join(
        f'<span><i style="background:{FAMILY_FILL[n]}"></i>{esc("folded block" if n == "block" else n)}</span>' for n in names
    ) + "</div>"


def diagram_section(svg: str, graph: Graph, note: str = "", section_id: str = "diagram", heading: str = "Diagram") -> str:
    folded = f" Blocks deeper than depth {graph.depth} are folded into one node (--depth)." if graph.depth is not None else ""
    return (
        f'<section id="{section_id}" class="diagram-section"><h2>{esc(heading)}</h2>'
        '<div class="toolbar"><button type="button" data-zoom="in" title="zoom in">+</button>'
        '<button type="button" data-zoom="out" title="zoom out">−</button>'
        '<button type="button" data-zoom="fit" title="show all">fit</button>'
        '<label>colour <select class="shade"><option value="family">by kind</option><option value="macs">by MACs</option>'
        '<option value="params">by parameters</option><option value="memory">by activation memory</option></select></label>'
        f'<span class="hint">wheel to zoom, drag to pan, click a layer for its row.{esc(folded)}{esc(note)}</span></div>'
        f'<div class="viewport">{svg}</div>{legend_html()}</section>'
    )


# ---------------------------------------------------------------------- the page
def report_html(summary: Summary, plan: Plan, *, depth: int | None = None, direction: str = "TB") -> str:
    """The report of an analyzed network. Needs Graphviz (DotMissingError) and plotly
    (PlotlyMissingError)."""
    library = plotly_js()
    try:
        graph = fitting_graph(summary, plan, depth)
        diagram = diagram_section(svg_of(graph, direction), graph)
        nodes = node_data(graph)
    except DiagramTooLarge as err:  # the table and charts are still worth having
        diagram = f'<section id="diagram"><h2>Diagram</h2><p class="note">Not drawn: {esc(err.message)}.</p></section>'
        nodes = {}
    rows_depth = table_depth(summary)
    rows = table_rows(summary, rows_depth)
    caption = f"{len(rows):,} rows" + (f" (folded to depth {rows_depth}: the network has {len(summary.layers):,})" if rows_depth is not None else "")
    figures = charts.figures(summary)
    chart_divs = "".join(f'<div class="chart" id="{esc(key)}"></div>' for key in figures)
    if summary.memory is not None and "chart-memory" not in figures:
        chart_divs += '<p class="note">The memory breakdown depends on a symbolic size: bind it with --set to chart it.</p>'
    body = "".join([
        f'<header><h1>nnshape report: <span class="source">{esc(summary.source)}</span></h1>{cards_html(summary)}</header>\n',
        '<nav><a href="#diagram">Diagram</a> <a href="#charts">Charts</a> <a href="#layers">Layers</a> <a href="#totals">Totals</a></nav>\n',
        diagram, "\n",
        f'<section id="charts"><h2>Charts</h2>{chart_divs}</section>\n',
        f'<section id="layers"><h2>Layers</h2><p class="hint">Click ▾ to fold a block, a numeric header to sort (within each block; a third click restores the network order). '
        "Numbers are per instance, as in <code>nnshape summary</code>; × N: the row stands for N copies; the % columns count all copies.</p>"
        f"{table_html(rows, caption)}</section>\n",
        f'<section id="totals"><h2>Totals and conventions</h2>{totals_html(summary)}</section>\n',
        warnings_html(summary),
        f'<footer>Made by nnshape from {esc(summary.source)}. Charts: plotly.js (MIT licence). Diagram: Graphviz.</footer>',
    ])
    data = {"kind": "report", "charts": figures, "config": charts.CONFIG, "diagrams": {"diagram": nodes}}
    return page(f"nnshape report: {summary.source}", body, data, [library, asset("report.js")], asset("report.css"))
