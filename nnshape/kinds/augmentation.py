"""Data augmentation (torchvision-style transforms on N×C×H×W or N×H×W images).

They have no parameters and no MACs; what matters for a network is their shape effect.
torchvision is not a dependency: each twin (nnshape/twins/augmentation.py) is a small torch module doing the
same resizing, cropping or flipping (the random choices affect values, never shapes).
"""

from __future__ import annotations

from ..registry import Arg, Call, Inference, Kind, register
from ..symbolic import Dim
from ..tensor import format_shape
from ..twinspec import Twin

_LAYOUT = "N×C×H×W or N×H×W"
_ZERO = ("params = 0", "MACs = 0")
_INTERPOLATION = ("nearest", "nearest-exact", "bilinear", "bicubic")


class _Augment(Kind):
    family = "augmentation"
    accepts = "any"  # uint8 images are fine; the dtype is kept
    saves = "nothing"  # no parameters, and the random choices are not differentiated

    def hw(self, call: Call) -> tuple[Dim, Dim]:
        call.expect_rank(3, 4, layout=_LAYOUT)
        return call.x.shape[-2], call.x.shape[-1]

    def rank_hint(self, rank: int) -> str | None:
        return "augmentations act on images: use `unflatten`/`reshape` to get C×H×W first" if rank < 3 else None

    def crop_size(self, call: Call) -> tuple[Dim, Dim]:
        """torchvision's `size`: an int (square) or (h, w)."""
        size = call.args.size
        if len(size) not in (1, 2):
            call.bad_arg("size", "size is one integer or an (h, w) pair", expected="e.g. 224 or (224, 160)")
        return (size[0], size[0]) if len(size) == 1 else size


def _size_arg(doc: str) -> Arg:
    return Arg("size", "size", positional=True, min=1, doc=doc)


@register
class HFlip(_Augment):
    name = "hflip"
    aliases = ("randomhorizontalflip", "horizontalflip")
    doc = "Random horizontal (left-right) flip with probability p; shape kept."
    torch_twin = "nnshape.twins.RandomFlip"
    args = (Arg("p", "float", 0.5, positional=True, min=0, max=1, doc="flip probability"),)
    formulas = ("output shape = input shape",) + _ZERO
    examples = ("3x32x32 | hflip", "3x8x9 | randomhorizontalflip 1.0", "input img 3x8x8 dtype=uint8\nhflip p=1")

    def infer(self, call: Call) -> Inference:
        self.hw(call)
        return Inference(call.x.shape, dtype=call.x.dtype)

    def twin(self, call: Call) -> Twin:
        return Twin.own("RandomFlip", dim=-1, p=call.args.p)


@register
class VFlip(_Augment):
    name = "vflip"
    aliases = ("randomverticalflip", "verticalflip")
    doc = "Random vertical (top-bottom) flip with probability p; shape kept."
    torch_twin = "nnshape.twins.RandomFlip"
    args = (Arg("p", "float", 0.5, positional=True, min=0, max=1, doc="flip probability"),)
    formulas = ("output shape = input shape",) + _ZERO
    examples = ("3x32x32 | vflip", "7x9 | vflip p=1")

    def infer(self, call: Call) -> Inference:
        self.hw(call)
        return Inference(call.x.shape, dtype=call.x.dtype)

    def twin(self, call: Call) -> Twin:
        return Twin.own("RandomFlip", dim=-2, p=call.args.p)


def _ltrb(padding: tuple | None) -> tuple:
    """torchvision padding: p (all sides), (left/right, top/bottom) or (left, top, right, bottom)."""
    if not padding:
        return (0, 0, 0, 0)
    if len(padding) == 1:
        return padding * 4
    if len(padding) == 2:
        return (padding[0], padding[1], padding[0], padding[1])
    return tuple(padding)


