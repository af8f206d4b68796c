"""Tensor operations without parameters: ``slice``, ``pad``, ``squeeze``, ``unsqueeze``, ``roll``,
``pixelshuffle``, ``pixelunshuffle`` and ``channelshuffle``.

Dims count as in PyTorch (batch = dim 0, negative from the end), and an operation that would
move, mix or remove the batch is an error (E0417), as for the other shape kinds. None of them has
parameters, and none does a multiply-accumulate (FlopCounterMode counts 0 for each).
"""

from __future__ import annotations

from ..memory import INPUT, NOTHING, Saved
from ..registry import Arg, Call, Field, Inference, Kind, register
from ..symbolic import Dim, Poly
from ..tensor import format_shape
from ..twinspec import Twin
from ..values import describe

_FREE = ("params = 0", "MACs = 0")


def batch_error(call: Call, arg: str, what: str, hint: str) -> None:
    call.fail(
        f"{what} would change the batch (dim 0)",
        arg=arg,
        expected="dims ≥ 1: the batch stays dim 0",
        found=f"{describe(call.args.as_dict()[arg])} for input {format_shape(call.x.shape)}",
        hint=hint,
        code="E0417",
    )


def dim_list(call: Call, arg: str, values) -> tuple[int, ...]:
    """PyTorch dims (an int or a tuple) normalized against the input's rank; each once, never the batch."""
    dims = tuple(call.dim_index(d, arg) for d in (values if isinstance(values, tuple) else (values,)))
    if len(set(dims)) != len(dims):
        call.bad_arg(arg, "a dim is given twice", expected="distinct dims (negative ones count from the end)")
    return dims


def expression_dims(values) -> str:
    """`2` or `(2, 3)`: a dims argument as PyTorch code."""
    return repr(values if not isinstance(values, tuple) or len(values) != 1 else values[0])


def min_rank(call: Call, rank: int, layout: str) -> None:
    """Fail (E0402) unless the input has at least ``rank`` dims, batch included."""
    if call.x.rank < rank:
        call.fail(
            f"expects an input of {rank} or more dims ({layout}), found a {call.x.rank}-D tensor",
            expected=f"shape {layout}",
            found=format_shape(call.x.shape),
            hint=call.kind.rank_hint(call.x.rank),
            code="E0402",
        )


def signed(value) -> str:
    """`+ 2` or `− 3`: a term of a sum."""
    return f"− {-value}" if isinstance(value, int) and value < 0 else f"+ {value}"


def _grid(call: Call, field) -> bool:
    """True when ``field`` has one entry per spatial dim (2…) of the input."""
    return isinstance(field, tuple) and len(field) == call.x.rank - 2


# --------------------------------------------------------------------------------------------- slice


