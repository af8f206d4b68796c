"""The report's charts, as Plotly figures (plain dicts: ``{"data": [...], "layout": {...}}``).

plotly.js draws them in the page, as SVG; nothing here imports plotly. Values are what a row
contributes to the network (one instance × ``repeat``); a symbolic value is left out (null).
Text that Plotly shows (layer names) is HTML-escaped first: Plotly reads a few tags in labels.
"""

from __future__ import annotations

import html

from ..limits import MAX_CHART_BARS
from ..memory import Memory
from ..summary import LayerRow, Summary
from ..symbolic import Poly

METRICS = (  # (key, title, colour)
    ("macs", "MACs", "#e6550d"),
    ("params", "parameters", "#3182bd"),
    ("memory", "activation memory (bytes)", "#31a354"),
)
MEMORY_PARTS = (  # (Memory attribute, legend name, colour)
    ("params_bytes", "weights", "#3182bd"),
    ("buffers_bytes", "buffers", "#9ecae1"),
    ("gradients_bytes", "gradients", "#756bb1"),
    ("master_weights_bytes", "fp32 master weights", "#bcbddc"),
    ("optimizer_bytes", "optimizer state", "#e6550d"),
    ("saved_for_backward_bytes", "saved activations", "#31a354"),
)
CONFIG = {"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": ["select2d", "lasso2d", "sendDataToCloud"]}


def _number(value):
    return None if isinstance(value, Poly) else value


def contribution(row: LayerRow, metric: str):
    value = {"macs": row.macs, "params": row.params, "memory": row.activation_bytes}[metric]
    return _number(value * row.repeat) if not isinstance(value, Poly) else None


def _label(text: str) -> str:
    return html.escape(text, quote=False)


def rows_figure(rows: list[LayerRow], title: str) -> dict:
    """Three bar charts stacked, sharing the x axis (one bar per row): MACs, parameters and
    activation memory of each row, all copies."""
    x = [_label(r.path or r.label) for r in rows]
    hover = [_label(r.label + (f" × {r.repeat:,}" if r.repeat > 1 else "")) for r in rows]
    data = []
    for i, (key, name, colour) in enumerate(METRICS, 1):
        data.append({
            "type": "bar", "name": name, "x": x, "y": [contribution(r, key) for r in rows],
            "customdata": hover, "marker": {"color": colour}, "xaxis": "x", "yaxis": "y" if i == 1 else f"y{i}",
            "hovertemplate": "%{customdata}<br>%{y:,} " + name.split(" (")[0] + "<extra></extra>",
        })
    layout = {
        "title": {"text": _label(title), "x": 0, "font": {"size": 14}},
        "grid": {"rows": 3, "columns": 1, "pattern": "coupled", "roworder": "top to bottom"},
        "height": 620, "showlegend": False, "bargap": 0.15,
        "margin": {"l": 70, "r": 20, "t": 40, "b": 100 if len(rows) <= 60 else 30},
        "xaxis": {"type": "category", "showticklabels": len(rows) <= 60, "tickangle": -45, "automargin": True},
    }
    for i, (_, name, _) in enumerate(METRICS, 1):
        layout["yaxis" if i == 1 else f"yaxis{i}"] = {"title": {"text": name, "font": {"size": 11}}, "rangemode": "tozero", "exponentformat": "SI"}
    return {"data": data, "layout": layout}


def layer_rows(summary: Summary, limit: int = MAX_CHART_BARS) -> tuple[list[LayerRow], int]:
    """The leaf rows to chart, in network order: all of them, or the ``limit`` with the most MACs
    (then parameters). Returns (rows, how many leaves there are)."""
    leaves = [row for row in summary.layers if not row.is_block]
    if len(leaves) <= limit:
        return leaves, len(leaves)

    def weight(item):
        _, row = item
        return (contribution(row, "macs") or 0, contribution(row, "params") or 0)

    keep = sorted(sorted(enumerate(leaves), key=weight, reverse=True)[:limit])
    return [row for _, row in keep], len(leaves)


def block_rows(summary: Summary) -> list[LayerRow]:
    """The rows of the first depth that has more than one (the top level, or inside the one
    block that holds everything); at most MAX_CHART_BARS."""
    rows: list[LayerRow] = []
    for depth in range(0, 1 + max((r.depth for r in summary.layers), default=0)):
        rows = [r for r in summary.layers if r.depth == depth]
        if len(rows) > 1:
            break
    return rows[:MAX_CHART_BARS]


def memory_parts(memory: Memory) -> list[tuple[str, str, int | None, int | None]]:
    """(name, colour, inference bytes, training bytes) of each part of the memory estimates."""
    parts = []
    for attr, name, colour in MEMORY_PARTS:
        value = getattr(memory, attr, 0) or 0
        inference = value if attr in ("params_bytes", "buffers_bytes") else 0
        parts.append((name, colour, _number(inference), _number(value)))
    parts.append(("activations (inference peak)", "#a1d99b", _number(memory.inference_peak_bytes), 0))
    for attr in sorted(vars(memory)):  # a KV cache, where the analysis reports one
        if ("kv" in attr or "cache" in attr) and attr.endswith("_bytes"):
            value = getattr(memory, attr) or 0
            parts.append((attr.removesuffix("_bytes").replace("_", " "), "#fdae6b", _number(value), _number(value)))
    return parts


def memory_figure(memory: Memory) -> dict | None:
    """A stacked horizontal bar for inference and one for training; None when a part is symbolic."""
    parts = memory_parts(memory)
    if any(inf is None or train is None for _, _, inf, train in parts):
        return None
    bars = ["inference", f"training ({memory.optimizer}{', amp' if memory.amp else ''})"]
    data = [
        {
            "type": "bar", "orientation": "h", "name": name, "y": bars, "x": [inference, training],
            "marker": {"color": colour}, "hovertemplate": f"{name}: %{{x:,}} B<extra></extra>",
        }
        for name, colour, inference, training in parts
        if inference or training
    ]
    layout = {
        "title": {"text": f"Memory ({memory.dtype})", "x": 0, "font": {"size": 14}},
        "barmode": "stack", "height": 260, "margin": {"l": 130, "r": 20, "t": 40, "b": 40},
        "xaxis": {"title": {"text": "bytes"}, "exponentformat": "SI"},
        "legend": {"orientation": "h", "y": -0.35},
    }
    return {"data": data, "layout": layout}


def figures(summary: Summary) -> dict[str, dict]:
    """Every chart of the report, by the id of the element that shows it."""
    out: dict[str, dict] = {}
    leaves, total = layer_rows(summary)
    if leaves:
        title = "Per layer (all copies)" if len(leaves) == total else f"Per layer: the {len(leaves):,} of {total:,} layers with the most MACs"
        out["chart-layers"] = rows_figure(leaves, title)
    blocks = block_rows(summary)
    if len(blocks) > 1:
        out["chart-blocks"] = rows_figure(blocks, "Per block (all copies)")
    if summary.memory is not None:
        figure = memory_figure(summary.memory)
        if figure is not None:
            out["chart-memory"] = figure
    return out
