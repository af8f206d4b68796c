"""Shape kinds: ``flatten``, ``unflatten``, ``reshape``, ``permute``, ``transpose``, ``select``,
``identity`` and ``upsample``.

The batch always stays dim 0 (the summary reports per-sample shapes), so a layer that would
move, merge or index the batch is an error rather than a silent reinterpretation.
"""

from __future__ import annotations

import math

from ..registry import Arg, Call, Inference, Kind, register
from ..symbolic import Dim, NeedsValue, Poly
from ..memory import INPUT, NOTHING, Saved
from ..tensor import Shape, format_shape, numel
from ..twinspec import Twin
from ..values import describe

_SHAPE_ONLY = ("params = 0", "MACs = 0", "dtype kept (token ids stay integers)")


def _batch_error(call: Call, arg: str, what: str, hint: str) -> None:
    call.fail(
        f"{what} would change the batch (dim 0)",
        arg=arg,
        expected="dims ≥ 1: the batch stays dim 0",
        found=f"{describe(call.args.as_dict()[arg])} for input {format_shape(call.x.shape)}",
        hint=hint,
        code="E0417",
    )


def _fill_sizes(call: Call, sizes: tuple, total: Dim, arg: str, what: str) -> Shape:
    """Resolve one -1 in ``sizes`` so their product is ``total``; fail showing both counts."""
    bad = [v for v in sizes if isinstance(v, int) and (v == 0 or v < -1)]
    holes = [i for i, v in enumerate(sizes) if v == -1]
    if bad or len(holes) > 1 or not sizes:
        call.bad_arg(arg, "sizes must be positive, with at most one -1", expected="integers ≥ 1 and at most one -1 (e.g. (16, -1))")
    known = numel(tuple(v for v in sizes if v != -1))
    target = "×".join("-1" if v == -1 else str(v) for v in sizes)
    try:
        if holes:
            if total % known != 0:
                raise ValueError
            sizes = sizes[: holes[0]] + (total // known,) + sizes[holes[0] + 1 :]
        elif known != total:
            raise ValueError
    except NeedsValue as e:
        call.fail(
            f"the new sizes need the value of {', '.join(e.symbols)}",
            arg=arg,
            expected="a known size",
            found=f"{format_shape(call.x.shape)} into {target}",
            hint=" ".join(f"`--set {s}=...`" for s in e.symbols) + " or `let` it in the spec",
            code="E0404",
        )
    except ValueError:
        call.fail(
            f"{what} has {format_dim_count(total)} elements and cannot become {target}",
            arg=arg,
            expected=f"sizes whose product is {format_dim_count(total)}",
            found=(
                f"{target}: {format_dim_count(total)} is not a multiple of {format_dim_count(known)}"
                if holes
                else f"{target} = {format_dim_count(known)} elements"
            )
            + f" (input {format_shape(call.x.shape)})",
            hint=None if holes else "use -1 for one size to have it inferred",
            code="E0401",
        )
    return tuple(sizes)


def format_dim_count(value: Dim) -> str:
    return str(value) if isinstance(value, Poly) else f"{value:,}"


@register
class Flatten(Kind):
    name = "flatten"
    family = "shape"
    is_view = True  # the output shares the input's storage
    saves = "nothing"
    accepts = "any"  # shape-only: token ids pass through
    doc = "Merge dims start_dim..end_dim into one (default: all but the batch), like nn.Flatten."
    torch_twin = "torch.nn.Flatten"
    args = (
        Arg("start_dim", "int", 1, positional=True, aliases=("start",), doc="first dim merged (batch = dim 0)"),
        Arg("end_dim", "int", -1, positional=True, aliases=("end",), doc="last dim merged"),
    )
    formulas = ("out = in[:start] × Π in[start..end] × in[end+1:]",) + _SHAPE_ONLY
    examples = ("16x5x5 | flatten", "3x4x5x6 | flatten 2", "3x4x5x6 | flatten 1 -2", "3x4x5 | flatten start_dim=-1", "input ids 4x6 dtype=int64\nflatten")

    def infer(self, call: Call) -> Inference:
        start = call.dim_index(call.args.start_dim, "start_dim")
        end = call.dim_index(call.args.end_dim, "end_dim")
        if start == 0:
            _batch_error(call, "start_dim", "flattening from dim 0", "flatten starts at dim 1 by default (= nn.Flatten())")
        if start > end:
            call.fail(
                "start_dim comes after end_dim",
                arg="end_dim",
                expected=f"end_dim ≥ start_dim = {start}",
                found=f"start_dim={call.args.start_dim}, end_dim={call.args.end_dim} for input {format_shape(call.x.shape)}",
                code="E0303",
            )
        s = call.x.shape
        return Inference(s[:start] + (numel(s[start : end + 1]),) + s[end + 1 :], dtype=call.x.dtype)

    def twin(self, call: Call) -> Twin:
        return Twin.nn("Flatten", start_dim=call.args.start_dim, end_dim=call.args.end_dim)


@register
class Unflatten(Kind):
    name = "unflatten"
    family = "shape"
    is_view = True  # the output shares the input's storage
    saves = "nothing"
    accepts = "any"  # shape-only: token ids pass through
    doc = "Split one dim into several sizes (one may be -1), like nn.Unflatten."
    torch_twin = "torch.nn.Unflatten"
    args = (
        Arg("dim", "int", positional=True, doc="dim to split (batch = dim 0)"),
        Arg("unflattened_size", "shape", positional=True, variadic=True, min=-1, aliases=("sizes", "size"), doc="new sizes"),
    )
    formulas = ("out = in[:dim] × sizes × in[dim+1:], Π sizes = in[dim] (-1 inferred)",) + _SHAPE_ONLY
    examples = ("400 | unflatten 1 16x5x5", "3x12x5 | unflatten 2 (2, -1)", "3x12x5 | unflatten -1 5 1", "input ids 12 dtype=int64\nunflatten 1 3 4")

    def infer(self, call: Call) -> Inference:
        dim = call.dim_index(call.args.dim, "dim")
        if dim == 0:
            _batch_error(call, "dim", "unflattening dim 0", "unflatten a per-sample dim (dim ≥ 1)")
        sizes = _fill_sizes(call, call.args.unflattened_size, call.x.shape[dim], "unflattened_size", f"dim {call.args.dim}")
        s = call.x.shape
        return Inference(s[:dim] + sizes + s[dim + 1 :], dtype=call.x.dtype)

    def twin(self, call: Call) -> Twin:
        return Twin.nn("Unflatten", dim=call.args.dim, unflattened_size=call.args.unflattened_size)


@register
class Reshape(Kind):
    name = "reshape"
    aliases = ("view",)
    family = "shape"
    is_view = True  # the output shares the input's storage
    saves = "nothing"
    accepts = "any"  # shape-only: token ids pass through
    doc = "Reshape each sample to a new shape (one size may be -1); the batch is kept."
    torch_twin = "nnshape.twins.Reshape"
    args = (
        Arg("shape", "shape", positional=True, variadic=True, min=-1, aliases=("sizes", "size"), doc="per-sample shape, e.g. 16x5x5 or (4, -1)"),
    )
    formulas = ("out = N × shape, Π shape = Π in[1:] (-1 inferred)",) + _SHAPE_ONLY
    examples = ("400 | reshape 16x5x5", "16x5x5 | reshape (4, -1)", "2x3x4 | view 4 6", "3x4 | reshape -1", "input ids 12 dtype=int64\nreshape 3x4")

    def infer(self, call: Call) -> Inference:
        sizes = _fill_sizes(call, call.args.shape, numel(call.x.shape[1:]), "shape", f"a sample of {format_shape(call.x.shape[1:])}")
        return Inference(call.x.shape[:1] + sizes, dtype=call.x.dtype)

    def twin(self, call: Call) -> Twin:
        return Twin.own("Reshape", shape=call.args.shape)


@register
class Permute(Kind):
    name = "permute"
    family = "shape"
    is_view = True  # the output shares the input's storage
    saves = "nothing"
    accepts = "any"  # shape-only: token ids pass through
    doc = "Reorder the dims (all of them, batch = dim 0 first), like Tensor.permute."
    torch_twin = "nnshape.twins.Permute"
    args = (Arg("dims", "ints", positional=True, variadic=True, doc="a permutation of all dims, starting with 0"),)
    formulas = ("out[i] = in[dims[i]]",) + _SHAPE_ONLY
    examples = ("3x32x32 | permute 0 2 3 1", "5x7 | permute 0 2 1", "3x4x5 | permute (0, -1, 1, 2)", "input ids 4x6 dtype=int64\npermute 0 2 1")

    def infer(self, call: Call) -> Inference:
        dims = call.args.dims
        rank = call.x.rank
        if len(dims) != rank or len({d % rank for d in dims if -rank <= d < rank}) != rank:
            wanted = " ".join(str(i) for i in range(rank))
            call.fail(
                f"dims must be a permutation of all {rank} dims (batch = dim 0 included)",
                arg="dims",
                expected=f"each of {wanted} once (negative from the end)",
                found=f"{' '.join(map(str, dims))} for input {format_shape(call.x.shape)}",
                hint="e.g. `permute 0 2 3 1` turns N×C×H×W into N×H×W×C" if len(dims) == rank - 1 else None,
                code="E0303",
            )
        order = [d % rank for d in dims]
        if order[0] != 0:
            _batch_error(call, "dims", "moving dim 0", "keep 0 first and reorder the per-sample dims: e.g. `permute 0 2 1`")
        return Inference(tuple(call.x.shape[d] for d in order), dtype=call.x.dtype)

    def twin(self, call: Call) -> Twin:
        return Twin.own("Permute", dims=call.args.dims)


@register
class Transpose(Kind):
    name = "transpose"
    family = "shape"
    is_view = True  # the output shares the input's storage
    saves = "nothing"
    accepts = "any"  # shape-only: token ids pass through
    doc = "Swap two dims, like Tensor.transpose(dim0, dim1)."
    torch_twin = "nnshape.twins.Transpose"
    args = (
        Arg("dim0", "int", positional=True, doc="first dim (batch = dim 0)"),
        Arg("dim1", "int", positional=True, doc="second dim"),
    )
    formulas = ("out = in with dims dim0 and dim1 swapped",) + _SHAPE_ONLY
    examples = ("5x7 | transpose 1 2", "3x4x5 | transpose -1 -2", "3x4x5 | transpose dim0=1 dim1=1", "input ids 4x6 dtype=int64\ntranspose 1 2")

    def infer(self, call: Call) -> Inference:
        d0 = call.dim_index(call.args.dim0, "dim0")
        d1 = call.dim_index(call.args.dim1, "dim1")
        if d0 != d1 and 0 in (d0, d1):
            _batch_error(call, "dim0" if d0 == 0 else "dim1", "swapping dim 0", "swap two per-sample dims (≥ 1)")
        shape = list(call.x.shape)
        shape[d0], shape[d1] = shape[d1], shape[d0]
        return Inference(tuple(shape), dtype=call.x.dtype)

    def twin(self, call: Call) -> Twin:
        return Twin.own("Transpose", dim0=call.args.dim0, dim1=call.args.dim1)


@register
class Select(Kind):
    name = "select"
    family = "shape"
    is_view = True  # the output shares the input's storage
    saves = "nothing"
    accepts = "any"  # shape-only: token ids pass through
    doc = "Take one index along a dim and drop that dim (x[:, 0] picks the class token)."
    torch_twin = "nnshape.twins.Select"
    args = (
        Arg("dim", "int", positional=True, doc="dim to index (≥ 1: the batch is kept)"),
        Arg("index", "int", positional=True, aliases=("i",), doc="position; negative from the end"),
    )
    formulas = ("out = in without dim `dim`",) + _SHAPE_ONLY
    examples = ("197x768 | select 1 0", "197x768 | select dim=1 index=-1", "3x4x5 | select -1 2", "input ids 4x6 dtype=int64\nselect 2 5")

    def infer(self, call: Call) -> Inference:
        a = call.args
        dim = call.dim_index(a.dim, "dim")
        if dim == 0:
            _batch_error(call, "dim", "selecting from dim 0", "select along a per-sample dim: `select 1 0` is x[:, 0]")
        size = call.x.shape[dim]
        if isinstance(size, int) and not -size <= a.index < size:
            call.fail(
                f"index {a.index} is out of range for dim {a.dim} of size {size}",
                arg="index",
                expected=f"an index in [{-size}, {size - 1}]",
                found=f"{a.index} for input {format_shape(call.x.shape)}",
                code="E0416",
            )
        return Inference(call.x.shape[:dim] + call.x.shape[dim + 1 :], dtype=call.x.dtype)

    def twin(self, call: Call) -> Twin:
        return Twin.own("Select", dim=call.args.dim, index=call.args.index)


@register
class Identity(Kind):
    name = "identity"
    family = "shape"
    is_view = True  # the output shares the input's storage
    saves = "nothing"
    accepts = "any"  # shape-only: token ids pass through
    doc = "Pass the input through unchanged (a placeholder, e.g. an empty concat branch)."
    keeps_grid = True
    torch_twin = "torch.nn.Identity"
    formulas = ("out = in",) + _SHAPE_ONLY
    examples = ("3x8x8 | identity", "input ids 7 dtype=int64\nidentity")

    def infer(self, call: Call) -> Inference:
        return Inference(call.x.shape, dtype=call.x.dtype)

    def twin(self, call: Call) -> Twin:
        return Twin.nn("Identity")


# spatial dims each interpolation mode works on (PyTorch's rule: linear 1-D, bilinear 2-D, ...)
_MODES = {
    "nearest": (1, 2, 3),
    "nearest-exact": (1, 2, 3),
    "area": (1, 2, 3),
    "linear": (1,),
    "bilinear": (2,),
    "bicubic": (2,),
    "trilinear": (3,),
}
_INTERPOLATING = ("linear", "bilinear", "bicubic", "trilinear")


@register
class Upsample(Kind):
    name = "upsample"
    aliases = ("interpolate",)
    family = "shape"
    doc = "Resize the spatial dims of N×C×… by scale_factor or to size (nn.Upsample modes)."
    torch_twin = "torch.nn.Upsample"
    args = (
        Arg("size", "size", None, min=1, doc="output spatial size, int or one per axis"),
        Arg("scale_factor", "any", None, aliases=("scale",), doc="multiplier, number or one per axis"),
        Arg("mode", "str", "nearest", choices=tuple(_MODES)),
        Arg("align_corners", "bool", None, nullable=True, doc="only for linear|bilinear|bicubic|trilinear"),
        Arg("recompute_scale_factor", "bool", None, nullable=True, doc="no effect on the shape"),
    )
    formulas = (
        "out = size per spatial axis, or floor(in · scale_factor)",
        "linear needs N×C×L, bilinear/bicubic N×C×H×W, trilinear N×C×D×H×W; nearest/area any of them",
        "params = 0; MACs = 0",
    )
    examples = (
        "3x8x8 | upsample scale=2",
        "4x10 | upsample scale_factor=0.3 mode=linear",
        "3x7x10 | upsample scale=(1.1, 2) mode='bilinear' align_corners=true",
        "3x5x6 | upsample size=(9, 4) mode=bicubic",
        "2x4x4x4 | upsample scale=2 mode=trilinear align_corners=false",
        "3x8x8 | upsample size=5 mode=area",
        "3x7x9 | upsample scale=1.5 mode='nearest-exact'",
    )

    def elementwise_flops(self, call: Call, result: Inference) -> Dim:
        """DeepSpeed's interpolate: one FLOP per output element; mode 'area' is an adaptive
        average pool, one per input element (as pooling)."""
        return numel(call.x.shape) if call.args.mode == "area" else numel(result.shape)

    def infer(self, call: Call) -> Inference:
        a = call.args
        n = call.x.rank - 2
        if n not in (1, 2, 3) or n not in _MODES[a.mode]:
            ranks = _MODES[a.mode]
            call.fail(
                f"mode '{a.mode}' needs a {' or '.join(f'{r + 2}-D' for r in ranks)} input, found {call.x.rank}-D",
                expected="N×C×L (linear), N×C×H×W (bilinear, bicubic), N×C×D×H×W (trilinear); nearest/area: any",
                found=format_shape(call.x.shape),
                hint="upsample acts on the dims after N×C; pick the mode for this rank",
                code="E0402",
            )
        if a.align_corners is not None and a.mode not in _INTERPOLATING:
            call.bad_arg("align_corners", f"align_corners is only for the interpolating modes, not '{a.mode}'", expected="linear, bilinear, bicubic or trilinear")
        if (a.size is None) == (a.scale_factor is None):
            call.fail(
                "give exactly one of size and scale_factor",
                expected="size=... or scale=...",
                found="both" if a.size is not None else "neither",
                code="E0315",
            )
        spatial_in = call.x.shape[2:]
        if a.size is not None:
            out = self._per_axis(call, "size", a.size, n)
        else:
            scales = self._per_axis(call, "scale_factor", a.scale_factor, n)
            if not all(isinstance(s, (int, float)) and not isinstance(s, bool) and s > 0 for s in scales):
                call.bad_arg("scale_factor", "scale_factor must be positive numbers", expected=f"a number > 0 or {n} of them")
            out = tuple(self._scaled(call, size, s) for size, s in zip(spatial_in, scales))
            if any(isinstance(v, int) and v < 1 for v in out):
                call.fail(
                    "the output would be empty",
                    arg="scale_factor",
                    expected="floor(in · scale_factor) ≥ 1 on every axis",
                    found=f"{format_shape(tuple(out))} from input {format_shape(call.x.shape)}",
                    code="E0405",
                )
        return Inference(call.x.shape[:2] + tuple(out), details=(("mode", a.mode),))

    @staticmethod
    def _per_axis(call: Call, arg: str, value, n: int) -> tuple:
        items = value if isinstance(value, tuple) else (value,)
        if len(items) == 1:
            items = items * n
        if len(items) != n:
            call.bad_arg(arg, f"{arg} needs one value per spatial axis ({n})", expected=f"one value or {n} of them")
        return items

    @staticmethod
    def _scaled(call: Call, size: Dim, scale: float) -> Dim:
        if isinstance(scale, float) and scale.is_integer():
            scale = int(scale)
        if isinstance(size, Poly):
            if isinstance(scale, int):
                return size * scale
            call.concrete(size, "a fractional scale_factor")
        return math.floor(float(size) * scale)  # PyTorch's float rule: floor(float(in) · scale)

    def twin(self, call: Call) -> Twin:
        a = call.args
        n = call.x.rank - 2
        size = None if a.size is None else self._per_axis(call, "size", a.size, n)
        return Twin.nn(
            "Upsample", size=size, scale_factor=a.scale_factor, mode=a.mode, align_corners=a.align_corners,
            recompute_scale_factor=a.recompute_scale_factor,
        )

    def saved(self, call: Call, result: Inference) -> Saved:
        return INPUT if call.args.mode == "area" else NOTHING  # area is adaptive average pooling
