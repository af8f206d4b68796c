"""The product of a ``matmul:`` block: not a kind a line can name (``matmul`` is a block
keyword), but a leaf row like a layer's, so that the rows' numbers add up to the totals and
``verify`` measures the product on its own module (nnshape.twins.MatMul)."""

from __future__ import annotations

from ..memory import Saved
from ..registry import Call, Inference, Kind, num
from ..tensor import format_shape
from ..twinspec import Twin


class MatmulProduct(Kind):
    """``torch.matmul(branch 0, branch 1)``: the Call's ``x`` is the first operand; the second's
    shape is in ``other`` (the rule is nnshape.analysis.merge_rules.matmul)."""

    name = "matmul"
    family = "merge"
    doc = "the product of a matmul: block's two branches (torch.matmul)"
    torch_twin = "torch.matmul"
    accepts = "float"
    saves = "input"  # and the second operand: the block's rule (tracker.merge) counts both

    def __init__(self, other=None, k=None):
        self.other = other
        self.k = k

    def infer(self, call: Call) -> Inference:  # pragma: no cover - the block computes it
        raise NotImplementedError("the matmul: block computes its product (merge_rules.matmul)")

    def twin(self, call: Call) -> Twin:
        return Twin.own("MatMul")

    def saved(self, call: Call, result: Inference) -> Saved:
        return Saved(input=True)

    def explain(self, call: Call, result: Inference) -> list[str]:
        return [
            f"shape: {format_shape(call.x.shape)} @ {format_shape(self.other or ())} → {format_shape(result.shape)}",
            "params = 0",
            f"MACs = numel(out) · k = {num(result.macs)}" + (f" (k = {self.k})" if self.k is not None else ""),
        ]
