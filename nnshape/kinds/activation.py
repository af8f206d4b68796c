"""Activations: shape-preserving, parameter-free (except ``prelu``), no MACs."""

from __future__ import annotations

from ..registry import Arg, Call, Inference, Kind, register
from ..twinspec import Twin
from ._common import elementwise

_INPLACE = Arg("inplace", "bool", False, doc="accepted for PyTorch compatibility; no effect on counts")

elementwise("relu", "ReLU", "Rectified linear unit: max(0, x).", args=(_INPLACE,), saves="output")
elementwise("relu6", "ReLU6", "ReLU clipped at 6: min(max(0, x), 6).", args=(_INPLACE,))
elementwise(
    "leakyrelu",
    "LeakyReLU",
    "Leaky ReLU: x if x > 0 else negative_slope·x.",
    aliases=("leaky_relu", "lrelu"),
    args=(Arg("negative_slope", "float", 0.01, positional=True, aliases=("slope", "a")), _INPLACE),
    examples=("4x8x8 | leakyrelu", "10 | leakyrelu 0.2"),
)
elementwise("elu", "ELU", "Exponential linear unit.", args=(Arg("alpha", "float", 1.0, positional=True), _INPLACE))
elementwise("selu", "SELU", "Scaled ELU (self-normalizing).", args=(_INPLACE,))
elementwise(
    "gelu",
    "GELU",
    "Gaussian error linear unit (approximate='tanh' for the tanh form).",
    args=(Arg("approximate", "str", "none", choices=("none", "tanh")),),
    examples=("4x8x8 | gelu", "7x16 | gelu approximate='tanh'"),
)
elementwise("silu", "SiLU", "Sigmoid-weighted linear unit x·σ(x) (swish).", aliases=("swish",), args=(_INPLACE,))
elementwise("mish", "Mish", "x·tanh(softplus(x)).", args=(_INPLACE,))
elementwise("sigmoid", "Sigmoid", "Logistic sigmoid 1/(1+e^−x).", saves="output")
elementwise("tanh", "Tanh", "Hyperbolic tangent.", saves="output")
elementwise("hardswish", "Hardswish", "x·relu6(x+3)/6.", args=(_INPLACE,))
elementwise("hardsigmoid", "Hardsigmoid", "relu6(x+3)/6.", args=(_INPLACE,))
elementwise("hardtanh", "Hardtanh", "Clip to [min_val, max_val].", args=(Arg("min_val", "float", -1.0), Arg("max_val", "float", 1.0), _INPLACE))
elementwise("softplus", "Softplus", "log(1 + e^(β·x))/β.", args=(Arg("beta", "float", 1.0), Arg("threshold", "float", 20.0)))


class _Softmax(Kind):
    family = "activation"
    args = (Arg("dim", "int", -1, positional=True, doc="dim to normalize over (batch is dim 0)"),)
    formulas = ("output shape = input shape", "params = 0", "MACs = 0")
    torch_class = ""
    saves = "output"  # softmax's backward reads its output
    elementwise_per_element = 1  # DeepSpeed's softmax: one FLOP per element (--count-elementwise)

    def infer(self, call: Call) -> Inference:
        call.dim_index(call.args.dim, "dim")
        return Inference(call.x.shape)

    def receptive_field(self, call: Call, result: Inference, field):
        """Over the channels (dim 1) each position stays apart; over a spatial dim it mixes them."""
        return field if call.dim_index(call.args.dim, "dim") == 1 else None

    def twin(self, call: Call) -> Twin:
        return Twin.nn(self.torch_class, dim=call.args.dim)


@register
class Softmax(_Softmax):
    name = "softmax"
    doc = "Softmax over `dim` (default the last)."
    torch_twin = "torch.nn.Softmax"
    torch_class = "Softmax"
    examples = ("10 | softmax", "4x5x6 | softmax dim=1")


@register
class LogSoftmax(_Softmax):
    name = "logsoftmax"
    aliases = ("log_softmax",)
    doc = "Log of the softmax over `dim` (default the last)."
    torch_twin = "torch.nn.LogSoftmax"
    torch_class = "LogSoftmax"
    examples = ("10 | logsoftmax", "4x5 | logsoftmax 1")


@register
class PReLU(Kind):
    name = "prelu"
    family = "activation"
    doc = "Parametric ReLU: a learned slope, shared (1) or one per channel (dim 1)."
    torch_twin = "torch.nn.PReLU"
    args = (
        Arg("num_parameters", "int", 1, positional=True, min=1, doc="1, or the number of channels (dim 1)"),
        Arg("init", "float", 0.25),
    )
    formulas = ("output shape = input shape", "params = num_parameters", "MACs = 0")
    examples = ("4x8x8 | prelu", "4x8x8 | prelu 4")
    saves = "input"
    elementwise_per_element = 1  # DeepSpeed's prelu (--count-elementwise)

    def infer(self, call: Call) -> Inference:
        n = call.args.num_parameters
        if n != 1:
            if call.x.rank < 2 or call.x.shape[1] != n:
                call.fail(
                    f"num_parameters={n} must be 1 or the channel count (dim 1)",
                    arg="num_parameters",
                    expected=f"1 or {call.x.shape[1] if call.x.rank > 1 else '?'}",
                    found=str(n),
                    code="E0406",
                )
        return Inference(call.x.shape, params=n)

    def twin(self, call: Call) -> Twin:
        return Twin.nn("PReLU", num_parameters=call.args.num_parameters, init=call.args.init)

    def param_tensors(self, call: Call):
        return (("weight", (call.args.num_parameters,)),)