@register
class Slice(Kind):
    name = "slice"
    saves = "nothing"
    family = "shape"
    accepts = "any"  # shape-only: token ids pass through
    is_view = True  # a strided view of the input's storage
    doc = "Positions start:end:step along one dim (Python slicing, end exclusive): channel split, chunk, strided patches."
    torch_twin = "nnshape.twins.Slice"
    args = (
        Arg("dim", "int", positional=True, doc="dim to slice (batch = dim 0; negative from the end)"),
        Arg("start", "int", positional=True, nullable=True, doc="first position; negative from the end; none = 0"),
        Arg("end", "int", None, positional=True, aliases=("stop",), doc="end, exclusive; none (default) = to the end"),
        Arg("step", "int", 1, positional=True, min=1, doc="take every step-th position"),
    )
    formulas = (
        "out[dim] = len(range(size)[start:end:step]) = ⌈(end − start)/step⌉ after Python's clamping",
        "a view of the input (no copy)",
    ) + _FREE
    examples = (
        "116x28x28 | slice 1 0 58",
        "116x28x28 | slice 1 58",
        "8x8x96 | slice 1 1 none 2",
        "8x8x96 | slice dim=2 start=0 step=2",
        "10x12 | slice -1 -4",
        "10x12 | slice -2 2 -3 3",
        "3x16x16 | slice 3 -100 100",
        "input ids 12 dtype=int64\nslice 1 0 6",
    )

    def bounds(self, call: Call) -> tuple[int, int, int, Dim]:
        """(dim, first position, step, output size); positions as Python's slice.indices gives them."""
        a = call.args
        dim = call.dim_index(a.dim, "dim")
        if dim == 0:
            batch_error(call, "dim", "slicing dim 0", "slice a per-sample dim: `slice 1 0 16` is x[:, 0:16]")
        size = call.x.shape[dim]
        start = 0 if a.start is None else a.start
        if isinstance(size, Poly) and isinstance(start, int) and start >= 0 and a.end is None and a.step == 1:
            return dim, start, 1, size - start  # to the end of a symbolic size
        size = call.concrete(size, f"slicing dim {a.dim}")
        start = call.concrete(start, "slice's start")
        end = None if a.end is None else call.concrete(a.end, "slice's end")
        first, stop, step = slice(start, end, a.step).indices(size)
        count = len(range(first, stop, step))
        if count == 0:
            written = f"{'' if a.start is None else a.start}:{'' if a.end is None else a.end}" + (f":{a.step}" if a.step != 1 else "")
            call.fail(
                f"the slice {written} of dim {a.dim} is empty",
                arg="start",
                expected=f"positions inside the size {size} (start before end; negative from the end)",
                found=f"{written} on {format_shape(call.x.shape)}",
                hint="Python slicing clamps start and end to the size; check them against the input",
                code="E0421",
            )
        return dim, first, step, count

    def infer(self, call: Call) -> Inference:
        dim, first, step, count = self.bounds(call)
        s = call.x.shape
        return Inference(s[:dim] + (count,) + s[dim + 1 :], dtype=call.x.dtype)

    def receptive_field(self, call: Call, result: Inference, field):
        """Along a spatial dim the first output is input position `first`, and neighbours are `step` apart."""
        dim, first, step, _ = self.bounds(call)
        if not _grid(call, field):
            return None
        if dim == 1:
            return field
        f = field[dim - 2]
        return field[: dim - 2] + (Field(f.size, f.jump * step, f.start + first * f.jump),) + field[dim - 1 :]

    def explain(self, call: Call, result: Inference) -> list[str]:
        dim, first, step, count = self.bounds(call)
        size = call.x.shape[dim]
        return [
            f"dim {dim}: positions {first}, {first} + {step}, … of {size} → {count} (a view, no copy)",
            f"shape: {format_shape(call.x.shape)} → {format_shape(result.shape)}",
            "params = 0",
            "MACs = 0",
        ]

    def twin(self, call: Call) -> Twin:
        a = call.args
        return Twin.own("Slice", dim=a.dim, start=a.start, end=a.end, step=a.step)


# ----------------------------------------------------------------------------------------------- pad

_PAD_MODES = ("constant", "reflect", "replicate", "circular")


