"""Normalization layers: batch, layer, group, instance and RMS norm (no MACs: FlopCounterMode counts none)."""

from __future__ import annotations

from ..memory import STAT_BYTES, Saved
from ..registry import Arg, Call, Inference, Kind, num, register
from ..symbolic import Dim, Poly
from ..tensor import format_shape, numel
from ..twinspec import Twin
from ._common import affine_tensors

_LAYOUT = {1: "N×C or N×C×L", 2: "N×C×H×W", 3: "N×C×D×H×W"}
_RANKS = {1: (2, 3), 2: (4,), 3: (5,)}
_BY_RANK = {2: 1, 3: 1, 4: 2, 5: 3}  # input rank -> the 1d/2d/3d twin
_EPS = Arg("eps", "float", 1e-5, min=0, doc="added to the variance for stability")


def _num_features(call: Call, arg: str = "num_features") -> Dim:
    """The channel count (dim 1); a written value is checked, not trusted."""
    c = call.x.shape[1]
    given = getattr(call.args, arg)
    if given is not None and given != c:
        call.fail(
            f"{arg}={given} does not match the input's channels",
            arg=arg,
            expected=f"{arg} = {c} (dim 1 of the input {format_shape(call.x.shape)})",
            found=str(given),
            hint=f"{arg} is inferred from the input; drop it or fix the layer before",
            code="E0406",
        )
    return c


def _stats(c: Dim, affine: bool, track: bool) -> tuple[Dim, Dim]:
    """(params, buffers): weight+bias, running_mean+running_var+num_batches_tracked."""
    return (2 * c if affine else 0), (2 * c + 1 if track else 0)


class _ChannelNorm(Kind):
    """BatchNorm/InstanceNorm: statistics per channel (dim 1); ``ndim`` None picks by rank."""

    family = "norm"
    ndim: int | None = None
    torch_class = ""  # "BatchNorm" or "InstanceNorm"
    layouts = _LAYOUT
    ranks = _RANKS

    def all_ranks(self) -> tuple[int, ...]:
        return tuple(r for n in (1, 2, 3) for r in self.ranks[n])

    def twin_ndim(self, call: Call) -> int:
        """1, 2 or 3: the twin's spatial dims (fixed, or picked from the input's rank)."""
        if self.ndim is not None:
            call.expect_rank(*self.ranks[self.ndim], layout=self.layouts[self.ndim])
            return self.ndim
        call.expect_rank(*self.all_ranks(), layout=" / ".join(self.layouts[n] for n in (1, 2, 3)))
        return _BY_RANK[call.x.rank]

    def rank_hint(self, rank: int) -> str | None:
        base = self.name.rstrip("123d")
        if rank in self.all_ranks():
            return f"use {base}{_BY_RANK[rank]}d for a {rank}-D input (or `{base}`, which picks by rank)"
        if rank < min(self.all_ranks()):
            if self.torch_class == "InstanceNorm" and rank == 2:
                return "instance norm needs spatial dims (N×C×L …); for N×C features use `layernorm` or `bn`"
            return "a norm over channels needs dim 1; `unflatten` or `reshape` first"
        return "`flatten` or `reshape` the input to a supported rank first"

    def details(self, call: Call) -> tuple[tuple[str, str], ...]:
        """affine / track_running_stats when they differ from the kind's defaults."""
        return tuple(
            (spec.name, str(getattr(call.args, spec.name)).lower())
            for spec in self.args
            if spec.type == "bool" and getattr(call.args, spec.name) != spec.default
        )

    def twin(self, call: Call) -> Twin:
        a = call.args
        return Twin.nn(
            f"{self.torch_class}{self.twin_ndim(call)}d", num_features=call.x.shape[1], eps=a.eps, momentum=a.momentum,
            affine=a.affine, track_running_stats=a.track_running_stats,
        )

    def param_tensors(self, call: Call):
        return affine_tensors("", (call.x.shape[1],), call.args.affine, call.args.affine)


