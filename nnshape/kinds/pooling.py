"""Pooling: ``maxpool1d/2d/3d``, ``avgpool1d/2d/3d``, adaptive pools and ``gap``."""

from __future__ import annotations

from ..memory import INDEX_BYTES, INPUT, NOTHING, Saved
from ..registry import GLOBAL, Arg, Call, Inference, Kind, register
from ..symbolic import Dim
from ..tensor import format_shape, numel
from ..twinspec import Twin
from ..values import describe
from ._common import check_pool_padding, axis_names, explain_window, window_fields, window_out

_LAYOUT = {1: "N×C×L", 2: "N×C×H×W", 3: "N×C×D×H×W"}


def _fmt(value) -> str:
    return "x".join(str(v) for v in value) if isinstance(value, tuple) else str(value)


def _pool_args(maxpool: bool, ndim: int) -> tuple[Arg, ...]:
    args = [
        Arg("kernel_size", "size", positional=True, min=1, aliases=("k", "kernel"), doc="window size, int or per-axis"),
        Arg("stride", "size", None, aliases=("s",), min=1, doc="default: kernel_size (as in PyTorch)"),
        Arg("padding", "size", 0, aliases=("p", "pad"), min=0, doc="implicit padding per side; at most kernel_size // 2"),
    ]
    if maxpool:
        args.append(Arg("dilation", "size", 1, aliases=("d",), min=1))
    args.append(Arg("ceil_mode", "bool", False, aliases=("ceil",), doc="ceil instead of floor in the output size"))
    if not maxpool:
        args.append(Arg("count_include_pad", "bool", True, doc="average over padded zeros too"))
        if ndim > 1:  # nn.AvgPool1d has no divisor_override
            args.append(Arg("divisor_override", "int", None, min=1, doc="divide by this instead of the window size"))
    return tuple(args)


class _Spatial(Kind):
    """A pool over the spatial dims of N×C×spatial (rank ndim + 2)."""

    ndim: int = 2
    family = "pooling"

    def elementwise_flops(self, call: Call, result: Inference) -> Dim:
        """DeepSpeed's pooling: one FLOP per input element (max and average, adaptive too)."""
        return numel(call.x.shape)

    def rank_hint(self, rank: int) -> str | None:
        want = self.ndim + 2
        stem = self.name.rstrip("123d")
        if rank < want:
            return "add `unflatten` or `reshape` to restore the spatial dims before this layer"
        if rank > want:
            return f"use {stem}{rank - 2}d for a {rank - 2}-D spatial input, or `flatten` first"
        return None


class _Pool(_Spatial):
    maxpool: bool = True

    def infer(self, call: Call) -> Inference:
        call.expect_rank(self.ndim + 2, layout=_LAYOUT[self.ndim])
        a = call.args
        k, p = a.kernel_size, a.padding
        s = a.stride if a.stride is not None else k
        d = a.dilation if self.maxpool else (1,) * self.ndim
        check_pool_padding(call, k, p)
        if not self.maxpool and self.ndim == 3:
            self._check_avg3d_fits(call, k)
        spatial = tuple(
            window_out(call, size, kk, ss, pp, dd, axis=axis, ceil_mode=a.ceil_mode)
            for size, kk, ss, pp, dd, axis in zip(call.x.shape[2:], k, s, p, d, axis_names(self.ndim))
        )
        details = [("kernel", _fmt(k)), ("stride", _fmt(s)), ("padding", _fmt(p))]
        if any(v != 1 for v in d):
            details.append(("dilation", _fmt(d)))
        if a.ceil_mode:
            details.append(("ceil_mode", "true"))
        return Inference(call.x.shape[:2] + spatial, details=tuple(details))

    @staticmethod
    def _check_avg3d_fits(call: Call, kernel: tuple) -> None:
        """avg_pool3d (unlike the 1-D/2-D pools and max_pool3d) refuses an input smaller than the
        kernel along any axis, padding aside: PyTorch's check on every device, meta included."""
        for size, kk, axis in zip(call.x.shape[2:], kernel, axis_names(3)):
            if isinstance(size, int) and size < kk:
                call.fail(
                    f"avg_pool3d needs the input at least as large as the kernel along {axis} (padding aside): {size} < {kk}",
                    arg="kernel_size",
                    expected=f"{axis} ≥ kernel = {kk}",
                    found=f"input {format_shape(call.x.shape)}, kernel_size={_fmt(kernel)}",
                    hint="use a smaller kernel along the short axes (PyTorch refuses this even with padding)",
                    code="E0405",
                )

    def windows(self, call: Call) -> tuple[tuple, tuple, tuple, tuple]:
        """(kernel, stride, padding, dilation) per spatial axis, defaults filled in."""
        a = call.args
        stride = a.stride if a.stride is not None else a.kernel_size
        dilation = a.dilation if self.maxpool else (1,) * self.ndim
        return a.kernel_size, stride, a.padding, dilation

    def receptive_field(self, call: Call, result: Inference, field):
        return window_fields(field, *self.windows(call))

    def explain(self, call: Call, result: Inference) -> list[str]:
        k, s, p, d = self.windows(call)
        lines = [
            explain_window(size, kk, ss, pp, dd, out, axis=axis, ceil_mode=call.args.ceil_mode)
            for size, out, kk, ss, pp, dd, axis in zip(call.x.shape[2:], result.shape[2:], k, s, p, d, axis_names(self.ndim))
        ]
        what = "the maximum" if self.maxpool else "the mean"
        lines.append(f"each output is {what} of a {_fmt(k)} window per channel: channels kept, no weights, no multiply-accumulates")
        lines += ["params = 0", "MACs = 0"]
        return lines

    def twin(self, call: Call) -> Twin:
        a = call.args
        if self.maxpool:
            return Twin.nn(
                f"MaxPool{self.ndim}d", kernel_size=a.kernel_size, stride=a.stride, padding=a.padding, dilation=a.dilation,
                ceil_mode=a.ceil_mode,
            )
        extra = {"divisor_override": a.divisor_override} if self.ndim > 1 else {}  # nn.AvgPool1d has none
        return Twin.nn(
            f"AvgPool{self.ndim}d", kernel_size=a.kernel_size, stride=a.stride, padding=a.padding, ceil_mode=a.ceil_mode,
            count_include_pad=a.count_include_pad, **extra,
        )

    def saved(self, call: Call, result: Inference) -> Saved:
        """Max pooling keeps its input and the int64 index of each output's maximum; average pooling its input."""
        return Saved(input=True, fixed=INDEX_BYTES * numel(result.shape)) if self.maxpool else INPUT


