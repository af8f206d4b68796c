"""``frozenbn``: batch norm with fixed statistics and affine terms (detection backbones).

As ``torchvision.ops.misc.FrozenBatchNorm2d``: weight, bias, running_mean and running_var are
all buffers (nothing is learned), so 0 parameters and 4·C buffers; the forward folds them into a
per-channel scale and shift, which are elementwise (0 MACs).
"""

from __future__ import annotations

from ..registry import Arg, Call, Inference, Kind, num, register
from ..tensor import format_shape
from ..twinspec import Twin


@register
class FrozenBatchNorm(Kind):
    name = "frozenbn"
    aliases = ("frozenbatchnorm2d", "frozen_bn", "frozenbatchnorm")
    family = "norm"
    elementwise_per_element = 2  # x·scale + shift, as batch norm in eval with affine (--count-elementwise)
    doc = "Batch norm with frozen statistics and affine terms over N×C×H×W (torchvision's FrozenBatchNorm2d)."
    torch_twin = "nnshape.FrozenBatchNorm2d (= torchvision.ops.misc.FrozenBatchNorm2d)"
    args = (
        Arg("num_features", "int", None, positional=True, min=1, aliases=("features", "c"), doc="checked against the channels (dim 1)"),
        Arg("eps", "float", 1e-5, min=0, doc="added to the variance for stability"),
    )
    formulas = (
        "output shape = input shape",
        "params = 0",
        "buffers = 4·C (weight, bias, running_mean, running_var)",
        "MACs = 0",
    )
    examples = ("3x8x8 | frozenbn", "4x5x5 | frozenbn 4 eps=0.001")

    def channels(self, call: Call) -> int:
        call.expect_rank(4, layout="N×C×H×W")
        c = call.x.shape[1]
        given = call.args.num_features
        if given is not None and given != c:
            call.fail(
                f"num_features={given} does not match the input's channels",
                arg="num_features",
                expected=f"num_features = {c} (dim 1 of the input {format_shape(call.x.shape)})",
                found=str(given),
                hint="num_features is inferred from the input; drop it or fix the layer before",
                code="E0406",
            )
        return c

    def rank_hint(self, rank: int) -> str | None:
        return "FrozenBatchNorm2d reshapes its statistics to 1×C×1×1: it needs an image N×C×H×W"

    def infer(self, call: Call) -> Inference:
        c = self.channels(call)
        return Inference(call.x.shape, buffers=4 * c)

    def explain(self, call: Call, result: Inference) -> list[str]:
        c = call.x.shape[1]
        return [
            f"y = x · s_c + t_c with s = weight/√(running_var + {call.args.eps:g}), t = bias − running_mean · s,"
            f" for each of the C = {c} channels",
            "params = 0 (nothing is learned)",
            f"buffers = 4·C = 4·{c} = {num(result.buffers)} (weight, bias, running_mean, running_var)",
            "MACs = 0",
        ]

    def saved(self, call: Call, result: Inference):
        from ..memory import Saved

        # x · scale keeps the per-channel scale (a tensor made in forward) for x's gradient
        return Saved(floats=call.x.shape[1])

    def twin(self, call: Call) -> Twin:
        return Twin.own("FrozenBatchNorm2d", num_features=self.channels(call), eps=call.args.eps)
