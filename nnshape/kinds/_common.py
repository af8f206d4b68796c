"""Rules shared by several kinds: sliding-window output sizes, elementwise layers and the
parameter tensors of the torch modules several twins hold (a linear, an affine norm)."""

from __future__ import annotations

from ..registry import Arg, Call, Inference, Kind, ParamTensor, register
from ..symbolic import Dim, Poly
from ..tensor import format_shape
from ..twinspec import Twin

AXES = ("D", "H", "W")


def axis_names(ndim: int) -> tuple[str, ...]:
    if ndim == 1:
        return ("L",)
    return AXES[3 - ndim:] if ndim <= 3 else tuple(f"S{i}" for i in range(ndim))


def check_pool_padding(call: Call, kernel: tuple, padding: tuple) -> None:
    """PyTorch's pools take padding of at most half the kernel on every axis (E0303)."""
    for kk, pp in zip(kernel, padding):
        if pp > kk // 2:
            call.fail(
                "padding must be at most half the kernel size (PyTorch's rule)",
                arg="padding",
                expected=f"padding ≤ kernel_size // 2 = {kk // 2}",
                found=f"padding={'x'.join(map(str, padding))}, kernel_size={'x'.join(map(str, kernel))}",
                hint="use a larger kernel or less padding",
                code="E0303",
            )


def window_out(
    call: Call,
    size: Dim,
    kernel: Dim,
    stride: Dim,
    padding: Dim,
    dilation: Dim,
    *,
    axis: str,
    ceil_mode: bool = False,
) -> Dim:
    """PyTorch's rule floor((size + 2P − D·(K−1) − 1)/S) + 1, with ceil_mode, and a warning
    when the floor leaves real input rows/columns unread."""
    span = dilation * (kernel - 1) + 1
    room = size + 2 * padding - span
    if isinstance(room, Poly) or isinstance(stride, Poly):
        if stride == 1 and not ceil_mode:
            return room + 1
        sym = room.symbols if isinstance(room, Poly) else stride.symbols
        call.fail(
            f"the output size along {axis} needs the value of {', '.join(sym)}",
            expected="a known size",
            found=format_shape(call.x.shape),
            hint=" ".join(f"`--set {s}=...`" for s in sym) + " or `let` it in the spec",
            code="E0404",
        )
    if room < 0:
        call.fail(
            f"the window does not fit along {axis}: {size} + 2·{padding} < {span}",
            arg="kernel_size",
            expected=f"{axis} + 2·padding ≥ dilation·(kernel−1) + 1 = {span}",
            found=f"{axis} = {size} in input {format_shape(call.x.shape)}",
            hint="use a smaller kernel, more padding, or remove a downsampling layer before this one",
            code="E0405",
        )
    if ceil_mode:
        out = -(-room // stride) + 1
        # PyTorch: the last window must start inside the input or the left padding
        if (out - 1) * stride >= size + padding:
            out -= 1
        return out
    out = room // stride + 1
    dropped = room % stride - padding
    if dropped > 0 and kernel >= stride:  # a window smaller than its stride skips rows by design
        unit = "row" if axis in ("H", "L") else "column" if axis == "W" else "slice"
        call.warn(
            f"floor drops {dropped} input {unit}{'s' if dropped > 1 else ''} along {axis}: "
            f"({size} + 2·{padding} − {span})/{stride} + 1 = {room / stride + 1:g} → {out}",
            arg="stride",
        )
    return out


def explain_window(
    size: Dim, kernel: Dim, stride: Dim, padding: Dim, dilation: Dim, out: Dim, *, axis: str, ceil_mode: bool = False
) -> str:
    """`H_out = ⌊(224 + 2·3 − 1·(7−1) − 1) / 2⌋ + 1 = 112`, and the input a floor leaves unread."""
    lo, hi = ("⌈", "⌉") if ceil_mode else ("⌊", "⌋")
    text = f"{axis}_out = {lo}({size} + 2·{padding} − {dilation}·({kernel}−1) − 1) / {stride}{hi} + 1"
    values = (size, kernel, stride, padding, dilation)
    if not all(isinstance(v, int) for v in values):
        return f"{text} = {out}"
    room = size + 2 * padding - dilation * (kernel - 1) - 1
    if ceil_mode:
        ceiled = -(-room // stride) + 1
        if ceiled != out:  # PyTorch: the last window must start inside the input or the left padding
            return f"{text} = {ceiled} → {out} (the last window would start in the right padding)"
        return f"{text} = {out}"
    text += f" = {out}"
    dropped = room % stride - padding  # real input rows after the last window (padding aside)
    if dropped > 0:
        unit = "row" if axis in ("H", "L") else "column" if axis == "W" else "slice"
        what = f"1 input {unit} (the last) is" if dropped == 1 else f"{dropped} input {unit}s (the last {dropped}) are"
        text += f" ({room / stride + 1:g} → {out}: {what} never read)"
    return text


def window_fields(field, kernels, strides, paddings, dilations):
    """The receptive field after a sliding window on every spatial axis (None if a value is symbolic)."""
    values = (kernels, strides, paddings, dilations)
    if any(not isinstance(v, int) for t in values for v in t) or len(field) != len(kernels):
        return None
    return tuple(f.window(k, s, p, d) for f, k, s, p, d in zip(field, *values))


def linear_tensors(prefix: str, out: Dim, inp: Dim, bias: bool) -> tuple[ParamTensor, ...]:
    """nn.Linear(inp, out) named ``prefix``: weight out×in, then bias out."""
    return ((prefix + "weight", (out, inp)),) + (((prefix + "bias", (out,)),) if bias else ())


def affine_tensors(prefix: str, shape: tuple[Dim, ...], weight: bool = True, bias: bool = True) -> tuple[ParamTensor, ...]:
    """A norm's elementwise affine (weight, then bias) of ``shape``."""
    return (((prefix + "weight", shape),) if weight else ()) + (((prefix + "bias", shape),) if bias else ())


def pad_same(kernel: Dim, dilation: Dim) -> Dim:
    """Total padding PyTorch adds for padding='same' (stride 1)."""
    return dilation * (kernel - 1)


class Elementwise(Kind):
    """A layer that keeps the shape and has no parameters (most activations), twin ``torch.nn.<torch_class>``."""

    torch_class = ""
    elementwise_per_element = 1  # one FLOP per element, as DeepSpeed counts relu/gelu/silu (--count-elementwise)

    def infer(self, call: Call) -> Inference:
        return Inference(call.x.shape)

    def twin(self, call: Call) -> Twin:
        return Twin.nn(self.torch_class, **{a.name: getattr(call.args, a.name) for a in self.args})


def elementwise(
    name: str,
    twin: str,
    doc: str,
    *,
    aliases: tuple[str, ...] = (),
    args: tuple[Arg, ...] = (),
    family: str = "activation",
    saves: str = "input",
    examples: tuple[str, ...] = (),
) -> type[Kind]:
    """Register a shape-preserving, parameter-free kind whose twin is ``torch.nn.<twin>``;
    ``saves``: what its backward keeps (most activations their input, relu/sigmoid/tanh their output)."""
    cls = type(
        name.capitalize(),
        (Elementwise,),
        {
            "name": name,
            "aliases": aliases,
            "family": family,
            "doc": doc,
            "torch_twin": f"torch.nn.{twin}",
            "torch_class": twin,
            "saves": saves,
            "args": args,
            "formulas": ("output shape = input shape", "params = 0", "MACs = 0"),
            "examples": examples or ("4x8x8 | " + name,),
        },
    )
    return register(cls)
