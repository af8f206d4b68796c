"""Reductions over dims: ``mean``, ``sum`` and ``amax`` (torch.mean / torch.sum / torch.amax).

The dims are PyTorch's (batch = dim 0, negatives), one or a tuple: `mean (2, 3)` is a global
average pool that keeps N×C. Reducing the batch is an error (E0417). No parameters, no MACs
(FlopCounterMode counts none for a reduction).
"""

from __future__ import annotations

from ..memory import Saved
from ..registry import GLOBAL, Arg, Call, Inference, Kind, register
from ..symbolic import Dim
from ..tensor import format_shape
from ..twinspec import Twin
from .tensorops import batch_error, dim_list, expression_dims


class _Reduce(Kind):
    family = "shape"
    saves = "nothing"  # the backward of a sum or mean only spreads the gradient (shapes suffice)
    op: str = ""  # the torch function
    args = (
        Arg("dim", "ints", positional=True, aliases=("dims",), doc="dim or (dims) to reduce; batch = dim 0, negatives from the end"),
        Arg("keepdim", "bool", False, positional=True, aliases=("keepdims",), doc="keep each reduced dim as size 1"),
    )

    def dims(self, call: Call) -> tuple[int, ...]:
        dims = dim_list(call, "dim", call.args.dim)
        if 0 in dims:
            batch_error(call, "dim", f"a {self.name} over dim 0", f"reduce per-sample dims: `{self.name} (2, 3)` pools H×W of N×C×H×W")
        return dims

    def elementwise_flops(self, call: Call, result: Inference) -> Dim:
        """One FLOP per input element read (an addition or a comparison), as DeepSpeed's pooling."""
        total: Dim = 1
        for d in call.x.shape:
            total = total * d
        return total

    def infer(self, call: Call) -> Inference:
        dims = self.dims(call)
        keep = call.args.keepdim
        shape = tuple(1 if i in dims else d for i, d in enumerate(call.x.shape) if keep or i not in dims)
        return Inference(shape, dtype=self.out_dtype(call), details=(("dim", expression_dims(call.args.dim)),))

    def out_dtype(self, call: Call) -> str | None:
        return None

    def receptive_field(self, call: Call, result: Inference, field):
        """Over every spatial dim: global (as global pooling); over the channels with keepdim: kept;
        otherwise the dims that remain are no longer an N×C×… grid."""
        dims = set(self.dims(call))
        spatial = set(range(2, call.x.rank))
        if spatial and spatial <= dims:
            return GLOBAL
        if dims == {1} and call.args.keepdim:
            return field
        return None

    def explain(self, call: Call, result: Inference) -> list[str]:
        dims = self.dims(call)
        what = "kept as 1" if call.args.keepdim else "removed"
        sizes = "·".join(str(call.x.shape[d]) for d in dims)
        return [
            f"{self.name} over dim{'s' if len(dims) > 1 else ''} {', '.join(map(str, dims))} ({sizes} values each), {what}",
            f"shape: {format_shape(call.x.shape)} → {format_shape(result.shape)}",
            "params = 0",
            "MACs = 0",
        ]

    def twin(self, call: Call) -> Twin:
        return Twin.own("Reduce", op=self.op, dim=call.args.dim, keepdim=call.args.keepdim)


@register
class Mean(_Reduce):
    name = "mean"
    op = "mean"
    doc = "Mean over dims, as torch.mean: `mean (2, 3)` averages H×W (global average pooling without flatten)."
    torch_twin = "torch.mean"
    formulas = ("out = in without the reduced dims (size 1 with keepdim)", "params = 0", "MACs = 0")
    examples = ("64x7x7 | mean (2, 3)", "64x7x7 | mean (-1, -2) keepdim=true", "10x32 | mean 1", "10x32 | mean dim=-1 keepdims=true", "4x5x6 | mean 1")


@register
class Sum(_Reduce):
    name = "sum"
    op = "sum"
    accepts = "any"
    doc = "Sum over dims, as torch.sum (integers sum to int64)."
    torch_twin = "torch.sum"
    formulas = ("out = in without the reduced dims (size 1 with keepdim)", "dtype: float kept, integers → int64", "params = 0", "MACs = 0")
    examples = ("64x7x7 | sum (2, 3)", "10x32 | sum -1 true", "4x5x6 | sum 1", "input ids 4x6 dtype=int32\nsum 2")

    def out_dtype(self, call: Call) -> str | None:
        return None if call.x.is_float else "int64"


@register
class Amax(_Reduce):
    name = "amax"
    op = "amax"
    accepts = "any"
    doc = "Maximum over dims, as torch.amax (values only; dtype kept)."
    torch_twin = "torch.amax"
    formulas = ("out = in without the reduced dims (size 1 with keepdim)", "params = 0", "MACs = 0")
    examples = ("64x7x7 | amax (2, 3)", "10x32 | amax 1 keepdim=true", "4x5x6 | amax -1", "input ids 4x6 dtype=int64\namax 1")

    def out_dtype(self, call: Call) -> str | None:
        return call.x.dtype

    def saved(self, call: Call, result: Inference) -> Saved:
        return Saved(input=True, output=True)  # the backward finds where the maxima were: input == output
