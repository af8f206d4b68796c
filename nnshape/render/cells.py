"""What a table shows, computed once for the rich table and the markdown table."""

from __future__ import annotations

from dataclasses import dataclass

from .. import formatting as fmt
from ..summary import CONVENTIONS, LayerRow, Summary
from .rows import visible_rows
from .planning import plan_lines

HEADERS = {
    "layer": "Layer",
    "input": "Input shape",
    "output": "Output shape",
    "kernel": "Kernel / stride",
    "rf": "RF size/jump/start",
    "params": "Params",
    "params%": "% params",
    "macs": "MACs",
    "macs%": "% MACs",
    "path": "Path",
    "line": "Line",
}
RIGHT = {"params", "params%", "macs", "macs%", "line"}
PER_INSTANCE = {"params", "params%", "macs", "macs%"}  # the columns whose `× N` rows show one instance
OPTIONAL = ("line", "path", "input", "kernel", "rf", "macs%", "params%")  # left out first when a table must fit


def header_notes(cols: list[str], rows: list[LayerRow]) -> list[str]:
    """Qualifiers of the column titles: with a `× N` row among ``rows`` the count columns say
    ``(each)``: a row's numbers are always one instance's (docs/conventions.md, "Repeated rows"),
    and the header says so wherever the question can come up."""
    each = any(row.repeat > 1 for row in rows)
    return ["(each)" if each and c in PER_INSTANCE else "" for c in cols]


def headers(cols: list[str], rows: list[LayerRow]) -> list[str]:
    """Column titles with their qualifiers (`Params (each)`)."""
    return [HEADERS[c] + (f" {note}" if note else "") for c, note in zip(cols, header_notes(cols, rows))]


@dataclass(frozen=True)
class Cell:
    row: LayerRow
    prefix: str  # tree guides
    values: dict[str, str]
    suffix: str = ""  # `  × N` and the folded mark `  …`, part of values["layer"]

    @property
    def label_parts(self) -> tuple[str, str, str]:
        """(tree guides, label, suffix): a table that must fit shortens only the label."""
        text = self.values["layer"]
        return self.prefix, text[: len(text) - len(self.suffix)], self.suffix


def columns_for(extra: tuple[str, ...]) -> list[str]:
    cols = ["layer"]
    if "path" in extra:
        cols.append("path")
    if "line" in extra:
        cols.append("line")
    if "input" in extra:
        cols.append("input")
    cols.append("output")
    if "kernel" in extra:
        cols.append("kernel")
    if "rf" in extra:
        cols.append("rf")
    cols.append("params")
    if "params%" in extra:
        cols.append("params%")
    cols.append("macs")
    if "macs%" in extra:
        cols.append("macs%")
    return cols


class _Texts(dict):
    """value -> its text, each formatted once: a 100,000-row table repeats a few shapes and
    counts many times."""

    def __init__(self, format_value):
        super().__init__()
        self.format_value = format_value

    def __missing__(self, value):
        text = self[value] = self.format_value(value)
        return text


_VALUES = {
    "path": lambda row, s, t: row.path,
    "line": lambda row, s, t: str(row.line),
    "input": lambda row, s, t: ", ".join(t.shape[x] for x in row.input_shapes),
    "output": lambda row, s, t: t.shape[row.output_shape],
    "kernel": lambda row, s, t: " ".join(f"{k}={v}" for k, v in row.details if k in ("kernel", "stride", "padding", "dilation", "groups")),
    "params": lambda row, s, t: t.count[row.params],
    "params%": lambda row, s, t: fmt.percent(row.params, s.total_params),
    "macs": lambda row, s, t: t.count[row.macs],
    "macs%": lambda row, s, t: fmt.percent(row.macs, s.total_macs),
    "rf": lambda row, s, t: receptive_field_text(row.receptive_field),
}


@dataclass
class _Formatted:
    shape: _Texts
    count: _Texts


def cells(summary: Summary, depth: int | None, columns: list[str] | None = None) -> list[Cell]:
    """The text of each visible row's cells; only ``columns`` (default: all) are computed."""
    wanted = columns if columns is not None else ["layer", *_VALUES]
    rows = visible_rows(summary, depth)
    out: list[Cell] = []
    prefixes = tree_prefixes(rows)
    texts = _Formatted(_Texts(fmt.shape), _Texts(fmt.count))
    makers = [(col, _VALUES[col]) for col in wanted if col != "layer"]
    for row, prefix in zip(rows, prefixes):
        suffix = ""
        if row.repeat > 1:
            suffix += f"  × {row.repeat:,}"
        if row.is_block and depth is not None and row.depth == depth:
            suffix += "  …"
        # what a row shares is part of its label (a narrow table may cut it, never the `× N`)
        label = row.label if row.shares is None else f"{row.label}  ({row.shares_text})"
        values = {"layer": label + suffix} if "layer" in wanted else {}
        for col, make in makers:
            values[col] = make(row, summary, texts)
        out.append(Cell(row, prefix, values, suffix))
    return out