def _channel_args(affine: bool, track: bool) -> tuple[Arg, ...]:
    return (
        Arg("num_features", "int", None, positional=True, min=1, aliases=("features", "c"), doc="checked against the channels (dim 1)"),
        _EPS,
        Arg("momentum", "float", 0.1, min=0, max=1, nullable=True, doc="running-stats update rate; none for a cumulative average"),
        Arg("affine", "bool", affine, doc="learn a per-channel scale and shift"),
        Arg("track_running_stats", "bool", track, aliases=("track",), doc="keep running mean/var buffers"),
    )


class BatchNorm(_ChannelNorm):
    torch_class = "BatchNorm"
    args = _channel_args(True, True)

    def elementwise_flops(self, call: Call, result: Inference) -> Dim:
        """DeepSpeed's batch norm in eval: 1 FLOP per element, 2 with the affine scale and shift;
        without running statistics it normalizes by the batch's own (as in training): 4, 5 with affine."""
        a = call.args
        if not a.track_running_stats:
            return numel(result.shape) * (5 if a.affine else 4)
        return numel(result.shape) * (2 if a.affine else 1)

    def saved(self, call: Call, result: Inference) -> Saved:
        return Saved(input=True, fixed=2 * STAT_BYTES * call.x.shape[1])  # save_mean, save_invstd per channel

    def explain(self, call: Call, result: Inference) -> list[str]:
        a, c = call.args, call.x.shape[1]
        return [
            f"y = (x − mean_c) / √(var_c + {a.eps:g}) · γ_c + β_c for each of the C = {c} channels (dim 1)",
            f"params = 2·C = 2·{c} = {num(result.params)} (γ weight, β bias)" if a.affine else "params = 0 (affine=false)",
            f"buffers = 2·C + 1 = 2·{c} + 1 = {num(result.buffers)} (running_mean, running_var, num_batches_tracked)"
            if a.track_running_stats
            else "buffers = 0 (track_running_stats=false)",
            "MACs = 0",
        ]
    formulas = (
        "output shape = input shape",
        "params = 2·C (weight, bias) if affine",
        "buffers = 2·C + 1 (running_mean, running_var, num_batches_tracked) if track_running_stats",
        "MACs = 0",
    )

    def infer(self, call: Call) -> Inference:
        self.twin_ndim(call)
        c = _num_features(call)
        params, buffers = _stats(c, call.args.affine, call.args.track_running_stats)
        return Inference(call.x.shape, params=params, buffers=buffers, details=self.details(call))


class InstanceNorm(_ChannelNorm):
    torch_class = "InstanceNorm"

    def elementwise_flops(self, call: Call, result: Inference) -> Dim:
        """DeepSpeed's instance norm: 4 FLOPs per element (mean, variance, normalize), 5 with
        affine; with running statistics (in eval) it is the batch norm it runs: 1, 2 with affine."""
        a = call.args
        if a.track_running_stats:
            return numel(result.shape) * (2 if a.affine else 1)
        return numel(result.shape) * (5 if a.affine else 4)

    layouts = {1: "N×C×L", 2: "N×C×H×W", 3: "N×C×D×H×W"}
    ranks = {1: (3,), 2: (4,), 3: (5,)}
    args = _channel_args(False, False)
    formulas = (
        "output shape = input shape",
        "params = 2·C if affine (default false)",
        "buffers = 2·C + 1 if track_running_stats (default false)",
        "MACs = 0",
    )

    def infer(self, call: Call) -> Inference:
        self.twin_ndim(call)
        c = _num_features(call)
        spatial = numel(call.x.shape[2:])
        if spatial == 1:
            call.fail(
                "needs more than one spatial element per channel (PyTorch raises otherwise)",
                expected="a spatial size > 1",
                found=format_shape(call.x.shape),
                hint="instance norm over a single position is undefined; use layernorm or batchnorm here",
                code="E0420",
            )
        params, buffers = _stats(c, call.args.affine, call.args.track_running_stats)
        return Inference(call.x.shape, params=params, buffers=buffers, details=self.details(call))

    def saved(self, call: Call, result: Inference) -> Saved:
        return Saved(input=True, fixed=2 * STAT_BYTES * call.x.shape[0] * call.x.shape[1])  # mean, invstd per sample and channel