@register
class RandomCrop(_Augment):
    name = "randomcrop"
    aliases = ("random_crop",)
    doc = "Crop a random size×size (or h×w) window, after optional padding (torchvision RandomCrop)."
    torch_twin = "nnshape.twins.RandomCrop"
    args = (
        _size_arg("crop size: int (square) or (h, w)"),
        Arg("padding", "ints", None, positional=True, min=0, aliases=("p", "pad"), doc="p, (lr, tb) or (l, t, r, b), added first"),
        Arg("pad_if_needed", "bool", False, doc="pad an input smaller than the crop"),
        Arg("fill", "number", 0, doc="constant padding value"),
        Arg("padding_mode", "str", "constant", choices=("constant", "edge", "reflect", "symmetric")),
    )
    formulas = (
        "padded = H + top + bottom, W + left + right; crop h ≤ padded H, w ≤ padded W (pad_if_needed pads up)",
        "output = N×C×h×w",
    ) + _ZERO
    examples = (
        "3x32x32 | randomcrop 32 4",
        "3x40x50 | randomcrop (24, 30)",
        "3x30x28 | randomcrop 32 padding=(2, 1) padding_mode=reflect",
        "3x10x12 | randomcrop 14 padding=(1, 2, 3, 4) padding_mode='symmetric' fill=1",
        "3x20x12 | randomcrop 16 pad_if_needed=true padding_mode=edge",
        "input img 3x8x8 dtype=uint8\nrandomcrop 6",
    )

    def infer(self, call: Call) -> Inference:
        a = call.args
        h, w = self.hw(call)
        th, tw = self.crop_size(call)
        if a.padding is not None and len(a.padding) not in (1, 2, 4):
            call.bad_arg("padding", "padding takes 1, 2 or 4 values", expected="p, (left/right, top/bottom) or (left, top, right, bottom)")
        left, top, right, bottom = _ltrb(a.padding)
        if a.padding_mode in ("reflect", "symmetric"):
            limit = (call.concrete(h, "reflect padding"), call.concrete(w, "reflect padding"))
            strict = a.padding_mode == "reflect"
            if any(p >= n if strict else p > n for p, n in ((top, limit[0]), (bottom, limit[0]), (left, limit[1]), (right, limit[1]))):
                call.bad_arg("padding", f"{a.padding_mode} padding must be {'smaller than' if strict else 'at most'} the image side", expected=f"padding {'<' if strict else '≤'} H and W of {format_shape(call.x.shape)}")
        ph, pw = h + top + bottom, w + left + right
        if a.pad_if_needed:
            ph, pw = _at_least(call, ph, th), _at_least(call, pw, tw)
        elif _smaller(call, ph, th) or _smaller(call, pw, tw):
            call.fail(
                f"the crop {th}×{tw} is larger than the {'padded ' if a.padding else ''}input {ph}×{pw}",
                arg="size",
                expected=f"crop ≤ {ph}×{pw}",
                found=f"{th}×{tw} for input {format_shape(call.x.shape)}",
                hint="add padding, pad_if_needed=true, or a smaller size",
                code="E0405",
            )
        return Inference(call.x.shape[:-2] + (th, tw), dtype=call.x.dtype, details=(("crop", f"{th}x{tw}"),))

    def twin(self, call: Call) -> Twin:
        a = call.args
        return Twin.own(
            "RandomCrop", size=tuple(self.crop_size(call)), padding=_ltrb(a.padding), pad_if_needed=a.pad_if_needed,
            fill=a.fill, padding_mode=a.padding_mode,
        )


def _smaller(call: Call, have: Dim, need: Dim) -> bool:
    return call.concrete(have, "the crop check") < need


def _at_least(call: Call, have: Dim, need: Dim) -> Dim:
    """pad_if_needed pads a short side by the shortfall on both ends."""
    have = call.concrete(have, "pad_if_needed")
    return have + 2 * (need - have) if have < need else have


@register
class CenterCrop(_Augment):
    name = "centercrop"
    aliases = ("center_crop",)
    doc = "Crop the central size×size (or h×w) window; a smaller input is zero-padded first (torchvision CenterCrop)."
    torch_twin = "nnshape.twins.CenterCrop"
    args = (_size_arg("crop size: int (square) or (h, w)"),)
    formulas = ("output = N×C×h×w (zero padding when the input is smaller)",) + _ZERO
    examples = ("3x256x256 | centercrop 224", "3x9x12 | centercrop (5, 8)", "3x5x6 | centercrop 8", "input img 3x7x7 dtype=uint8\ncentercrop 4")

    def infer(self, call: Call) -> Inference:
        h, w = self.hw(call)
        th, tw = self.crop_size(call)
        if _smaller(call, h, th) or _smaller(call, w, tw):
            call.warn(f"the crop {th}×{tw} is larger than the input {h}×{w}: torchvision pads it with zeros", arg="size")
        return Inference(call.x.shape[:-2] + (th, tw), dtype=call.x.dtype, details=(("crop", f"{th}x{tw}"),))

    def twin(self, call: Call) -> Twin:
        return Twin.own("CenterCrop", size=tuple(self.crop_size(call)))


def _pair_arg(call: Call, name: str) -> tuple[float, float]:
    value = getattr(call.args, name)
    ok = (
        isinstance(value, tuple)
        and len(value) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in value)
        and value[0] <= value[1]
    )
    if not ok:
        call.bad_arg(name, f"{name} is a (min, max) pair of positive numbers", expected="e.g. (0.08, 1.0)")
    return value