class _AdaptivePool(_Spatial):
    maxpool: bool = False

    def infer(self, call: Call) -> Inference:
        call.expect_rank(self.ndim + 2, layout=_LAYOUT[self.ndim])
        size = self.output_size(call)
        spatial = tuple(old if new is None else new for old, new in zip(call.x.shape[2:], size))
        return Inference(call.x.shape[:2] + spatial, details=(("output", describe(call.args.output_size)),))

    def receptive_field(self, call: Call, result: Inference, field):
        """Output 1 on every axis: global; the input's size: kept; otherwise windows of varying size (no grid)."""
        spatial_in, spatial_out = call.x.shape[2:], result.shape[2:]
        if all(v == 1 for v in spatial_out):
            return GLOBAL
        return field if tuple(spatial_in) == tuple(spatial_out) else None

    def output_size(self, call: Call) -> tuple:
        """output_size as one entry per spatial axis; None keeps that axis (as in PyTorch)."""
        value = call.args.output_size
        items = value if isinstance(value, tuple) else (value,) * self.ndim
        ok = len(items) == self.ndim and all(
            v is None or (isinstance(v, int) and not isinstance(v, bool) and v >= 1) for v in items
        )
        if not ok:
            example = "x".join(["7"] * self.ndim)
            call.bad_arg(
                "output_size",
                "output_size must be a positive integer or one per spatial axis",
                expected=f"an integer ≥ 1 or {self.ndim} of them (e.g. {example}); none keeps an axis",
            )
        return items

    def twin(self, call: Call) -> Twin:
        kind = "Max" if self.maxpool else "Avg"
        size = self.output_size(call)
        return Twin.nn(f"Adaptive{kind}Pool{self.ndim}d", output_size=size if self.ndim > 1 else size[0])

    def saved(self, call: Call, result: Inference) -> Saved:
        """Max: the input and the int64 indices; average: the input, or nothing for a global mean
        (output 1 on every axis), whose backward needs no input."""
        if self.maxpool:
            return Saved(input=True, fixed=INDEX_BYTES * numel(result.shape))
        return NOTHING if all(d == 1 for d in result.shape[2:]) else INPUT


_POOL_EXAMPLES = {
    (True, 1): ("4x17 | maxpool1d 3 s2 p1", "2x9 | maxpool1d k=2 ceil_mode=true", "3x20 | maxpool1d 3 s=2 d=2"),
    (True, 2): (
        "1x4x4 | maxpool2d 2 s2",
        "64x112x112 | maxpool 3 s2 p1",
        "3x13x13 | maxpool2d 3 s=2 ceil_mode=true",
        "2x9x11 | maxpool2d k=(2, 3) s=(1, 2) p=(1, 0) d=2",
        "3x6x6 | maxpool2d 2 s=2 p=1 ceil=true",
    ),
    (True, 3): ("2x8x8x8 | maxpool3d 2", "2x5x9x9 | maxpool3d k=(1, 3, 3) s=(1, 2, 2) p=(0, 1, 1) ceil_mode=true"),
    (False, 1): ("4x17 | avgpool1d 3 s2 p1 count_include_pad=false", "2x9 | avgpool1d 2 ceil_mode=true"),
    (False, 2): (
        "1x4x4 | avgpool2d 2 s2",
        "16x10x10 | avgpool 2",
        "3x7x7 | avgpool2d 3 s=2 p=1 ceil_mode=true count_include_pad=false",
        "3x8x9 | avgpool2d k=(4, 2) p=(2, 1) divisor_override=3",
    ),
    (False, 3): ("2x8x8x8 | avgpool3d 2", "2x5x7x7 | avgpool3d k=(1, 3, 3) s=2 p=(0, 1, 1) ceil_mode=true divisor_override=5"),
}

