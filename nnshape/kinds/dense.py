"""Dense layers: ``linear``."""

from __future__ import annotations

from ..registry import GLOBAL, Arg, Call, Field, FieldWarning, Inference, Kind, num, product, register
from ..tensor import format_shape, numel
from ..twinspec import Twin
from ._common import linear_tensors

_START = Field(1, 1, 0)  # the field of a network input's positions: no window has acted yet


@register
class Linear(Kind):
    name = "linear"
    aliases = ("fc", "dense")
    family = "dense"
    doc = "Fully connected layer on the last dim: y = x·Wᵀ + b."
    torch_twin = "torch.nn.Linear"
    args = (
        Arg("out_features", "int", positional=True, min=1, aliases=("out",), doc="output features"),
        Arg("bias", "bool", True, doc="learn an additive bias"),
        Arg("in_features", "int", None, aliases=("in",), min=1, doc="checked against the input's last dim"),
        Arg("tie", "str", None, doc="the label of a linear or embedding whose weight this layer uses (weight tying: 0 new weight params)"),
    )
    formulas = (
        "output = input[..., :-1] × out_features",
        "params = in·out + out (bias)",
        "MACs = (elements of input / in)·in·out",
    )
    examples = ("2 | linear 2", "16 | fc 8 bias=false", "5x12 | linear 7", "3x4x6 | dense 5 in_features=6")
    saves = "input"

    def infer(self, call: Call) -> Inference:
        a = call.args
        if call.x.rank < 2:
            call.fail("needs at least one feature dim", found=str(call.x.shape), code="E0402")
        fan_in = call.x.shape[-1]
        if a.in_features is not None and a.in_features != fan_in:
            call.fail(
                f"in_features={a.in_features} does not match the input's last dim",
                arg="in_features",
                expected=f"in_features = {fan_in} (the last dim of the input)",
                found=f"{a.in_features}",
                hint="in_features is inferred; drop it or fix the layer before",
                code="E0406",
            )
        out = a.out_features
        rows = numel(call.x.shape[:-1])
        params = fan_in * out + (out if a.bias else 0)
        return Inference(call.x.shape[:-1] + (out,), params=params, macs=rows * fan_in * out)

    warns_on_field = True

    def field_warnings(self, call: Call, field):
        """W0421: a linear on the spatial map of a conv or pool (N×C×L, N×C×H×W, …, whose
        receptive field shows a window or global pooling) acts on its last spatial dim, which is
        almost always a missing `flatten`. Sequences (N×L×D), channels-last maps (after
        `permute`, whose grid has ended) and maps no window has touched do not warn."""
        if call.x.rank < 3 or not (field == GLOBAL or (isinstance(field, tuple) and any(f != _START for f in field))):
            return ()
        axis = "W" if call.x.rank == 4 else "L" if call.x.rank == 3 else f"dim {call.x.rank - 1}"
        layout = {3: "N×C×L", 4: "N×C×H×W", 5: "N×C×D×H×W"}.get(call.x.rank, "N×C×…")
        features = format_shape(call.x.shape[1:])
        return (FieldWarning(
            f"acts on the last dim only ({axis} = {call.x.shape[-1]}) of the {layout} map {format_shape(call.x.shape)}, "
            f"not on its {features} features",
            arg=None,
            code="W0421",
            hint="add `flatten` before it (or pool first: `gap`, `mean (2, 3)`); for a per-position linear over the "
            "channels, `permute 0 2 3 1` first",
        ),)

    def explain(self, call: Call, result: Inference) -> list[str]:
        fan_in, out = call.x.shape[-1], call.args.out_features
        lead = call.x.shape[:-1]
        if len(lead) > 1 and lead[0] == 1:
            lead = lead[1:]  # a batch of 1 multiplies nothing
        return [
            f"shape: {format_shape(call.x.shape)} → {format_shape(result.shape)} (last dim {fan_in} → {out}, y = x·Wᵀ + b)",
            f"params = {product(fan_in, out)} + {out if call.args.bias else 0} = {num(result.params)}",
            f"MACs = {product(*lead) + ' · ' if lead != (1,) else ''}{product(fan_in, out)} = {num(result.macs)}",
        ]

    def tied_weight(self, call: Call) -> tuple[tuple, str]:
        """The weight ``tie=`` shares, and its layout: nn.Linear keeps it out × in."""
        return (call.args.out_features, call.x.shape[-1]), "out_features × in_features"

    def twin(self, call: Call) -> Twin:
        return Twin.nn("Linear", in_features=call.x.shape[-1], out_features=call.args.out_features, bias=call.args.bias)

    def param_tensors(self, call: Call):
        return linear_tensors("", call.args.out_features, call.x.shape[-1], call.args.bias)
