"""``quickgelu``: CLIP's sigmoid approximation of GELU, x·σ(1.702·x)."""

from __future__ import annotations

from ..memory import Saved
from ..registry import Call, Inference, register
from ..tensor import numel
from ._common import Elementwise
from .shape import twin_module

EXPRESSION = "x * torch.sigmoid(1.702 * x)"


@register
class QuickGELU(Elementwise):
    name = "quickgelu"
    aliases = ("quick_gelu",)
    family = "activation"
    doc = "CLIP's QuickGELU: x·σ(1.702·x), a cheaper GELU."
    torch_twin = "nnshape.QuickGELU"
    formulas = ("output shape = input shape", "params = 0", "MACs = 0")
    examples = ("4x8x8 | quickgelu", "77x512 | quick_gelu")

    def saved(self, call: Call, result: Inference) -> Saved:
        return Saved(input=True, floats=numel(call.x.shape))  # the product keeps x and σ(1.702·x)

    def expression(self, call: Call) -> str:
        return EXPRESSION

    def build(self, call: Call):
        import torch

        return twin_module("QuickGELU", lambda x: x * torch.sigmoid(1.702 * x), EXPRESSION)