_ADAPTIVE_EXAMPLES = {
    1: ("4x17 | adaptive{k}pool1d 5", "4x3 | adaptive{k}pool1d output_size=6"),
    2: (
        "512x7x7 | adaptive{k}pool2d 1",
        "8x13x11 | adaptive{k}pool2d (6, 4)",
        "8x13x11 | adaptive{k}pool2d (none, 3)",
        "2x5x5 | adaptive{k}pool2d output_size=8",
    ),
    3: ("4x6x8x8 | adaptive{k}pool3d 2", "4x6x8x8 | adaptive{k}pool3d (none, 4, 3)"),
}

for _n in (1, 2, 3):
    for _max in (True, False):
        _word, _cap = ("max", "Max") if _max else ("avg", "Avg")
        register(
            type(
                f"{_cap}Pool{_n}d",
                (_Pool,),
                {
                    "name": f"{_word}pool{_n}d",
                    "aliases": ((f"{_word}pool",) if _n == 2 else ()) + (f"{_word}_pool{_n}d",),
                    "ndim": _n,
                    "maxpool": _max,
                    "doc": f"{_n}-D {'max' if _max else 'average'} pooling over {_LAYOUT[_n]}; stride defaults to kernel_size.",
                    "torch_twin": f"torch.nn.{_cap}Pool{_n}d",
                    "args": _pool_args(_max, _n),
                    "formulas": (
                        "out = floor((in + 2P − D·(K−1) − 1)/S) + 1 per spatial axis (ceil with ceil_mode,"
                        " the last window must start inside the input or left padding)"
                        if _max
                        else "out = floor((in + 2P − K)/S) + 1 per spatial axis (ceil with ceil_mode,"
                        " the last window must start inside the input or left padding)",
                        "S defaults to K; P ≤ K // 2",
                        "channels kept; params = 0; MACs = 0",
                    ),
                    "examples": _POOL_EXAMPLES[(_max, _n)],
                },
            )
        )
        register(
            type(
                f"Adaptive{_cap}Pool{_n}d",
                (_AdaptivePool,),
                {
                    "name": f"adaptive{_word}pool{_n}d",
                    "aliases": (f"adaptive{_word}pool", f"adaptive_{_word}_pool2d") if _n == 2 else (f"adaptive_{_word}_pool{_n}d",),
                    "ndim": _n,
                    "maxpool": _max,
                    "doc": f"{_n}-D adaptive {'max' if _max else 'average'} pooling to a fixed output size over {_LAYOUT[_n]}.",
                    "torch_twin": f"torch.nn.Adaptive{_cap}Pool{_n}d",
                    "args": (
                        Arg(
                            "output_size", "any", positional=True, aliases=("out", "size"),
                            doc="int or one per spatial axis (per sample); none keeps that axis",
                        ),
                    ),
                    "formulas": (
                        "out = output_size per spatial axis (none: in), whatever the input size",
                        "channels kept; params = 0; MACs = 0",
                    ),
                    "examples": tuple(e.format(k=_word) for e in _ADAPTIVE_EXAMPLES[_n]),
                },
            )
        )


@register
class GlobalAvgPool(Kind):
    name = "gap"
    aliases = ("globalavgpool", "global_avg_pool", "globalaveragepool")
    family = "pooling"
    doc = "Global average pooling: every spatial axis of N×C×spatial averaged to 1 (N×C×1×1 for images)."
    torch_twin = "torch.nn.AdaptiveAvgPool2d"
    formulas = (
        "out = N×C×1(×1…): every spatial axis becomes 1",
        "twin: nn.AdaptiveAvgPool1d/2d/3d(1) for a 3/4/5-D input",
        "params = 0; MACs = 0",
    )
    examples = ("512x7x7 | gap", "8x10 | gap", "4x3x5x6 | gap", "2048x7x7 | globalavgpool")
    saves = "nothing"  # the backward of a mean needs only the input's shape

    def elementwise_flops(self, call: Call, result: Inference) -> Dim:
        """DeepSpeed's adaptive average pooling: one FLOP per input element."""
        return numel(call.x.shape)

    def infer(self, call: Call) -> Inference:
        call.expect_rank(3, 4, 5, layout="N×C×L, N×C×H×W or N×C×D×H×W")
        return Inference(call.x.shape[:2] + (1,) * (call.x.rank - 2))

    def receptive_field(self, call: Call, result: Inference, field):
        return GLOBAL

    def rank_hint(self, rank: int) -> str | None:
        return "gap pools the spatial dims after the channels; for a sequence L×D use `permute 0 2 1` first"

    def twin(self, call: Call) -> Twin:
        return Twin.nn(f"AdaptiveAvgPool{call.x.rank - 2}d", output_size=1)