@register
class Pad(Kind):
    name = "pad"
    family = "shape"
    accepts = "any"  # token ids can be padded too
    doc = "Pad the last dims, like F.pad: (left, right) of the last dim first, then (top, bottom), (front, back)."
    torch_twin = "nnshape.twins.Pad"
    args = (
        Arg("pad", "ints", positional=True, aliases=("padding",), doc="(left, right[, top, bottom[, ...]]): the last dim first; negative crops"),
        Arg("mode", "str", "constant", positional=True, choices=_PAD_MODES, doc="constant, reflect, replicate or circular"),
        Arg("value", "number", None, positional=True, aliases=("fill",), doc="fill value of mode constant (default 0)"),
    )
    formulas = (
        "out[-1] = in[-1] + left + right, out[-2] = in[-2] + top + bottom, …",
        "constant: any number of pairs up to the per-sample dims; reflect/replicate/circular: 1, 2 or 3 pairs on a"
        " 2-D/3-D, 3-D/4-D or 4-D/5-D input",
        "reflect: each pad < the size; circular: each pad ≤ the size",
    ) + _FREE
    examples = (
        "3x8x8 | pad (1, 1, 1, 1)",
        "3x8x8 | pad (1, 2, 0, 3) reflect",
        "3x8x8 | pad (0, 1, 0, 1) mode=constant value=-1",
        "4x10 | pad (2, 0) mode='replicate'",
        "2x4x5x6 | pad (1, 1, 2, 2, 3, 3) circular",
        "3x8x8 | pad (0, 0, 0, 0, 1, 2)",
        "3x8x8 | pad (-1, -1, 2, -2)",
        "3x8x8 | pad (7, 7, 0, 7) reflect",
        "3x8 | pad (8, 8) circular",
        "input ids 10 dtype=int64\npad (0, 6) value=0",
    )

    def sides(self, call: Call) -> list[tuple[int, Dim, Dim, Dim]]:
        """(dim, left, right, output size) for each padded dim, last dim first; validated."""
        a = call.args
        pad, mode, rank = a.pad, a.mode, call.x.rank
        pairs = len(pad) // 2
        if len(pad) % 2 or not pad:
            call.fail(
                "pad takes pairs of sizes, the last dim first",
                arg="pad",
                expected="(left, right), (left, right, top, bottom), … — an even count",
                found=f"{len(pad)} value{'s' if len(pad) != 1 else ''}: {describe(pad)}",
                hint="to pad H and W of C×H×W by 1 on every side: `pad (1, 1, 1, 1)`",
                code="E0422",
            )
        if mode == "constant":
            if pairs >= rank:
                if pairs == rank:
                    batch_error(call, "pad", f"padding all {rank} dims", "pad the per-sample dims only: one pair fewer")
                call.fail(
                    f"pad has {pairs} pairs but the input has {rank} dims (batch included)",
                    arg="pad",
                    expected=f"at most {rank - 1} pairs: one per per-sample dim, the last dim first",
                    found=f"{describe(pad)} for input {format_shape(call.x.shape)}",
                    code="E0422",
                )
        elif pairs > 3 or rank not in (pairs + 1, pairs + 2):
            ranks = {1: "2-D or 3-D (N×L, N×C×L)", 2: "3-D or 4-D (N×H×W, N×C×H×W)", 3: "4-D or 5-D (N×D×H×W, N×C×D×H×W)"}
            call.fail(
                f"mode '{mode}' pads 1, 2 or 3 trailing dims of a matching input, not {pairs} of a {rank}-D input",
                arg="pad",
                expected=f"for {pairs} pair{'s' if pairs > 1 else ''}: a {ranks[pairs]} input" if pairs <= 3 else "at most 3 pairs",
                found=f"{describe(pad)} for input {format_shape(call.x.shape)}",
                hint="as in PyTorch; mode='constant' pads any number of dims",
                code="E0422",
            )
        if a.value is not None and mode != "constant":
            call.bad_arg("value", f"mode '{mode}' takes no value (PyTorch raises)", expected="value only with mode='constant'")
        sides = []
        for i in range(pairs):
            dim = rank - 1 - i
            size, left, right = call.x.shape[dim], pad[2 * i], pad[2 * i + 1]
            out = size + left + right
            if isinstance(out, int) and out < 1:
                call.fail(
                    f"the padding leaves nothing of dim {dim}",
                    arg="pad",
                    expected="size + left + right ≥ 1 (negative pads crop)",
                    found=f"{size} {signed(left)} {signed(right)} = {out} for input {format_shape(call.x.shape)}",
                    code="E0422",
                )
            if isinstance(size, int) and mode in ("reflect", "circular"):
                limit = size if mode == "circular" else size - 1
                if max(left, right) > limit:
                    rule = "less than" if mode == "reflect" else "at most"
                    call.fail(
                        f"mode '{mode}' pads each side of dim {dim} by {rule} its size {size}",
                        arg="pad",
                        expected=f"left, right ≤ {limit}",
                        found=f"({left}, {right}) for dim {dim} of {format_shape(call.x.shape)}",
                        hint="reflect mirrors inside the input and circular wraps around once; mode='replicate' or 'constant' has no limit",
                        code="E0423",
                    )
            sides.append((dim, left, right, out))
        return sides

    def infer(self, call: Call) -> Inference:
        shape = list(call.x.shape)
        for dim, _, _, out in self.sides(call):
            shape[dim] = out
        return Inference(tuple(shape), dtype=call.x.dtype, details=(("mode", call.args.mode),))

    def saved(self, call: Call, result: Inference) -> Saved:
        """reflect/replicate's backward reads the input; constant and circular only slice the gradient."""
        return INPUT if call.args.mode in ("reflect", "replicate") else NOTHING

    def receptive_field(self, call: Call, result: Inference, field):
        """Left padding moves the first window before the input: start − left·jump (as a conv's padding)."""
        if not _grid(call, field):
            return None
        out = list(field)
        for dim, left, _, _ in self.sides(call):
            if dim >= 2:
                f = field[dim - 2]
                out[dim - 2] = Field(f.size, f.jump, f.start - left * f.jump)
        return tuple(out)

    def explain(self, call: Call, result: Inference) -> list[str]:
        lines = [f"dim {dim}: {size} {signed(left)} {signed(right)} = {out}" for (dim, left, right, out), size in
                 ((s, call.x.shape[s[0]]) for s in self.sides(call))]
        lines.append(f"shape: {format_shape(call.x.shape)} → {format_shape(result.shape)} (mode {call.args.mode})")
        return lines + ["params = 0", "MACs = 0"]

    def twin(self, call: Call) -> Twin:
        a = call.args
        return Twin.own("Pad", pad=tuple(a.pad), mode=a.mode, value=a.value)


