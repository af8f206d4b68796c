"""``lrn``: local response normalization across channels (the original AlexNet, nn.LocalResponseNorm)."""

from __future__ import annotations

from ..memory import Saved
from ..registry import Arg, Call, Inference, Kind, register
from ..symbolic import Dim
from ..tensor import format_shape, numel
from ..twinspec import Twin
from .tensorops import min_rank


@register
class LocalResponseNorm(Kind):
    name = "lrn"
    aliases = ("localresponsenorm", "local_response_norm")
    family = "norm"
    doc = "Local response normalization across `size` neighbouring channels, as nn.LocalResponseNorm (AlexNet)."
    torch_twin = "torch.nn.LocalResponseNorm"
    args = (
        Arg("size", "int", positional=True, min=1, aliases=("n",), doc="neighbouring channels summed over"),
        Arg("alpha", "float", 1e-4, doc="multiplicative factor"),
        Arg("beta", "float", 0.75, doc="exponent"),
        Arg("k", "float", 1.0, doc="additive factor (AlexNet's paper uses k=2)"),
    )
    formulas = (
        "b_c = a_c / (k + α/n · Σ a_c'² over the n channels around c)^β",
        "output shape = input shape (N×C×…, at least 3 dims)",
        "params = 0",
        "MACs = 0 (elementwise and an average pool; FlopCounterMode counts neither)",
    )
    examples = ("96x55x55 | lrn 5 k=2", "8x6x6 | lrn 5", "6x10 | localresponsenorm 3 alpha=1e-3 beta=0.5", "4x3x5x5 | lrn size=2 k2")

    def elementwise_flops(self, call: Call, result: Inference) -> Dim:
        """Not in DeepSpeed's profiler; ours: per element, `size` squares and `size − 1` additions
        for the window's sum, then scale and shift, the power and the division: 2·size + 3."""
        return numel(result.shape) * (2 * call.args.size + 3)

    def infer(self, call: Call) -> Inference:
        min_rank(call, 3, "N×C×…")
        return Inference(call.x.shape)

    def rank_hint(self, rank: int) -> str | None:
        return "lrn normalizes across the channels (dim 1) of N×C×… (PyTorch needs 3 or more dims)"

    def saved(self, call: Call, result: Inference) -> Saved:
        """F.local_response_norm: the input, the channel-padded squares fed to its average pool
        (N·(C + size − 1)·positions), and the power's base and result."""
        n, c = call.x.shape[0], call.x.shape[1]
        positions = numel(call.x.shape[2:])
        padded = n * (c + call.args.size - 1) * positions
        return Saved(input=True, floats=2 * numel(call.x.shape) + padded)

    def explain(self, call: Call, result: Inference) -> list[str]:
        a = call.args
        return [
            f"b_c = a_c / ({a.k:g} + {a.alpha:g}/{a.size} · Σ a² over {a.size} channels)^{a.beta:g} on {format_shape(call.x.shape)}",
            "params = 0",
            "MACs = 0",
        ]

    def twin(self, call: Call) -> Twin:
        a = call.args
        return Twin.nn("LocalResponseNorm", size=a.size, alpha=a.alpha, beta=a.beta, k=a.k)