_BN_EXAMPLES = {
    1: ("16 | batchnorm1d", "8x10 | batchnorm1d 8 affine=false", "6x5 | bn1d eps=1e-3 momentum=none track_running_stats=false"),
    2: ("3x8x8 | batchnorm2d", "4x5x5 | batchnorm2d num_features=4 affine=false track_running_stats=false"),
    3: ("2x3x4x4 | batchnorm3d", "2x3x4x4 | bn3d 2 momentum=0.01 affine=false"),
}
_IN_EXAMPLES = {
    1: ("4x10 | instancenorm1d", "4x10 | instancenorm1d 4 affine=true track_running_stats=true"),
    2: ("3x8x8 | instancenorm2d", "3x8x8 | instancenorm2d affine=true eps=1e-3"),
    3: ("2x3x4x4 | instancenorm3d track=true momentum=0.2",),
}

for _n in (1, 2, 3):
    register(
        type(
            f"BatchNorm{_n}d",
            (BatchNorm,),
            {
                "name": f"batchnorm{_n}d",
                "aliases": (f"bn{_n}d", f"batch_norm{_n}d"),
                "ndim": _n,
                "doc": f"Batch normalization per channel (dim 1) over {_LAYOUT[_n]}; running stats are buffers.",
                "torch_twin": f"torch.nn.BatchNorm{_n}d",
                "examples": _BN_EXAMPLES[_n],
            },
        )
    )
    register(
        type(
            f"InstanceNorm{_n}d",
            (InstanceNorm,),
            {
                "name": f"instancenorm{_n}d",
                "aliases": (f"instance_norm{_n}d",),
                "ndim": _n,
                "doc": f"Instance normalization per sample and channel over {InstanceNorm.layouts[_n]}.",
                "torch_twin": f"torch.nn.InstanceNorm{_n}d",
                "examples": _IN_EXAMPLES[_n],
            },
        )
    )


@register
class BatchNormAuto(BatchNorm):
    name = "batchnorm"
    aliases = ("bn", "batch_norm")
    doc = "Batch normalization that picks BatchNorm1d (2-D/3-D input), 2d (4-D) or 3d (5-D) by input rank."
    torch_twin = "torch.nn.BatchNorm1d/2d/3d (by input rank)"
    examples = ("16 | bn", "4x10 | bn", "3x8x8 | bn affine=false", "2x3x4x4 | batchnorm 2 track_running_stats=false")


@register
class InstanceNormAuto(InstanceNorm):
    name = "instancenorm"
    aliases = ("instance_norm",)
    doc = "Instance normalization that picks InstanceNorm1d (3-D input), 2d (4-D) or 3d (5-D) by input rank."
    torch_twin = "torch.nn.InstanceNorm1d/2d/3d (by input rank)"
    examples = ("4x10 | instancenorm", "3x8x8 | instancenorm affine=true", "2x3x4x4 | instancenorm track=true")


def _normalized_shape(call: Call) -> tuple[Dim, ...]:
    """normalized_shape as PyTorch takes it: trailing per-sample dims (default: the last dim)."""
    x = call.x.shape
    if call.x.rank < 2:
        call.fail("needs at least one feature dim", expected="a per-sample shape", found=format_shape(x), code="E0402")
    ns = call.args.normalized_shape
    if ns is None:
        return (x[-1],)
    k = len(ns)
    if k > call.x.rank - 1 or tuple(ns) != tuple(x[-k:]):
        trailing = " or ".join("x".join(str(d) for d in x[-j:]) for j in range(1, min(call.x.rank - 1, 3) + 1))
        call.fail(
            f"normalized_shape {'x'.join(map(str, ns))} does not match the input's trailing dims",
            arg="normalized_shape",
            expected=f"trailing per-sample dims of {format_shape(x)}, e.g. {trailing}",
            found="x".join(map(str, ns)),
            hint="normalized_shape is optional: without it the last dim is normalized",
            code="E0406",
        )
    return tuple(ns)


