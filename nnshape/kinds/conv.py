"""Convolutions: ``conv1d/2d/3d`` and ``convtranspose1d/2d/3d``."""

from __future__ import annotations

from ..memory import INPUT, Saved
from ..registry import Arg, Call, Inference, Kind, ParamTensor, num, product, register
from ..symbolic import Dim
from ..tensor import format_shape, numel
from ..twinspec import Twin
from ._common import axis_names, explain_window, pad_same, window_fields, window_out
from ._weight_norm import (
    WEIGHT_NORM, weight_norm_lines, weight_norm_params, weight_norm_saved, weight_norm_tensors, weight_normed,
)

_LAYOUT = {1: "N×C×L", 2: "N×C×H×W", 3: "N×C×D×H×W"}


def _conv_args(transposed: bool) -> tuple[Arg, ...]:
    args = [
        Arg("out_channels", "int", positional=True, min=1, aliases=("out",), doc="output channels (number of filters)"),
        Arg("kernel_size", "size", positional=True, min=1, aliases=("k", "kernel"), doc="window size, int or per-axis"),
        Arg("stride", "size", 1, aliases=("s",), min=1),
        Arg(
            "padding",
            "size" if transposed else "padding",
            0,
            aliases=("p", "pad"),
            min=0,
            doc="zero padding per side" + ("" if transposed else "; 'same' or 'valid' too"),
        ),
        Arg("dilation", "size", 1, aliases=("d",), min=1),
        Arg("groups", "int", 1, aliases=("g",), min=1),
        Arg("bias", "bool", True),
        Arg("padding_mode", "str", "zeros", choices=("zeros", "reflect", "replicate", "circular")),
        Arg("in_channels", "int", None, aliases=("in",), min=1, doc="checked against the input's channels"),
        WEIGHT_NORM,
    ]
    if transposed:
        args.insert(4, Arg("output_padding", "size", 0, aliases=("op",), min=0, doc="extra size on one side of the output"))
    return tuple(args)


