"""``weight_norm=DIM`` on ``linear`` and the convolutions: the layer's weight reparametrised as
torch.nn.utils.parametrizations.weight_norm does it, w = g · v / ‖v‖ with the norm taken over every
dim of v but DIM (wav2vec2's positional convolution: ``conv1d 768 k128 p64 groups=16 weight_norm=2``).

What changes, each checked against torch (tests/test_kinds_weight_norm.py):

* parameters: v has the weight's shape and g is 1 everywhere but DIM, so + weight.shape[DIM];
  the twin holds ``bias``, then ``parametrizations.weight.original0`` (g) and ``original1`` (v);
* MACs: none added (FlopCounterMode counts no FLOP in the norm, the division or the product);
* saved for backward: the weight is now computed in forward, so the layer saves it (a conv always;
  a linear when its input needs a gradient, which nnshape assumes: the layer inside a network), and
  the norm's own tensors: torch's fused kernel (DIM first or last) keeps the norms in float32 whatever
  the dtype, the composite path (a middle DIM) a transposed copy of v and two g-sized tensors.
"""

from __future__ import annotations

from dataclasses import replace

from ..memory import Saved
from ..registry import Arg, Call, ParamTensor
from ..symbolic import Dim
from ..tensor import format_shape, numel
from ..twinspec import Twin

WEIGHT_NORM = Arg(
    "weight_norm", "int", None, min=0,
    doc="weight normalisation keeping dim DIM of the weight (torch's weight_norm(dim=DIM)): + weight.shape[DIM] params (g)",
)


def weight_norm_dim(call: Call, weight: tuple[Dim, ...]) -> int | None:
    """DIM of ``weight_norm=DIM`` (None without), or a located error when the weight has no such dim."""
    dim = call.args.weight_norm
    if dim is not None and dim >= len(weight):
        call.fail(
            f"weight_norm={dim} is out of range for the {len(weight)}-D weight {format_shape(weight)}",
            arg="weight_norm",
            expected=f"a dim of the weight in [0, {len(weight) - 1}] (g keeps that dim; torch's default is 0)",
            found=str(dim),
            code="E0403",
        )
    return dim


def g_shape(weight: tuple[Dim, ...], dim: int) -> tuple[Dim, ...]:
    """The shape of g: the weight's size along ``dim``, 1 along every other dim."""
    return tuple(size if i == dim else 1 for i, size in enumerate(weight))


def weight_norm_params(call: Call, weight: tuple[Dim, ...]) -> Dim:
    """The parameters weight normalisation adds: g, weight.shape[DIM] of them."""
    dim = weight_norm_dim(call, weight)
    return 0 if dim is None else weight[dim]


def weight_normed(call: Call, twin: Twin) -> Twin:
    """``twin`` wrapped in torch's weight_norm parametrisation when ``weight_norm=`` is given."""
    dim = call.args.weight_norm
    return twin if dim is None else Twin.own("WeightNorm", module=twin, dim=dim)


def weight_norm_tensors(call: Call, tensors: tuple[ParamTensor, ...]) -> tuple[ParamTensor, ...]:
    """The layer's tensors as the parametrised twin names them: the weight leaves the module's own
    parameters for ``parametrizations.weight``, g (original0) then v (original1)."""
    dim = call.args.weight_norm
    if dim is None:
        return tensors
    weight = dict(tensors)["weight"]
    rest = tuple(t for t in tensors if t[0] != "weight")
    return rest + (("parametrizations.weight.original0", g_shape(weight, dim)), ("parametrizations.weight.original1", weight))


def weight_norm_saved(call: Call, weight: tuple[Dim, ...], saved: Saved) -> Saved:
    """``saved`` plus what computing the weight in forward keeps: the weight itself, then the
    fused kernel's float32 norms (DIM first or last) or the composite path's transposed copy of v
    and its two g-sized tensors (a middle DIM)."""
    dim = call.args.weight_norm
    if dim is None:
        return saved
    size, g = numel(weight), weight[dim]
    if dim in (0, len(weight) - 1):
        return replace(saved, floats=saved.floats + size, fixed=saved.fixed + 4 * g)
    return replace(saved, floats=saved.floats + 2 * size + 2 * g)


def weight_norm_lines(call: Call, weight: tuple[Dim, ...]) -> list[str]:
    """The explanation's line for weight normalisation (none without)."""
    dim = call.args.weight_norm
    if dim is None:
        return []
    return [f"weight_norm: w = g · v / ‖v‖ over every dim of the {format_shape(weight)} weight but dim {dim}; "
            f"v has the weight's {numel(weight)} values, g adds {weight[dim]}; no MACs (the norm is not counted)"]