@register
class RandomResizedCrop(_Augment):
    name = "randomresizedcrop"
    aliases = ("random_resized_crop",)
    doc = "Crop a random area/aspect window and resize it to size×size (or h×w), whatever the input (torchvision)."
    torch_twin = "nnshape.twins.RandomResizedCrop"
    args = (
        _size_arg("output size: int (square) or (h, w)"),
        Arg("scale", "any", (0.08, 1.0), doc="range of the crop's area fraction"),
        Arg("ratio", "any", (3 / 4, 4 / 3), doc="range of the crop's aspect ratio"),
        Arg("interpolation", "str", "bilinear", choices=_INTERPOLATION),
        Arg("antialias", "bool", True),
    )
    formulas = ("output = N×C×h×w whatever the input size",) + _ZERO
    examples = (
        "3x256x320 | randomresizedcrop 224",
        "3x20x30 | randomresizedcrop (12, 40) scale=(0.5, 1.0) ratio=(0.5, 2) interpolation=bicubic",
        "3x9x9 | randomresizedcrop 5 interpolation=nearest antialias=false",
        "input img 3x16x16 dtype=uint8\nrandomresizedcrop 8",
    )

    def infer(self, call: Call) -> Inference:
        self.hw(call)
        _pair_arg(call, "scale")
        _pair_arg(call, "ratio")
        th, tw = self.crop_size(call)
        return Inference(call.x.shape[:-2] + (th, tw), dtype=call.x.dtype, details=(("size", f"{th}x{tw}"),))

    def twin(self, call: Call) -> Twin:
        a = call.args
        return Twin.own(
            "RandomResizedCrop", size=tuple(self.crop_size(call)), scale=tuple(a.scale), ratio=tuple(a.ratio),
            interpolation=a.interpolation, antialias=a.antialias,
        )


@register
class Resize(_Augment):
    name = "resize"
    doc = "Resize: an int sends the smaller edge to size keeping the aspect ratio, (h, w) is exact (torchvision)."
    torch_twin = "nnshape.twins.Resize"
    args = (
        _size_arg("int: smaller edge (aspect kept); (h, w): exact"),
        Arg("interpolation", "str", "bilinear", choices=_INTERPOLATION),
        Arg("max_size", "int", None, min=1, doc="cap on the longer edge (int size only)"),
        Arg("antialias", "bool", True),
    )
    formulas = (
        "int size: short edge → size, long edge → int(size · long / short)",
        "max_size: if the long edge exceeds it, long → max_size, short → int(max_size · short / long)",
        "(h, w): output = N×C×h×w",
    ) + _ZERO
    examples = (
        "3x375x500 | resize 256",
        "3x500x375 | resize 224 interpolation=bicubic",
        "3x100x300 | resize 50 max_size=120",
        "3x7x9 | resize (4, 12) interpolation=nearest antialias=false",
        "input img 3x30x20 dtype=uint8\nresize 16",
    )

    def infer(self, call: Call) -> Inference:
        a = call.args
        h, w = self.hw(call)
        if len(a.size) not in (1, 2):
            call.bad_arg("size", "size is one integer or an (h, w) pair", expected="e.g. 256 or (224, 224)")
        if len(a.size) == 2:
            if a.max_size is not None:
                call.bad_arg("max_size", "max_size only applies when size is a single int (the smaller edge)")
            out = tuple(a.size)
        else:
            if a.max_size is not None and a.max_size <= a.size[0]:
                call.bad_arg("max_size", f"max_size must be larger than size={a.size[0]}", expected=f"max_size > {a.size[0]}")
            out = resize_smaller_edge(call.concrete(h, "resize"), call.concrete(w, "resize"), a.size[0], a.max_size)
        return Inference(call.x.shape[:-2] + out, dtype=call.x.dtype, details=(("size", f"{out[0]}x{out[1]}"),))

    def twin(self, call: Call) -> Twin:
        a = call.args
        size = a.size[0] if len(a.size) == 1 else tuple(a.size)  # an int: the smaller edge
        return Twin.own("Resize", size=size, max_size=a.max_size, interpolation=a.interpolation, antialias=a.antialias)


def resize_smaller_edge(h: int, w: int, size: int, max_size: int | None) -> tuple[int, int]:
    """torchvision's _compute_resized_output_size for an int size."""
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    if max_size is not None and new_long > max_size:
        new_short, new_long = int(max_size * new_short / new_long), max_size
    return (new_long, new_short) if w <= h else (new_short, new_long)


@register
class PCAColor(_Augment):
    name = "pcacolor"
    aliases = ("pca_color", "lighting", "pcalighting")
    accepts = "float"
    doc = "AlexNet PCA color augmentation: add RGB noise along ImageNet's principal components; shape kept."
    torch_twin = "nnshape.twins.PCAColor"
    args = (Arg("alphastd", "float", 0.1, positional=True, min=0, aliases=("std",), doc="std of the component weights"),)
    formulas = ("output shape = input shape (N×3×H×W)",) + _ZERO
    examples = ("3x224x224 | pcacolor", "3x8x8 | pcacolor 0.2")

    def infer(self, call: Call) -> Inference:
        call.expect_rank(4, layout="N×3×H×W")
        if call.x.shape[1] != 3:
            call.fail(
                "PCA color noise needs 3 (RGB) channels",
                expected="N×3×H×W",
                found=format_shape(call.x.shape),
                hint="apply it to the RGB input image",
                code="E0418",
            )
        return Inference(call.x.shape)

    def twin(self, call: Call) -> Twin:
        return Twin.own("PCAColor", alphastd=call.args.alphastd)
