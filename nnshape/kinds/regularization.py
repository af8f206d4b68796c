"""Regularization: dropout variants and drop path (stochastic depth); all keep the shape, 0 params."""

from __future__ import annotations

import dataclasses

from ..memory import NOTHING, Saved
from ..registry import Arg, Call, Inference, Kind, register
from ..tensor import numel
from ..twinspec import Twin

_P = Arg("p", "float", 0.5, positional=True, min=0, max=1, doc="probability of zeroing an element (channel, sample)")
_INPLACE = Arg("inplace", "bool", False, doc="accepted for PyTorch compatibility; no effect on counts")
_FORMULAS = ("output shape = input shape", "params = 0", "MACs = 0 (identity in eval mode)")


class _Dropout(Kind):
    family = "regularization"
    args = (_P, _INPLACE)
    formulas = _FORMULAS
    torch_class = "Dropout"
    ranks: tuple[int, ...] = ()
    layout = ""

    def infer(self, call: Call) -> Inference:
        if self.ranks:
            call.expect_rank(*self.ranks, layout=self.layout)
        return Inference(call.x.shape, details=(("p", f"{call.args.p:g}"),))

    def rank_hint(self, rank: int) -> str | None:
        n = {3: 1, 4: 2, 5: 3}.get(rank)
        if n:
            return f"use dropout{n}d for a {rank}-D input (N×C + {n} spatial dims)"
        return "use `dropout` to drop single elements of any shape"

    def twin(self, call: Call) -> Twin:
        return Twin.nn(self.torch_class, p=call.args.p, inplace=call.args.inplace)

    def saved(self, call: Call, result: Inference) -> Saved:
        """CPU dropout multiplies by a noise tensor of the input's dtype (CUDA saves a 1-byte bool
        mask): one value per element, or per channel for dropout1d/2d/3d."""
        if call.args.p == 0:
            return NOTHING
        return Saved(floats=call.x.shape[0] * call.x.shape[1] if self.ranks else numel(call.x.shape))


@register
class Dropout(_Dropout):
    name = "dropout"
    aliases = ("drop",)
    doc = "Zero each element with probability p in training (scaling the rest by 1/(1−p)); identity in eval."
    torch_twin = "torch.nn.Dropout"
    examples = ("4x8x8 | dropout", "10 | dropout 0.2", "5x7 | dropout p=0", "16 | drop p=1.0 inplace=true")


for _n, _layout in ((1, "N×C×L"), (2, "N×C×H×W"), (3, "N×C×D×H×W")):
    register(
        type(
            f"Dropout{_n}d",
            (_Dropout,),
            {
                "name": f"dropout{_n}d",
                "aliases": (f"channeldropout{_n}d",),
                "doc": f"Zero whole channels of a {_layout} input with probability p in training.",
                "torch_twin": f"torch.nn.Dropout{_n}d",
                "torch_class": f"Dropout{_n}d",
                "ranks": (_n + 2,),
                "layout": _layout,
                "examples": (
                    "x".join(["4"] + ["6"] * _n) + f" | dropout{_n}d",
                    "x".join(["3"] + ["5"] * _n) + f" | dropout{_n}d 0.1",
                ),
            },
        )
    )


@register
class AlphaDropout(_Dropout):
    name = "alphadropout"
    aliases = ("alpha_dropout",)
    doc = "Dropout that keeps the mean and variance of SELU activations; identity in eval."
    torch_twin = "torch.nn.AlphaDropout"
    torch_class = "AlphaDropout"
    examples = ("4x8 | alphadropout", "16 | alphadropout 0.1")


@register
class DropPath(Kind):
    name = "droppath"
    aliases = ("drop_path", "stochasticdepth", "stochastic_depth")
    family = "regularization"
    doc = "Stochastic depth: drop a whole sample (usually a residual branch) with probability p in training."
    torch_twin = "nnshape.twins.DropPath"
    args = (dataclasses.replace(_P, default=0.1), Arg("scale_by_keep", "bool", True, doc="scale kept samples by 1/(1−p)"))
    formulas = _FORMULAS
    examples = ("4x8x8 | droppath", "10x16 | droppath 0.2", "16 | drop_path p=1 scale_by_keep=false")

    def infer(self, call: Call) -> Inference:
        return Inference(call.x.shape, details=(("p", f"{call.args.p:g}"),))

    def twin(self, call: Call) -> Twin:
        return Twin.own("DropPath", p=call.args.p, scale_by_keep=call.args.scale_by_keep)

    def saved(self, call: Call, result: Inference) -> Saved:
        return Saved(floats=call.x.shape[0]) if call.args.p > 0 else NOTHING  # one mask value per sample