def receptive_field_text(field) -> str:
    """`11/4/-5` (size/jump/start, one axis when all agree, else one per axis joined by ', '),
    `global`, or `—` where the grid has ended (docs/conventions.md)."""
    if field is None:
        return "—"
    if not isinstance(field, tuple):
        return str(field)
    axes = [f"{f.size}/{f.jump}/{f.start}" for f in field]
    return axes[0] if len(set(axes)) == 1 else ", ".join(axes)


def tree_prefixes(rows: list[LayerRow]) -> list[str]:
    """Guides like `│  ├─ ` for every row, from the depths of the rows after it.

    One pass from the last row back (a row at ``level`` has a later sibling if a row of that
    depth comes before any shallower one), so a block of 100,000 rows costs 100,000 steps, not
    the square of it."""
    prefixes = [""] * len(rows)
    later_sibling: list[bool] = [False]  # by level: a row of this depth follows, with no shallower one between
    for index in range(len(rows) - 1, -1, -1):
        depth = rows[index].depth
        if len(later_sibling) <= depth:
            later_sibling.extend([False] * (depth + 1 - len(later_sibling)))
        if depth:
            guides = ["│  " if later_sibling[level] else "   " for level in range(1, depth)]
            guides.append("├─ " if later_sibling[depth] else "└─ ")
            prefixes[index] = "".join(guides)
        later_sibling[depth] = True
        for level in range(depth + 1, len(later_sibling)):
            later_sibling[level] = False
    return prefixes


FOOTERS = ("compact", "full")


def footer_lines(summary: Summary, footer: str = "full") -> list[tuple[str, str]]:
    """(label, value) lines under the table: ``compact`` (the default of `summary`: totals and
    memory in a few lines, and where to find the rest) or ``full`` (every total, and the
    conventions). Labels stay short, so values line up in one column whatever the options; what an
    option changes (--amp) is said in the value."""
    if footer == "compact":
        return _compact_footer(summary)
    inputs = "; ".join(f"{i.name} {fmt.shape(i.shape)} {i.dtype}" for i in summary.inputs)
    lines = [
        ("Input", inputs),
        ("Output", _output(summary)),
        ("Total params", _with_human(summary.total_params)),
        ("Trainable params", fmt.count(summary.trainable_params)),
        ("Non-trainable params", fmt.count(summary.non_trainable_params)),
        ("Buffers", f"{fmt.count(summary.total_buffers)} elements (running statistics etc., not parameters)"),
        ("Total MACs", _with_human(summary.total_macs)),
        ("Total FLOPs", _with_human(summary.total_flops) + _elementwise_note(summary)),
        ("Training FLOPs", f"{_with_human(summary.training_flops)} (forward + backward = 3 × forward FLOPs)"),
        (
            f"Param memory ({summary.dtype})",
            f"{fmt.human_bytes(summary.param_bytes)} params + {fmt.human_bytes(summary.buffer_bytes)} buffers",
        ),
        *_memory_lines(summary),
        ("Batch", str(summary.batch)),
    ]
    if summary.bindings:
        lines.append(("Bindings", _bindings(summary)))
    conventions = CONVENTIONS
    if summary.count_elementwise:
        conventions += "; --count-elementwise: FLOPs add activations, norms, softmax, pooling, biases and merges (DeepSpeed's rules)"
    lines.append(("Conventions", conventions))
    return lines


def conventions_text() -> str:
    """`nnshape layers --conventions`: the counting rules, one a line (the JSON's `conventions`,
    and what the full footer says), with where to read more."""
    rules = [rule[0].upper() + rule[1:] for rule in CONVENTIONS.split("; ")]
    rules += [
        "Training FLOPs = 3 × forward FLOPs (the backward pass of every counted op costs twice its forward)",
        "A `× N` row stands for N identical instances; its numbers (params, MACs, their %) are one "
        "instance's (each), in every output: table, markdown, JSON, CSV and diff",
        "Memory: parameters and buffers at --dtype; inference peak = the activations live at once; "
        "training = weights + gradients + optimizer state + activations saved for the backward",
        "--count-elementwise adds the FLOPs outside multiply-accumulates, each kind's rule as DeepSpeed's flops "
        "profiler (and calflops) counts them: activations and softmax 1 per element, layer/group/instance norm 4 "
        "(5 with affine), batch norm in eval 1 (2 with affine), pooling 1 per input element, a convolution's bias "
        "1 per output element, a linear's bias none, additions and products of merges 1 per element",
    ]
    return "".join(f"- {rule}\n" for rule in rules) + "\nEvery rule, with the reasons and the checks against PyTorch: docs/conventions.md\n"


def _elementwise_note(summary: Summary) -> str:
    """With --count-elementwise the FLOPs hold more than 2 × MACs: say how much."""
    if not summary.count_elementwise:
        return ""
    value = summary.elementwise_flops
    text = fmt.human(value) if isinstance(value, int) and value >= 1000 else fmt.count(value)
    missing = unmodelled_kinds(summary)
    gap = f"; not counted for {', '.join(missing)}" if missing else ""
    return f" (2 × MACs + {text} element-wise{gap})"