class _ConvBase(Kind):
    def elementwise_flops(self, call: Call, result: Inference) -> Dim:
        """DeepSpeed's convolution adds its bias: one FLOP per output element (none without bias)."""
        return numel(result.shape) if call.args.bias else 0

    ndim: int = 2
    transposed: bool = False
    family = "conv"
    saves = "input"  # the weight gradient reads the input

    def rank_hint(self, rank: int) -> str | None:
        want = self.ndim + 2
        if rank < want:
            return "add `unflatten` or `reshape` to restore the spatial dims before this layer"
        if rank > want:
            return f"use conv{rank - 2}d for a {rank - 2}-D spatial input, or `flatten` first"
        return None

    def channels(self, call: Call) -> tuple[Dim, Dim, int]:
        call.expect_rank(self.ndim + 2, layout=_LAYOUT[self.ndim])
        a = call.args
        cin = call.x.shape[1]
        if a.in_channels is not None and a.in_channels != cin:
            call.fail(
                f"in_channels={a.in_channels} does not match the input's channels",
                arg="in_channels",
                expected=f"in_channels = {cin} (dim 1 of the input {format_shape(call.x.shape)})",
                found=str(a.in_channels),
                hint="in_channels is inferred from the input; drop it or fix the layer before",
                code="E0406",
            )
        g = a.groups
        for what, value in (("in_channels", cin), ("out_channels", a.out_channels)):
            if isinstance(value, int) and value % g:
                call.fail(
                    f"{what}={value} is not divisible by groups={g}",
                    arg="groups",
                    expected=f"groups dividing both in ({cin}) and out ({a.out_channels}) channels",
                    found=f"groups={g}",
                    code="E0407",
                )
        return cin, a.out_channels, g

    def details(self, call: Call) -> tuple[tuple[str, str], ...]:
        a = call.args
        fmt = lambda t: "x".join(str(v) for v in t) if isinstance(t, tuple) else str(t)  # noqa: E731
        out = [("kernel", fmt(a.kernel_size)), ("stride", fmt(a.stride)), ("padding", fmt(a.padding))]
        if any(d != 1 for d in a.dilation):
            out.append(("dilation", fmt(a.dilation)))
        if a.groups != 1:
            out.append(("groups", str(a.groups)))
        return tuple(out)

    def weight_shape(self, call: Call) -> tuple[Dim, ...]:
        """C_out×C_in/g×K… (transposed: C_in×C_out/g×K…)."""
        a = call.args
        cin = call.x.shape[1]
        io = (cin, a.out_channels // a.groups) if self.transposed else (a.out_channels, cin // a.groups)
        return io + tuple(a.kernel_size)

    def param_tensors(self, call: Call) -> tuple[ParamTensor, ...]:
        """weight, then bias C_out (weight_norm=: bias, then g and v under parametrizations.weight)."""
        a = call.args
        tensors = (("weight", self.weight_shape(call)),) + ((("bias", (a.out_channels,)),) if a.bias else ())
        return weight_norm_tensors(call, tensors)

    def saved(self, call: Call, result: Inference) -> Saved:
        """The input (the weight gradient reads it); with weight_norm= also the computed weight
        and the norm's tensors (nnshape/kinds/_weight_norm.py)."""
        return weight_norm_saved(call, self.weight_shape(call), INPUT)

    def weight_norm_details(self, call: Call) -> tuple[tuple[str, str], ...]:
        return (("weight_norm", f"dim {call.args.weight_norm}"),) if call.args.weight_norm is not None else ()

    def params_line(self, call: Call, result: Inference, weight: str) -> str:
        """params = weight + bias [+ g] = total."""
        a = call.args
        g = weight_norm_params(call, self.weight_shape(call))
        return f"params = {weight} + {a.out_channels if a.bias else 0}{f' + {g} (g)' if g else ''} = {num(result.params)}"


class Conv(_ConvBase):
    def infer(self, call: Call) -> Inference:
        cin, cout, g = self.channels(call)
        a = call.args
        k, s, d = a.kernel_size, a.stride, a.dilation
        spatial_in = call.x.shape[2:]
        names = axis_names(self.ndim)
        if a.padding == "same":
            if any(v != 1 for v in s):
                call.fail(
                    "padding='same' needs stride 1 (as in PyTorch)",
                    arg="padding",
                    expected="stride=1",
                    found=f"stride={'x'.join(map(str, s))}",
                    code="E0408",
                )
            spatial = tuple(spatial_in)
            for size, kk, dd, axis in zip(spatial_in, k, d, names):
                window_out(call, size + pad_same(kk, dd), kk, 1, 0, dd, axis=axis)
        else:
            pads = (0,) * self.ndim if a.padding == "valid" else a.padding
            spatial = tuple(
                window_out(call, size, kk, ss, pp, dd, axis=axis) for size, kk, ss, pp, dd, axis in zip(spatial_in, k, s, pads, d, names)
            )
        kernel = numel(k)
        params = cout * (cin // g) * kernel + (cout if a.bias else 0) + weight_norm_params(call, self.weight_shape(call))
        macs = call.x.shape[0] * cout * numel(spatial) * (cin // g) * kernel
        details = self.details(call) + self.weight_norm_details(call)
        return Inference((call.x.shape[0], cout) + spatial, params=params, macs=macs, details=details)

    def paddings(self, call: Call) -> tuple:
        """The left padding per axis ('same' pads D·(K−1) in total, the smaller half first)."""
        a = call.args
        if a.padding == "same":
            return tuple(pad_same(k, d) // 2 for k, d in zip(a.kernel_size, a.dilation))
        return (0,) * self.ndim if a.padding == "valid" else a.padding

    def receptive_field(self, call: Call, result: Inference, field):
        a = call.args
        return window_fields(field, a.kernel_size, a.stride, self.paddings(call), a.dilation)

    def explain(self, call: Call, result: Inference) -> list[str]:
        a = call.args
        n, cin = call.x.shape[:2]
        g, cout, k = a.groups, a.out_channels, a.kernel_size
        lines = []
        for size, out, kk, ss, pp, dd, axis in zip(
            call.x.shape[2:], result.shape[2:], k, a.stride, self.paddings(call), a.dilation, axis_names(self.ndim)
        ):
            if a.padding == "same":
                total = pad_same(kk, dd)
                lines.append(f"{axis}_out = {axis} = {out} (padding='same': {dd}·({kk}−1) = {total} padded in all, {total // 2} before)")
            else:
                lines.append(explain_window(size, kk, ss, pp, dd, out, axis=axis))
        cin_g = cin // g
        if g != 1:
            lines.append(f"C_in/groups = {cin}/{g} = {cin_g} input channels per filter")
        lines.append(self.params_line(call, result, product(cout, cin_g, *k)))
        lines += weight_norm_lines(call, self.weight_shape(call))
        lead = (n,) if n != 1 else ()
        lines.append(f"MACs = {product(*lead, cout, *result.shape[2:])} · {product(cin_g, *k)} = {num(result.macs)}")
        return lines

    def twin(self, call: Call) -> Twin:
        a = call.args
        return weight_normed(call, Twin.nn(
            f"Conv{self.ndim}d", in_channels=call.x.shape[1], out_channels=a.out_channels, kernel_size=a.kernel_size,
            stride=a.stride, padding=a.padding, dilation=a.dilation, groups=a.groups, bias=a.bias, padding_mode=a.padding_mode,
        ))


class ConvTranspose(_ConvBase):
    transposed = True

    def infer(self, call: Call) -> Inference:
        cin, cout, g = self.channels(call)
        a = call.args
        if a.padding_mode != "zeros":
            call.bad_arg("padding_mode", "transposed convolutions support only padding_mode='zeros'", expected="'zeros'")
        spatial = []
        for size, k, s, p, d, op, axis in zip(
            call.x.shape[2:], a.kernel_size, a.stride, a.padding, a.dilation, a.output_padding, axis_names(self.ndim)
        ):
            if op >= s and op >= d:
                call.fail(
                    "output_padding must be smaller than stride or dilation",
                    arg="output_padding",
                    expected=f"output_padding < {max(s, d)}",
                    found=str(op),
                    code="E0409",
                )
            out = (size - 1) * s - 2 * p + d * (k - 1) + op + 1
            if isinstance(out, int) and out < 1:
                call.fail(
                    f"the output along {axis} would be {out}",
                    arg="padding",
                    expected="(in − 1)·S − 2P + D·(K − 1) + output_padding + 1 ≥ 1",
                    found=f"{axis} = {size} in input {format_shape(call.x.shape)}",
                    code="E0405",
                )
            spatial.append(out)
        kernel = numel(a.kernel_size)
        params = cin * (cout // g) * kernel + (cout if a.bias else 0) + weight_norm_params(call, self.weight_shape(call))
        # FlopCounterMode counts a transposed conv over the *input* positions
        macs = call.x.shape[0] * cin * numel(call.x.shape[2:]) * (cout // g) * kernel
        details = self.details(call) + self.weight_norm_details(call)
        return Inference((call.x.shape[0], cout) + tuple(spatial), params=params, macs=macs, details=details)

    def receptive_field(self, call: Call, result: Inference, field):
        return None  # not supported: an output position sees a varying number of inputs (docs/conventions.md)

    def explain(self, call: Call, result: Inference) -> list[str]:
        a = call.args
        n, cin = call.x.shape[:2]
        g, cout, k = a.groups, a.out_channels, a.kernel_size
        lines = [
            f"{axis}_out = ({size} − 1)·{s} − 2·{p} + {d}·({kk}−1) + {op} + 1 = {out}"
            for size, out, kk, s, p, d, op, axis in zip(
                call.x.shape[2:], result.shape[2:], k, a.stride, a.padding, a.dilation, a.output_padding, axis_names(self.ndim)
            )
        ]
        lines.append(self.params_line(call, result, product(cin, cout // g, *k)))
        lines += weight_norm_lines(call, self.weight_shape(call))
        lead = (n,) if n != 1 else ()
        lines.append("each input position scatters its C_in·(C_out/groups)·ΠK products into the output")
        lines.append(f"MACs = {product(*lead, cin, *call.x.shape[2:])} · {product(cout // g, *k)} = {num(result.macs)}")
        return lines

    def twin(self, call: Call) -> Twin:
        a = call.args
        return weight_normed(call, Twin.nn(
            f"ConvTranspose{self.ndim}d", in_channels=call.x.shape[1], out_channels=a.out_channels, kernel_size=a.kernel_size,
            stride=a.stride, padding=a.padding, output_padding=a.output_padding, groups=a.groups, bias=a.bias, dilation=a.dilation,
        ))


_CONV_EXAMPLES = {
    1: ("3x20 | conv1d 8 k3", "4x17 | conv1d 6 k=5 s=2 p=2 d=1 bias=false", "4x16 | conv1d 8 k3 p='same' d=2 g=2",
        "8x20 | conv1d 8 k6 p3 groups=2 weight_norm=2"),
    2: (
        "1x3x3 | conv2d 1 k2 p1",
        "3x32x32 | conv 16 k3 s2 p1",
        "4x15x17 | conv2d 8 k=3x5 s=(2, 1) p=(1, 2) d=2 groups=2 bias=false",
        "8x9x9 | conv2d 8 k3 g=8 padding='same'",
        "3x16x16 | conv2d 4 k3 padding='valid' padding_mode='reflect'",
        "4x9x9 | conv2d 6 k3 p1 weight_norm=1",
    ),
    3: ("2x6x8x8 | conv3d 4 k3 p1", "2x7x9x9 | conv3d 4 k=(1, 3, 3) s=2"),
}
_TRANSPOSED_EXAMPLES = {
    1: ("4x10 | convtranspose1d 3 k4 s2 p1",),
    2: ("8x7x7 | convtranspose2d 4 k3 s2 p1 op=1", "4x5x6 | deconv 6 k=2 s=2 g=2 bias=false", "3x4x4 | convtranspose2d 2 k3 d=2",
        "6x5x5 | convtranspose2d 4 k4 s2 p1 weight_norm=0"),
    3: ("4x3x4x4 | convtranspose3d 2 k=2 s=2",),
}

for _n in (1, 2, 3):
    register(
        type(
            f"Conv{_n}d",
            (Conv,),
            {
                "name": f"conv{_n}d",
                "aliases": ("conv",) if _n == 2 else (),
                "ndim": _n,
                "doc": f"{_n}-D convolution over {_LAYOUT[_n]}; padding='same'|'valid' like PyTorch.",
                "torch_twin": f"torch.nn.Conv{_n}d",
                "args": _conv_args(False),
                "formulas": (
                    "out = floor((in + 2P − D·(K−1) − 1)/S) + 1 per spatial axis",
                    "params = C_out·(C_in/groups)·ΠK + C_out (bias)",
                    "MACs = N·C_out·Πout·(C_in/groups)·ΠK",
                    "weight_norm=DIM: + weight.shape[DIM] params (g), MACs unchanged",
                ),
                "examples": _CONV_EXAMPLES[_n],
            },
        )
    )
    register(
        type(
            f"ConvTranspose{_n}d",
            (ConvTranspose,),
            {
                "name": f"convtranspose{_n}d",
                "aliases": ("deconv", "convtranspose") if _n == 2 else (f"deconv{_n}d",),
                "ndim": _n,
                "doc": f"{_n}-D transposed convolution (fractionally strided) over {_LAYOUT[_n]}.",
                "torch_twin": f"torch.nn.ConvTranspose{_n}d",
                "args": _conv_args(True),
                "formulas": (
                    "out = (in − 1)·S − 2P + D·(K−1) + output_padding + 1 per spatial axis",
                    "params = C_in·(C_out/groups)·ΠK + C_out (bias)",
                    "MACs = N·C_in·Πin·(C_out/groups)·ΠK (counted over input positions)",
                    "weight_norm=DIM: + weight.shape[DIM] params (g), MACs unchanged",
                ),
                "examples": _TRANSPOSED_EXAMPLES[_n],
            },
        )
    )
