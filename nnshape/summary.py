"""The result of analysis: plain frozen data that renderers and callers read.

Each row's numbers are for one instance of that row; ``repeat`` says how many instances the
network has (a collapsed ``repeat N:`` lists its body once with ``repeat = N``). Network totals
are therefore the sum over leaf rows of ``value × repeat``, and a block row's numbers are the
totals of one instance of its body.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .errors import Diagnostic
from .memory import Memory
from .symbolic import Dim, to_json
from .tensor import DTYPE_BYTES, Shape

SCHEMA = "nnshape.summary/1"
ROW_NUMBERS = "each"  # a `× N` row's numbers are one instance's, in every output (stated in each)
CONVENTIONS = (
    "output size floor((H + 2P − D·(K−1) − 1)/S) + 1 (ceil with ceil_mode); "
    "params = learnable tensors counted once, buffers apart (a weight shared by tie=, reuse or a shared repeat "
    "counts where it is made, its MACs at every use); "
    "MACs = multiply-accumulates of conv, linear, matmul, attention (QKᵀ, AV) and recurrent gates, bias excluded; "
    "FLOPs = 2 × MACs (as torch.utils.flop_counter counts them); "
    "memory in decimal units (1 MB = 10⁶ bytes)"
)


class LayerRow(NamedTuple):
    """One row of the summary: a layer, or a block with its body's totals.

    A named tuple rather than a frozen dataclass: a 1 MB spec makes 100,000 rows, and a frozen
    dataclass sets its 24 fields one ``object.__setattr__`` at a time (about 5× slower)."""

    path: str
    kind: str  # a layer kind, a block keyword, or "call" for a def call
    label: str  # the statement as written, e.g. "conv2d 64 k=7 s=2 p=3"
    line: int
    col: int
    depth: int
    is_block: bool
    input_shapes: tuple[Shape, ...]
    output_shape: Shape
    dtype: str
    params: Dim
    trainable_params: Dim
    buffers: Dim
    macs: Dim
    repeat: int = 1
    collapsed: int = 0  # a repeat row whose body is listed once: its count
    details: tuple[tuple[str, str], ...] = ()
    activation_bytes: Dim = 0  # the output at the activation dtype (integer tensors at their own)
    param_bytes: Dim = 0
    buffer_bytes: Dim = 0
    saved_bytes: Dim = 0  # leaf rows: bytes this layer adds to the saved-for-backward total
    score_bytes: Dim = 0  # attention rows: the score matrix N×H×Lq×Lk at the activation dtype
    kv_cache_bytes: Dim = 0  # a decode step (cache=P): its KV cache, 2·N·kv_heads·head_dim·(P+L) at the activation dtype
    receptive_field: Any = None  # a Field per spatial axis (dims 2…), "global", or None (no grid)
    explain: tuple[str, ...] = ()  # worked formulas, filled only when asked (analyze(explain=True))
    elementwise_flops: Dim = 0  # FLOPs outside MACs (activations, norms, softmax ...); only with --count-elementwise
    shares: tuple[str, str] | None = None  # (what, path): its weight ("weight", `tie=`) or all its
    # parameters and buffers ("module": `reuse`, a later pass of `repeat N shared:`) are the row's at path

    @property
    def shares_text(self) -> str:
        """``tied to wte`` / ``shared with 3.0.attn`` (empty for a row that shares nothing): the
        same words in the table, markdown, CSV and diff."""
        return share_text(self.shares)

    @property
    def non_trainable_params(self) -> Dim:
        return self.params - self.trainable_params

    def to_dict(self) -> dict:
        data = {
            "path": self.path,
            "kind": self.kind,
            "label": self.label,
            "line": self.line,
            "col": self.col,
            "depth": self.depth,
            "is_block": self.is_block,
            "input_shapes": [[to_json(d) for d in shape] for shape in self.input_shapes],
            "output_shape": [to_json(d) for d in self.output_shape],
            "dtype": self.dtype,
            "params": to_json(self.params),
            "trainable_params": to_json(self.trainable_params),
            "buffers": to_json(self.buffers),
            "macs": to_json(self.macs),
            "repeat": self.repeat,
            "activation_bytes": to_json(self.activation_bytes),
            "param_bytes": to_json(self.param_bytes),
            "buffer_bytes": to_json(self.buffer_bytes),
        }
        if not self.is_block:
            data["saved_bytes"] = to_json(self.saved_bytes)
        if self.score_bytes != 0:
            data["score_bytes"] = to_json(self.score_bytes)
        if self.elementwise_flops != 0:
            data["elementwise_flops"] = to_json(self.elementwise_flops)
        if self.kv_cache_bytes != 0:
            data["kv_cache_bytes"] = to_json(self.kv_cache_bytes)
        if self.collapsed:
            data["collapsed"] = self.collapsed
        if self.details:
            data["details"] = dict(self.details)
        rf = self.receptive_field
        data["receptive_field"] = [f.to_dict() for f in rf] if isinstance(rf, tuple) else rf
        if self.explain:
            data["explain"] = list(self.explain)
        if self.shares is not None:
            data["shares"] = {"what": self.shares[0], "path": self.shares[1]}
        return data


def share_text(shares: tuple[str, str] | None) -> str:
    """What a row shares, in words: ``tied to PATH`` (its weight is that layer's) or ``shared with
    PATH`` (it is that layer or block again: every parameter and buffer)."""
    if shares is None:
        return ""
    what, path = shares
    return f"tied to {path}" if what == "weight" else f"shared with {path}"


@dataclass(frozen=True)
class InputInfo:
    name: str
    shape: Shape  # batch first
    dtype: str
    line: int

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": [to_json(d) for d in self.shape], "dtype": self.dtype, "line": self.line}


@dataclass(frozen=True)
class OutputInfo:
    """One output of the network: its name (None: the last line's tensor, unnamed), shape and dtype."""

    name: str | None
    shape: Shape  # batch first
    dtype: str

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": [to_json(d) for d in self.shape], "dtype": self.dtype}


@dataclass(frozen=True, repr=False)
class Summary:
    source: str
    batch: int
    dtype: str  # dtype used for parameter memory
    inputs: tuple[InputInfo, ...]
    output_name: str | None
    output_shape: Shape
    output_dtype: str
    layers: tuple[LayerRow, ...]
    total_params: Dim
    trainable_params: Dim
    total_buffers: Dim
    total_macs: Dim
    warnings: tuple[Diagnostic, ...] = ()
    bindings: tuple[tuple[str, object], ...] = field(default_factory=tuple)
    source_text: str = field(default="", repr=False, compare=False)  # what was analyzed (verify rebuilds from it)
    memory: Memory | None = None
    device_plan: Any = None  # a nnshape.planning.DevicePlan when --dp/--zero/--tp/--serve... were given
    count_elementwise: bool = False  # FLOPs include the element-wise ones (docs/conventions.md)
    elementwise_flops: Dim = 0  # their total (0 unless count_elementwise)
    outputs: tuple[OutputInfo, ...] = ()  # every output (`output a, b`); the first is output_name/_shape/_dtype

    @property
    def non_trainable_params(self) -> Dim:
        return self.total_params - self.trainable_params

    def __str__(self) -> str:
        """The table and compact footer, as `nnshape summary` prints them in a pipe."""
        from .render import render

        return render(self, "table", color=False)

    def __repr__(self) -> str:
        from .formatting import count, shape

        return f"<Summary {self.source}: {len(self.layers):,} rows, {count(self.total_params)} params, {count(self.total_macs)} MACs, output {shape(self.output_shape)}>"

    def __rich_console__(self, console, options):
        """`rich.print(summary)`: the coloured table, fitted to the console's width."""
        from rich.text import Text

        from .render import render

        yield Text.from_ansi(render(self, "table", color=True, width=options.max_width).rstrip("\n"))

    def _repr_html_(self) -> str:
        """A notebook shows the table (escaped HTML, no script, no Graphviz)."""
        from .render.html import to_html_table

        return to_html_table(self)

    @property
    def total_flops(self) -> Dim:
        """2 × MACs (FlopCounterMode's count), plus the element-wise FLOPs with --count-elementwise."""
        return 2 * self.total_macs + self.elementwise_flops

    @property
    def backward_flops(self) -> Dim:
        """2 × the forward FLOPs: every counted op is a matmul whose backward makes the input's
        gradient and the weight's gradient, each as costly as the forward."""
        return 2 * self.total_flops

    @property
    def training_flops(self) -> Dim:
        return self.total_flops + self.backward_flops

    @property
    def param_bytes(self) -> Dim:
        return self.total_params * DTYPE_BYTES[self.dtype]

    @property
    def buffer_bytes(self) -> Dim:
        return self.total_buffers * DTYPE_BYTES[self.dtype]

    @property
    def leaves(self) -> tuple[LayerRow, ...]:
        return tuple(row for row in self.layers if not row.is_block)

    def layer(self, path: str) -> LayerRow:
        for row in self.layers:
            if row.path == path:
                return row
        raise KeyError(path)

    def draw(self, path, *, format: str | None = None, depth: int | None = None, direction: str = "TB", shade: str | None = None):
        """Write the network's diagram to ``path`` (.svg, .png, .pdf, or .dot which needs no
        Graphviz); returns the Path. ``shade``: macs, params or memory. See docs/pictures.md."""
        from .pictures import draw

        return draw(self, path, fmt=format, depth=depth, direction=direction, shade=shade)

    def to_html(self, *, depth: int | None = None, direction: str = "TB") -> str:
        """The one-file HTML report (diagram, table, charts, totals), as `nnshape report` writes
        it. Needs Graphviz and plotly (``pip install plotly``)."""
        from .pictures import analyze_for_picture
        from .pictures.report import report_html

        summary, plan = analyze_for_picture(self)
        return report_html(summary, plan, depth=depth, direction=direction)

    def _memory_dict(self) -> dict | None:
        if self.memory is None:
            return None
        data = self.memory.to_dict()
        if self.device_plan is not None:
            data["per_device"] = self.device_plan.per_device()
            data["plan"] = self.device_plan.to_dict()
        return data

    def to_dict(self, layers: bool = True) -> dict:
        """The JSON document (schema nnshape.summary/1); ``layers=False`` leaves the rows out."""
        data = {
            "schema": SCHEMA,
            "row_numbers": ROW_NUMBERS,
            "source": self.source,
            "batch": self.batch,
            "dtype": self.dtype,
            "inputs": [inp.to_dict() for inp in self.inputs],
            "output": self.output_name,
            "output_shape": [to_json(d) for d in self.output_shape],
            "output_dtype": self.output_dtype,
            "outputs": [o.to_dict() for o in self.outputs]
            or [OutputInfo(self.output_name, self.output_shape, self.output_dtype).to_dict()],
            "total_params": to_json(self.total_params),
            "trainable_params": to_json(self.trainable_params),
            "non_trainable_params": to_json(self.non_trainable_params),
            "total_buffers": to_json(self.total_buffers),
            "total_macs": to_json(self.total_macs),
            "total_flops": to_json(self.total_flops),
            "param_bytes": to_json(self.param_bytes),
            "buffer_bytes": to_json(self.buffer_bytes),
            "compute": {
                "forward_macs": to_json(self.total_macs),
                "forward_flops": to_json(self.total_flops),
                "backward_flops": to_json(self.backward_flops),
                "training_flops": to_json(self.training_flops),
                "elementwise_flops": to_json(self.elementwise_flops),
                "count_elementwise": self.count_elementwise,
            },
            "memory": self._memory_dict(),
            "bindings": {name: value for name, value in self.bindings},
            "conventions": CONVENTIONS,
            "warnings": [w.to_dict() for w in self.warnings],
        }
        if layers:
            data["layers"] = [row.to_dict() for row in self.layers]
        return data
