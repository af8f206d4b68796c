"""Dense layers: ``linear``."""

from __future__ import annotations

from ..memory import INPUT, Saved
from ..registry import GLOBAL, Arg, Call, Field, FieldWarning, Inference, Kind, num, product, register
from ..tensor import format_shape, numel
from ..twinspec import Twin
from ._common import linear_tensors
from ._weight_norm import (
    WEIGHT_NORM, weight_norm_lines, weight_norm_params, weight_norm_saved, weight_norm_tensors, weight_normed,
)

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
        WEIGHT_NORM,
    )
    formulas = (
        "output = input[..., :-1] × out_features",
        "params = in·out + out (bias)",
        "MACs = (elements of input / in)·in·out",
        "weight_norm=DIM: + weight.shape[DIM] params (g), MACs unchanged",
    )
    examples = ("2 | linear 2", "16 | fc 8 bias=false", "5x12 | linear 7", "3x4x6 | dense 5 in_features=6",
                "6x10 | linear 12 weight_norm=0", "4x10 | linear 6 bias=false weight_norm=1")
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
        params = fan_in * out + (out if a.bias else 0) + weight_norm_params(call, (out, fan_in))
        details = (("weight_norm", f"dim {a.weight_norm}"),) if a.weight_norm is not None else ()
        return Inference(call.x.shape[:-1] + (out,), params=params, macs=rows * fan_in * out, details=details)

    def saved(self, call: Call, result: Inference) -> Saved:
        """The input (the weight gradient reads it); with weight_norm= also the computed weight
        (saved when the input needs a gradient, as inside a network) and the norm's tensors."""
        return weight_norm_saved(call, (call.args.out_features, call.x.shape[-1]), INPUT)

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
            f"params = {product(fan_in, out)} + {out if call.args.bias else 0}"
            + (f" + {result.params - fan_in * out - (out if call.args.bias else 0)} (g)" if call.args.weight_norm is not None else "")
            + f" = {num(result.params)}",
            f"MACs = {product(*lead) + ' · ' if lead != (1,) else ''}{product(fan_in, out)} = {num(result.macs)}",
        ] + weight_norm_lines(call, (out, fan_in))

    def tied_weight(self, call: Call) -> tuple[tuple, str]:
        """The weight ``tie=`` shares, and its layout: nn.Linear keeps it out × in. A weight-normalised
        linear (on either side of the tie) has none: its weight is computed from g and v (E0343)."""
        if call.args.weight_norm is not None:
            call.fail(
                "a weight-normalised linear has no plain weight to tie: its weight is computed from g and v",
                arg="weight_norm",
                expected="tie= between layers without weight_norm=",
                found=f"weight_norm={call.args.weight_norm}" + (f" with tie={call.args.tie}" if call.args.tie is not None else ""),
                hint="drop weight_norm= from the tied layers, or untie them",
                code="E0343",
            )
        return (call.args.out_features, call.x.shape[-1]), "out_features × in_features"

    def twin(self, call: Call) -> Twin:
        a = call.args
        return weight_normed(call, Twin.nn("Linear", in_features=call.x.shape[-1], out_features=a.out_features, bias=a.bias))

    def param_tensors(self, call: Call):
        return weight_norm_tensors(call, linear_tensors("", call.args.out_features, call.x.shape[-1], call.args.bias))