def _rows(call: Call, trailing: int) -> Dim:
    """Rows normalized apart: the elements of the leading (not normalized) dims, batch included."""
    return numel(call.x.shape[: call.x.rank - trailing])


def _fmt(shape: tuple[Dim, ...]) -> str:
    return "x".join(str(d) for d in shape)


_NS = Arg("normalized_shape", "shape", None, positional=True, variadic=True, min=1, aliases=("shape",), doc="trailing dims to normalize (default: the last)")


@register
class LayerNorm(Kind):
    name = "layernorm"
    aliases = ("ln", "layer_norm")
    family = "norm"
    doc = "Layer normalization over the trailing normalized_shape dims (default: the last dim)."
    torch_twin = "torch.nn.LayerNorm"
    args = (
        _NS,
        _EPS,
        Arg("elementwise_affine", "bool", True, aliases=("affine",), doc="learn a scale per normalized element"),
        Arg("bias", "bool", True, doc="learn a shift too (PyTorch ≥ 2.1)"),
    )
    formulas = (
        "output shape = input shape",
        "params = 2·Π(normalized_shape) if elementwise_affine (1·Π without bias)",
        "MACs = 0",
    )
    examples = (
        "16 | layernorm",
        "10x32 | ln",
        "10x32 | layernorm 32 eps=1e-6",
        "3x4x5 | layernorm 4x5",
        "3x4x5 | layernorm (3, 4, 5) elementwise_affine=false",
        "7x12 | layernorm bias=false",
    )

    def infer(self, call: Call) -> Inference:
        ns = _normalized_shape(call)
        a = call.args
        n = numel(ns)
        params = (n * (2 if a.bias else 1)) if a.elementwise_affine else 0
        return Inference(call.x.shape, params=params, details=(("normalized", _fmt(ns)),))

    def explain(self, call: Call, result: Inference) -> list[str]:
        ns, a = _normalized_shape(call), call.args
        n = numel(ns)
        lines = [f"y = (x − mean) / √(var + {a.eps:g}) · γ + β over the last {len(ns)} dim(s) {_fmt(ns)}: Π = {num(n)} elements per row"]
        if not a.elementwise_affine:
            lines.append("params = 0 (elementwise_affine=false)")
        elif a.bias:
            lines.append(f"params = 2·{num(n)} = {num(result.params)} (γ weight, β bias)")
        else:
            lines.append(f"params = 1·{num(n)} = {num(result.params)} (γ weight, bias=false)")
        lines.append("MACs = 0")
        return lines

    def elementwise_flops(self, call: Call, result: Inference) -> Dim:
        """DeepSpeed's layer norm: 4 FLOPs per element, 5 with the affine weight."""
        return numel(result.shape) * (5 if call.args.elementwise_affine else 4)

    def twin(self, call: Call) -> Twin:
        a = call.args
        return Twin.nn("LayerNorm", normalized_shape=_normalized_shape(call), eps=a.eps, elementwise_affine=a.elementwise_affine, bias=a.bias)

    def param_tensors(self, call: Call):
        affine = call.args.elementwise_affine
        return affine_tensors("", tuple(_normalized_shape(call)), affine, affine and call.args.bias)

    def saved(self, call: Call, result: Inference) -> Saved:
        return Saved(input=True, fixed=2 * STAT_BYTES * _rows(call, len(_normalized_shape(call))))  # mean, rstd per row


