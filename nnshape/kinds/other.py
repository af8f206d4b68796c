"""Other layers: ``scale`` (a learned per-feature or per-channel multiplier, e.g. layer scale)."""

from __future__ import annotations

from ..registry import Arg, Call, Inference, Kind, register
from ..tensor import format_shape
from ..twinspec import Twin


@register
class Scale(Kind):
    name = "scale"
    aliases = ("layerscale", "layer_scale")
    family = "other"
    keeps_grid = True  # a per-position product: the receptive field is unchanged
    saves = "input"  # γ's gradient reads the input
    doc = "Learned vector multiplied along `dim` (default the last): layer scale, or per-channel with dim=1."
    torch_twin = "nnshape.twins.Scale"
    args = (
        Arg("dim", "int", -1, doc="the dim the vector runs along (batch is dim 0; 1 = channels of N×C×H×W)"),
        Arg("init", "float", 1.0, aliases=("init_values",), doc="initial value (1.0 = identity; CaiT/ConvNeXt use 1e-5 or 1e-6)"),
    )
    formulas = ("output shape = input shape", "params = size of `dim`", "MACs = 0 (elementwise)")
    examples = ("16 | scale", "10x32 | layerscale init=1e-5", "3x8x8 | scale dim=1", "4x5x6 | scale dim=-2", "4x5x6 | scale dim=2 init=0.5")

    def dim(self, call: Call) -> int:
        d = call.dim_index(call.args.dim, "dim")
        if d == 0:
            call.fail(
                "cannot scale along the batch dim (dim 0)",
                arg="dim",
                expected=f"a per-sample dim: 1 to {call.x.rank - 1}, or -1 to -{call.x.rank - 1}",
                found=f"dim={call.args.dim} for shape {format_shape(call.x.shape)}",
                hint="dim=-1 scales the features; dim=1 the channels of C×H×W",
                code="E0417",
            )
        return d

    elementwise_per_element = 1  # one multiply per element (--count-elementwise)

    def infer(self, call: Call) -> Inference:
        d = self.dim(call)
        return Inference(call.x.shape, params=call.x.shape[d], details=(("dim", str(d)),))

    def twin(self, call: Call) -> Twin:
        d = self.dim(call)
        return Twin.own("Scale", size=call.x.shape[d], trailing=call.x.rank - 1 - d, init=call.args.init)

    def param_tensors(self, call: Call):
        """One weight of the dim's size, shaped to broadcast over the dims after it."""
        d = self.dim(call)
        return (("weight", (call.x.shape[d],) + (1,) * (call.x.rank - 1 - d)),)