# ----------------------------------------------------------------------------- squeeze and unsqueeze


@register
class Squeeze(Kind):
    name = "squeeze"
    saves = "nothing"
    family = "shape"
    accepts = "any"
    is_view = True
    doc = "Remove size-1 dims: the given ones (as Tensor.squeeze), or every per-sample one (the batch is kept)."
    torch_twin = "nnshape.twins.Squeeze"
    args = (Arg("dim", "ints", None, positional=True, aliases=("dims",), doc="dim or (dims); none: every per-sample dim of size 1"),)
    formulas = ("out = in without the given dims of size 1 (a dim of another size stays, as in PyTorch: warning W0422)", "a view") + _FREE
    examples = ("64x1x1 | squeeze", "64x1x1 | squeeze (2, 3)", "1x10 | squeeze 1", "5x1x7x1 | squeeze -1", "5x7 | squeeze 2", "input ids 1x9 dtype=int64\nsqueeze 1")

    def removed(self, call: Call) -> tuple[int, ...]:
        a = call.args
        if a.dim is None:
            return tuple(d for d in range(1, call.x.rank) if call.x.shape[d] == 1)
        dims = dim_list(call, "dim", a.dim)
        if 0 in dims:
            batch_error(call, "dim", "squeezing dim 0", "squeeze a per-sample dim (≥ 1); the batch is never removed")
        gone = []
        for d in dims:
            size = call.concrete(call.x.shape[d], f"squeezing dim {d}")
            if size == 1:
                gone.append(d)
            else:
                call.warn(f"dim {d} has size {size}, not 1: squeeze leaves it (as PyTorch does)", arg="dim", code="W0422",
                          hint="squeeze removes only dims of size 1; check the dim, or drop the line")
        return tuple(gone)

    def infer(self, call: Call) -> Inference:
        gone = self.removed(call)
        if call.args.dim is None and not gone:
            call.warn(f"no per-sample dim of {format_shape(call.x.shape)} has size 1: squeeze does nothing", code="W0422")
        return Inference(tuple(d for i, d in enumerate(call.x.shape) if i not in gone), dtype=call.x.dtype)

    def receptive_field(self, call: Call, result: Inference, field):
        return field if len(result.shape) == call.x.rank else None

    def twin(self, call: Call) -> Twin:
        return Twin.own("Squeeze", dim=call.args.dim)


@register
class Unsqueeze(Kind):
    name = "unsqueeze"
    saves = "nothing"
    family = "shape"
    accepts = "any"
    is_view = True
    doc = "Insert a dim of size 1 at `dim` (as Tensor.unsqueeze; negative counts from the end of the result)."
    torch_twin = "nnshape.twins.Unsqueeze"
    args = (Arg("dim", "int", positional=True, doc="position of the new dim in the output, in [1, rank] or [-rank, -1]"),)
    formulas = ("out = in with a 1 inserted at dim", "a view") + _FREE
    examples = ("64 | unsqueeze 1", "64 | unsqueeze -1", "3x8x8 | unsqueeze 2", "10x16 | unsqueeze dim=-3", "input ids 9 dtype=int64\nunsqueeze 1")

    def position(self, call: Call) -> int:
        d = call.dim_index(call.args.dim, "dim", extra=1)
        if d == 0:
            batch_error(call, "dim", "a new dim 0", "insert after the batch: `unsqueeze 1`")
        return d

    def infer(self, call: Call) -> Inference:
        d = self.position(call)
        return Inference(call.x.shape[:d] + (1,) + call.x.shape[d:], dtype=call.x.dtype)

    def twin(self, call: Call) -> Twin:
        return Twin.own("Unsqueeze", dim=call.args.dim)


# ---------------------------------------------------------------------------------------------- roll