def unmodelled_kinds(summary: Summary) -> list[str]:
    """The kinds in ``summary`` whose element-wise FLOPs nnshape does not count (Kind.elementwise_modelled)."""
    from .. import registry

    names = sorted({row.kind for row in summary.leaves})
    return [n for n in names if (k := registry.find(n)) is not None and not k.elementwise_modelled]


def _output(summary: Summary) -> str:
    if len(summary.outputs) > 1:  # `output a, b`: each, in order
        return "; ".join(f"{o.name} {fmt.shape(o.shape)} {o.dtype}" for o in summary.outputs)
    return f"{fmt.shape(summary.output_shape)} {summary.output_dtype}" + (f" ({summary.output_name})" if summary.output_name else "")


def _bindings(summary: Summary) -> str:
    return ", ".join(f"{k}={v}" for k, v in summary.bindings)


def _compact_footer(summary: Summary) -> list[tuple[str, str]]:
    """Input, output, params, MACs, memory, training memory; `--footer full` has the rest."""
    params = _with_human(summary.total_params)
    frozen = summary.non_trainable_params
    if not isinstance(frozen, int) or frozen:
        params += f", {fmt.count(frozen)} frozen"
    flops = summary.total_flops
    flops_text = f"{fmt.human(flops)} FLOPs" if isinstance(flops, int) and flops >= 1000 else f"{fmt.count(flops)} FLOPs"
    lines = [
        ("Input", "; ".join(f"{i.name} {fmt.shape(i.shape)} {i.dtype}" for i in summary.inputs)),
        ("Output", _output(summary)),
        ("Params", params),
        ("MACs", f"{_with_human(summary.total_macs)} = {flops_text}" + _elementwise_note(summary)),
    ]
    m = summary.memory
    if m is not None:
        b = fmt.human_bytes
        peak = b(m.inference_peak_bytes) if m.inference_peak_bytes is not None else "symbolic (bind sizes with --set)"
        lines.append((f"Memory ({m.dtype})", f"{b(m.params_bytes + m.buffers_bytes)} weights, {peak} inference peak"))
        lines.append((f"Training ({m.optimizer}{', amp' if m.amp else ''})", b(m.training_bytes)))
        if m.kv_cache_bytes != 0:
            lines.append((f"KV cache ({m.dtype})", kv_cache_text(summary)))
        lines.extend(plan_lines(summary))  # asked for with --dp/--zero/--tp/--serve ...: always shown
    if summary.bindings:
        lines.append(("Bindings", _bindings(summary)))
    lines.append(("More", "--footer full; conventions: nnshape layers --conventions"))
    return lines


def _memory_lines(summary: Summary) -> list[tuple[str, str]]:
    """Inference peak and the training estimate, in decimal units (1 MB = 10⁶ bytes)."""
    m = summary.memory
    if m is None:
        return []
    b = fmt.human_bytes
    peak = b(m.inference_peak_bytes) if m.inference_peak_bytes is not None else "depends on a symbolic size (bind it with --set)"
    parts = f"{b(m.params_bytes + m.buffers_bytes)} weights + {b(m.gradients_bytes)} grads"
    if m.amp:
        parts += f" + {b(m.master_weights_bytes)} fp32 master"
    parts += f" + {b(m.optimizer_bytes)} {m.optimizer} state + {b(m.saved_for_backward_bytes)} saved activations"
    if m.amp:
        parts += f" (--amp: {m.dtype} activations and weights, fp32 master weights)"
    kv = [(f"KV cache ({m.dtype})", kv_cache_text(summary))] if m.kv_cache_bytes != 0 else []
    return [
        (f"Inference peak ({m.dtype})", f"{peak} activations live at once"),
        *kv,
        ("Saved for backward", b(m.saved_for_backward_bytes)),
        (f"Training memory ({m.optimizer})", f"{b(m.training_bytes)} = {parts}"),
        *plan_lines(summary),
        ("Memory units", "decimal: 1 kB = 10³ B, 1 MB = 10⁶ B, 1 GB = 10⁹ B"),
    ]


def kv_cache_text(summary: Summary) -> str:
    """`1.07 GB in 32 layers (33.55 MB each)`: the decode steps' caches, apart from the peak."""
    m = summary.memory
    layers = [r for r in summary.layers if not r.is_block and r.kv_cache_bytes != 0]
    count = sum(r.repeat for r in layers)
    text = f"{fmt.human_bytes(m.kv_cache_bytes)} in {count} layer{'s' if count != 1 else ''}"
    sizes = {r.kv_cache_bytes for r in layers}
    if count > 1 and len(sizes) == 1:
        text += f" ({fmt.human_bytes(sizes.pop())} each)"
    return text


def _with_human(value) -> str:
    """`25,557,032 (25.56 M)`; small or symbolic values need no second form."""
    text = fmt.count(value)
    if isinstance(value, int) and abs(value) >= 1000:
        text += f" ({fmt.human(value)})"
    return text
