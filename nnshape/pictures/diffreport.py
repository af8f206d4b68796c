"""`nnshape diff OLD NEW --format html`: the two networks side by side, what changed highlighted.

Both diagrams mark the nodes of changed rows (amber), removed ones on the old side (red) and
added ones on the new side (green); a folded block that holds a change is marked as changed. The
table lists every aligned row with its status. Needs Graphviz; no charts, so no plotly.
"""

from __future__ import annotations

from ..compare import STATUS_MARK, Diff, headline, layer_cells, total_lines
from ..plan import Plan
from ..symbolic import Poly
from .dot import STATUS_COLOR
from .page import asset, esc, page
from .report import diagram_section, fitting_graph, node_data, svg_of

COLUMNS = (("", False), ("Path", False), ("Layer", False), ("Output shape", False), ("Params", True), ("Δ params", True), ("Δ MACs", True))


def highlights(diff: Diff) -> tuple[dict[str, str], dict[str, str]]:
    """Row path -> status, for the old and for the new network."""
    old: dict[str, str] = {}
    new: dict[str, str] = {}
    for rc in diff.rows:
        if rc.status in ("removed", "changed") and rc.old is not None:
            old[rc.old.path] = rc.status
        if rc.status in ("added", "changed") and rc.new is not None:
            new[rc.new.path] = rc.status
    return old, new


def _value(value) -> str:
    return "" if isinstance(value, Poly) else str(value)


def _delta_value(rc, attr: str) -> str:
    return _value(rc.amount(attr, "new") - rc.amount(attr, "old"))


def diff_table(diff: Diff, shown: list[int]) -> str:
    head = "".join(
        f'<th scope="col" data-col="{i}" data-type="{"num" if numeric else "text"}" class="sortable" tabindex="0" aria-sort="none">{esc(title)}</th>'
        for i, (title, numeric) in enumerate(COLUMNS)
    )
    rows = []
    for index in shown:
        rc = diff.rows[index]
        cells = layer_cells(rc)
        rows.append(
            f'<tr id="row-{index}" class="st-{rc.status}" data-i="{index}" data-parent="" data-status="{rc.status}">'
            f'<td title="{esc(rc.status)}">{esc(STATUS_MARK[rc.status].strip() or "·")}</td>'
            f"<td>{esc(cells['path'])}</td>"
            f'<td class="layer">{esc(cells["layer"].strip())}</td>'
            f"<td>{esc(cells['output'])}</td>"
            f'<td class="num" data-v="{_value(rc.amount("params", "new" if rc.new else "old"))}">{esc(cells["params"])}</td>'
            f'<td class="num" data-v="{_delta_value(rc, "params")}">{esc(cells["dparams"])}</td>'
            f'<td class="num" data-v="{_delta_value(rc, "macs")}">{esc(cells["dmacs"])}</td></tr>'
        )
    c = diff.counts()
    caption = f"{c['added']} added, {c['removed']} removed, {c['changed']} changed, {c['unchanged']} unchanged rows"
    return (
        f'<table id="layers-table" class="layers"><caption>{esc(caption)}</caption><thead><tr>{head}</tr></thead>'
        "<tbody>\n" + "\n".join(rows) + "\n</tbody></table>"
    )


def totals_table(diff: Diff) -> str:
    rows = "".join(f"<tr>{''.join(f'<td>{esc(cell)}</td>' for cell in line)}</tr>" for line in total_lines(diff))
    return f'<table class="layers totals-diff"><thead><tr><th></th><th>old</th><th>new</th><th>Δ</th><th>Δ %</th></tr></thead><tbody>{rows}</tbody></table>'


def diff_html(diff: Diff, old_plan: Plan, new_plan: Plan, *, depth: int | None = None, show_all: bool = False, direction: str = "TB") -> str:
    """The page: the diagrams folded at ``depth`` (default: as deep as fits), the table's rows
    down to ``depth``, unchanged ones only with ``show_all``. Needs Graphviz (DotMissingError)."""
    shown = [i for i, rc in enumerate(diff.rows) if (show_all or rc.status != "unchanged") and (depth is None or rc.row.depth <= depth)]
    old_marks, new_marks = highlights(diff)
    old_graph = fitting_graph(diff.old, old_plan, depth, old_marks)
    new_graph = fitting_graph(diff.new, new_plan, depth, new_marks)
    sides = (
        '<div class="sides">'
        + diagram_section(svg_of(old_graph, direction), old_graph, section_id="diagram-old", heading=f"Old: {diff.old.source}")
        + diagram_section(svg_of(new_graph, direction), new_graph, section_id="diagram-new", heading=f"New: {diff.new.source}")
        + "</div>"
    )
    key = '<p class="diff-key">' + "".join(
        f'<span><i style="border-color:{STATUS_COLOR[s]}"></i>{esc(s)}</span>' for s in ("added", "removed", "changed")
    ) + "</p>"
    body = "".join([
        f'<header><h1>nnshape diff: <span class="source">{esc(diff.old.source)}</span> → <span class="source">{esc(diff.new.source)}</span></h1>'
        f"<p>{esc(headline(diff))}</p></header>\n",
        '<nav><a href="#diagrams">Diagrams</a> <a href="#totals">Totals</a> <a href="#layers">Layers</a></nav>\n',
        f'<section id="diagrams"><h2>Diagrams</h2>{key}</section>{sides}\n',
        f'<section id="totals"><h2>Totals</h2>{totals_table(diff)}</section>\n',
        f'<section id="layers"><h2>Layers</h2><p class="hint">Rows aligned by path, then by order (as <code>nnshape diff</code>). '
        "Click a header to sort; a third click restores the order."
        + ("" if show_all else " Unchanged rows are left out (--all lists them).") + "</p>" + diff_table(diff, shown) + "</section>\n",
        "<footer>Made by nnshape. Diagrams: Graphviz.</footer>",
    ])
    rows_of = {diff.rows[i].old.path: i for i in shown if diff.rows[i].old is not None}
    rows_new = {diff.rows[i].new.path: i for i in shown if diff.rows[i].new is not None}
    data = {"kind": "diff", "charts": {}, "config": {}, "diagrams": {
        "diagram-old": _relink(node_data(old_graph), old_graph, rows_of),
        "diagram-new": _relink(node_data(new_graph), new_graph, rows_new),
    }}
    return page(f"nnshape diff: {diff.old.source} → {diff.new.source}", body, data, [asset("report.js")], asset("report.css"))


def _relink(nodes: dict, graph, rows: dict[str, int]) -> dict:
    """Point each node at its row of the diff table (not of its summary)."""
    for node in graph.nodes:
        nodes[node.id]["row"] = rows.get(node.path) if node.path is not None else None
    return nodes