@register
class RMSNorm(Kind):
    name = "rmsnorm"
    aliases = ("rms_norm",)
    family = "norm"
    doc = "RMS normalization over the trailing normalized_shape dims (default: the last dim), no shift."
    torch_twin = "torch.nn.RMSNorm"
    args = (
        _NS,
        Arg("eps", "float", None, min=0, nullable=True, doc="none: torch.finfo(dtype).eps"),
        Arg("elementwise_affine", "bool", True, aliases=("affine",), doc="learn a scale per normalized element"),
    )
    formulas = ("output shape = input shape", "params = Π(normalized_shape) if elementwise_affine", "MACs = 0")
    examples = ("16 | rmsnorm", "10x32 | rmsnorm 32 eps=1e-6", "3x4x5 | rmsnorm 4x5 elementwise_affine=false")

    def infer(self, call: Call) -> Inference:
        ns = _normalized_shape(call)
        params = numel(ns) if call.args.elementwise_affine else 0
        return Inference(call.x.shape, params=params, details=(("normalized", _fmt(ns)),))

    def elementwise_flops(self, call: Call, result: Inference) -> Dim:
        """Not in DeepSpeed's profiler: counted as its layer norm (square, mean, scale: 4 per
        element, 5 with the weight), an upper bound for RMSNorm's one pass fewer."""
        return numel(result.shape) * (5 if call.args.elementwise_affine else 4)

    def twin(self, call: Call) -> Twin:
        a = call.args
        return Twin.nn("RMSNorm", normalized_shape=_normalized_shape(call), eps=a.eps, elementwise_affine=a.elementwise_affine)

    def param_tensors(self, call: Call):
        return affine_tensors("", tuple(_normalized_shape(call)), call.args.elementwise_affine, False)

    def saved(self, call: Call, result: Inference) -> Saved:
        """The input, rstd per row and, with a weight, the normalized input the weight's gradient reads."""
        affine = bool(call.args.elementwise_affine)
        rows = _rows(call, len(_normalized_shape(call)))
        return Saved(input=True, fixed=STAT_BYTES * rows, floats=numel(call.x.shape) if affine else 0)


@register
class GroupNorm(Kind):
    name = "groupnorm"
    aliases = ("gn", "group_norm")
    family = "norm"
    doc = "Group normalization: channels (dim 1) split into num_groups groups, normalized per sample."
    torch_twin = "torch.nn.GroupNorm"
    args = (
        Arg("num_groups", "int", positional=True, min=1, aliases=("groups", "g"), doc="must divide the channels"),
        Arg("num_channels", "int", None, min=1, aliases=("channels", "c"), doc="checked against the channels (dim 1)"),
        _EPS,
        Arg("affine", "bool", True, doc="learn a per-channel scale and shift"),
    )
    formulas = ("output shape = input shape", "params = 2·C if affine", "MACs = 0")
    examples = ("8x4x4 | groupnorm 2", "6x10 | gn 3 affine=false", "4x3x3x3 | groupnorm 4 num_channels=4 eps=1e-3", "16x5 | groupnorm 1")

    def elementwise_flops(self, call: Call, result: Inference) -> Dim:
        """DeepSpeed's group norm: 4 FLOPs per element, 5 with affine."""
        return numel(result.shape) * (5 if call.args.affine else 4)

    def infer(self, call: Call) -> Inference:
        if call.x.rank < 2:
            call.fail("needs a channel dim (dim 1)", expected="shape N×C×…", found=format_shape(call.x.shape), code="E0402")
        c = _num_features(call, "num_channels")
        g = call.args.num_groups
        if not isinstance(c, Poly) and c % g:
            call.fail(
                f"num_groups={g} does not divide the {c} channels",
                arg="num_groups",
                expected=f"a divisor of {c}",
                found=str(g),
                hint="divisors of " + str(c) + ": " + ", ".join(str(d) for d in range(1, c + 1) if c % d == 0),
                code="E0407",
            )
        return Inference(call.x.shape, params=2 * c if call.args.affine else 0, details=(("groups", str(g)),))

    def twin(self, call: Call) -> Twin:
        a = call.args
        return Twin.nn("GroupNorm", num_groups=a.num_groups, num_channels=call.x.shape[1], eps=a.eps, affine=a.affine)

    def param_tensors(self, call: Call):
        return affine_tensors("", (call.x.shape[1],), call.args.affine, call.args.affine)

    def saved(self, call: Call, result: Inference) -> Saved:
        return Saved(input=True, fixed=2 * STAT_BYTES * call.x.shape[0] * call.args.num_groups)  # mean, rstd per sample and group