@register
class Roll(Kind):
    name = "roll"
    saves = "nothing"
    family = "shape"
    accepts = "any"
    doc = "Shift elements circularly along dims, as torch.roll (Swin's shifted windows)."
    torch_twin = "nnshape.twins.Roll"
    args = (
        Arg("shifts", "ints", positional=True, aliases=("shift",), doc="shift per dim (an int or a tuple)"),
        Arg("dims", "ints", None, positional=True, aliases=("dim",), doc="dims to roll (one per shift); required: none would mix the batch"),
    )
    formulas = ("output shape = input shape; element i of a rolled dim goes to (i + shift) mod size",) + _FREE
    examples = ("56x56x96 | roll (-3, -3) (1, 2)", "3x8x8 | roll 2 -1", "10x4 | roll shifts=1 dims=1", "input ids 6 dtype=int64\nroll -2 1")

    def pairs(self, call: Call) -> list[tuple[int, int]]:
        a = call.args
        if a.dims is None:
            call.fail(
                "roll without dims shifts the flattened tensor, across the samples of the batch",
                arg="shifts",
                expected="dims=... (one per shift)",
                found=f"roll {expression_dims(a.shifts)} on {format_shape(call.x.shape)}",
                hint=f"e.g. `roll {expression_dims(a.shifts)} -1` rolls the last dim",
                code="E0417",
            )
        dims = dim_list(call, "dims", a.dims)
        if 0 in dims:
            batch_error(call, "dims", "rolling dim 0", "roll per-sample dims (≥ 1)")
        shifts = a.shifts
        if len(shifts) != len(dims):
            call.bad_arg("shifts", f"{len(shifts)} shifts for {len(dims)} dims", expected="one shift per dim (as in torch.roll)")
        return list(zip(dims, shifts))

    def infer(self, call: Call) -> Inference:
        self.pairs(call)
        return Inference(call.x.shape, dtype=call.x.dtype)

    def receptive_field(self, call: Call, result: Inference, field):
        """Rolling the channels keeps every position; rolling a spatial dim wraps positions around."""
        for dim, shift in self.pairs(call):
            size = call.x.shape[dim]
            if dim >= 2 and (not isinstance(size, int) or shift % size):
                return None
        return field

    def twin(self, call: Call) -> Twin:
        a = call.args
        return Twin.own("Roll", shifts=a.shifts, dims=a.dims)


# --------------------------------------------------------------------------------- pixel and channel shuffles


def _not_divisible(call: Call, arg: str, what: str, size, by, expected: str, hint: str) -> None:
    call.fail(
        f"{what} {size} is not divisible by {by}",
        arg=arg,
        expected=expected,
        found=f"{arg}={describe(call.args.as_dict()[arg])} for input {format_shape(call.x.shape)}",
        hint=hint,
        code="E0407",
    )


