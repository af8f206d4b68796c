"""``quickgelu``: CLIP's sigmoid approximation of GELU, x·σ(1.702·x)."""

from __future__ import annotations

from ..memory import Saved
from ..registry import Call, Inference, register
from ..tensor import numel
from ..twinspec import Twin
from ._common import Elementwise


@register
class QuickGELU(Elementwise):
    name = "quickgelu"
    aliases = ("quick_gelu",)
    family = "activation"
    doc = "CLIP's QuickGELU: x·σ(1.702·x), a cheaper GELU."
    torch_twin = "nnshape.twins.QuickGELU"
    formulas = ("output shape = input shape", "params = 0", "MACs = 0")
    examples = ("4x8x8 | quickgelu", "77x512 | quick_gelu")

    def saved(self, call: Call, result: Inference) -> Saved:
        return Saved(input=True, floats=numel(call.x.shape))  # the product keeps x and σ(1.702·x)

    def twin(self, call: Call) -> Twin:
        return Twin.own("QuickGELU")