@register
class PixelShuffle(Kind):
    name = "pixelshuffle"
    saves = "nothing"
    aliases = ("pixel_shuffle", "depthtospace")
    family = "shape"
    accepts = "any"
    doc = "Rearrange N×C·r²×H×W into N×C×H·r×W·r (sub-pixel convolution upsampling), as nn.PixelShuffle."
    torch_twin = "torch.nn.PixelShuffle"
    args = (Arg("upscale_factor", "int", positional=True, min=1, aliases=("r", "upscale", "factor"), doc="r: H and W grow r times"),)
    formulas = ("out = (…, C / r², H·r, W·r) on the last three dims (C divisible by r²)",) + _FREE
    examples = ("64x8x8 | pixelshuffle 2", "27x5x7 | pixelshuffle r=3", "4x12x3x3 | pixel_shuffle 2", "input ids 8x2x2 dtype=int64\npixelshuffle 2")

    def infer(self, call: Call) -> Inference:
        r = call.args.upscale_factor
        min_rank(call, 4, "N×C×H×W")
        c, h, w = call.x.shape[-3:]
        if c % (r * r):
            _not_divisible(call, "upscale_factor", "the channel count", c, f"r² = {r * r}", f"C a multiple of {r * r}",
                           f"the conv before it should output C·{r * r} channels")
        return Inference(call.x.shape[:-3] + (c // (r * r), h * r, w * r), dtype=call.x.dtype, details=(("r", str(r)),))

    def rank_hint(self, rank: int) -> str | None:
        return "pixelshuffle rearranges the channels of an N×C×H×W map"

    def explain(self, call: Call, result: Inference) -> list[str]:
        r = call.args.upscale_factor
        c, h, w = call.x.shape[-3:]
        return [f"C = {c}/{r}² = {c // (r * r)}, H = {h}·{r} = {h * r}, W = {w}·{r} = {w * r}", "params = 0", "MACs = 0"]

    def twin(self, call: Call) -> Twin:
        return Twin.nn("PixelShuffle", upscale_factor=call.args.upscale_factor)


@register
class PixelUnshuffle(Kind):
    name = "pixelunshuffle"
    saves = "nothing"
    aliases = ("pixel_unshuffle", "spacetodepth")
    family = "shape"
    accepts = "any"
    doc = "Rearrange N×C×H·r×W·r into N×C·r²×H×W (space to depth), as nn.PixelUnshuffle."
    torch_twin = "torch.nn.PixelUnshuffle"
    args = (Arg("downscale_factor", "int", positional=True, min=1, aliases=("r", "downscale", "factor"), doc="r: H and W shrink r times"),)
    formulas = ("out = (…, C·r², H / r, W / r) on the last three dims (H and W divisible by r)",) + _FREE
    examples = ("16x8x8 | pixelunshuffle 2", "3x12x9 | pixelunshuffle r=3", "2x3x4x4 | pixel_unshuffle 4", "input ids 1x4x4 dtype=int64\npixelunshuffle 2")

    def infer(self, call: Call) -> Inference:
        r = call.args.downscale_factor
        min_rank(call, 4, "N×C×H×W")
        c, h, w = call.x.shape[-3:]
        for axis, size in (("H", h), ("W", w)):
            if size % r:
                _not_divisible(call, "downscale_factor", axis, size, f"r = {r}", f"H and W multiples of {r}",
                               "crop or pad the map first (`slice`, `pad`)")
        return Inference(call.x.shape[:-3] + (c * r * r, h // r, w // r), dtype=call.x.dtype, details=(("r", str(r)),))

    def rank_hint(self, rank: int) -> str | None:
        return "pixelunshuffle rearranges the H×W positions of an N×C×H×W map into channels"

    def receptive_field(self, call: Call, result: Inference, field):
        """Each output position gathers an r×r block into its channels: a window with kernel = stride = r."""
        r = call.args.downscale_factor
        if not _grid(call, field) or call.x.rank != 4:
            return None
        return tuple(f.window(r, r, 0) for f in field)

    def explain(self, call: Call, result: Inference) -> list[str]:
        r = call.args.downscale_factor
        c, h, w = call.x.shape[-3:]
        return [f"C = {c}·{r}² = {c * r * r}, H = {h}/{r} = {h // r}, W = {w}/{r} = {w // r}", "params = 0", "MACs = 0"]

    def twin(self, call: Call) -> Twin:
        return Twin.nn("PixelUnshuffle", downscale_factor=call.args.downscale_factor)


@register
class ChannelShuffle(Kind):
    name = "channelshuffle"
    saves = "nothing"
    aliases = ("channel_shuffle",)
    family = "shape"
    accepts = "any"
    keeps_grid = True  # positions stay where they are; only the channels are reordered
    doc = "Interleave the channels (dim 1) of `groups` groups, as nn.ChannelShuffle (ShuffleNet)."
    torch_twin = "torch.nn.ChannelShuffle"
    args = (Arg("groups", "int", positional=True, min=1, aliases=("g",), doc="number of groups; divides the channels"),)
    formulas = ("output shape = input shape; channel g·(C/groups) + i moves to i·groups + g",) + _FREE
    examples = ("116x28x28 | channelshuffle 2", "12x5 | channel_shuffle g=3", "8x2x3x3 | channelshuffle 4", "input ids 4x3 dtype=int64\nchannelshuffle 2")

    def infer(self, call: Call) -> Inference:
        g = call.args.groups
        min_rank(call, 3, "N×C×…")
        c = call.x.shape[1]
        if c % g:
            _not_divisible(call, "groups", "the channel count", c, f"groups = {g}", "groups dividing the channels (dim 1)",
                           "ShuffleNet shuffles 2 groups after concatenating two branches")
        return Inference(call.x.shape, dtype=call.x.dtype, details=(("groups", str(g)),))

    def rank_hint(self, rank: int) -> str | None:
        return "channelshuffle reorders dim 1 of an N×C×… tensor with at least one more dim (as PyTorch)"

    def twin(self, call: Call) -> Twin:
        return Twin.nn("ChannelShuffle", groups=call.args.groups)
