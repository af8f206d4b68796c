"""The options of ``attention`` beyond plain multi-head attention: per-projection biases, T5's
relative position buckets, a decode step against a KV cache, and attention inside windows (Swin)
or grids (MaxViT) of an N×H×W×C map. The ``attention`` kind (kinds/attention.py) calls these;
they hold the rules that are not plain sequence attention, so that module stays readable.

Window/grid attention, as torchvision's Swin and MaxViT run it: the map is cut into groups of
L = size² tokens (``window``: size×size neighbours, the map zero-padded to a multiple of the
window; ``grid``: size×size tokens strided by H/size and W/size across the map, which must divide);
every group attends within itself. MACs = the projections of every (padded) token + QKᵀ and AV of
N·groups·H·L·L·head_dim each. ``rel_pos=true`` adds a learned (2·size − 1)² × heads bias table
(parameters) and its L×L index (a buffer); ``shift`` rolls the map first and masks in forward
(no buffer), and is dropped along an axis the window covers whole, as torchvision does.
"""

from __future__ import annotations

from ..memory import Saved
from ..registry import Arg, Call, num, product
from ..symbolic import Dim
from ..tensor import format_shape

WINDOW_ONLY = ("window", "grid", "shift")


def biases(call: Call) -> tuple[bool, bool, bool, bool]:
    """(q, k, v, o) bias flags: a per-projection key wins, then ``qkv_bias`` (q, k, v), then ``bias``."""
    a = call.args
    qkv = a.bias if a.qkv_bias is None else a.qkv_bias
    pick = [qkv if getattr(a, key) is None else getattr(a, key) for key in ("q_bias", "k_bias", "v_bias")]
    return pick[0], pick[1], pick[2], a.bias if a.o_bias is None else a.o_bias


def rel_pos_buckets(call: Call, windowed: bool) -> int:
    """T5's bucket count for sequence attention (0: none); for window/grid attention, 1 when the
    table is on. Checks the value's form against the kind of attention."""
    value = call.args.rel_pos
    if value is None or value is False or (isinstance(value, int) and not isinstance(value, bool) and value == 0):
        return 0
    if windowed:
        if value is not True:
            conflict(call, "rel_pos", f"rel_pos={value}: window and grid attention size their table by the window",
                     "rel_pos=true (a (2·size − 1)² × heads table)")
        return 1
    if value is True:
        conflict(call, "rel_pos", "rel_pos=true is the table of window or grid attention",
                 "rel_pos=N, T5's number of buckets (e.g. rel_pos=32), or window=/grid= for a window table")
    if isinstance(value, bool) or not isinstance(value, int) or value < 2:
        call.bad_arg("rel_pos", "rel_pos takes T5's number of buckets", expected="an integer ≥ 2, or true with window=/grid=")
    return value


CACHE = Arg("cache", "int", None, min=0, aliases=("past", "past_length"),
            doc="one decode step: P earlier tokens' keys and values come from the cache (KV cache bytes)")


def check_cache(call: Call, conflict: str | None = None) -> Dim:
    """P of ``cache=P`` (0 without), or a located error where a decode step does not apply:
    cross-attention (E0341), or ``conflict``, an option the decode step does not model (E0342)."""
    a = call.args
    if a.cache is None:
        return 0
    if call.tensors:
        name = next(iter(call.tensors))
        call.fail(
            f"cache= is a decode step of self-attention; cross-attention reads its keys and values from {name}=",
            arg="cache",
            expected=f"cache=P without {name}=",
            found=f"cache={a.cache} with {name}={getattr(a, name)}",
            hint="the cross-attention of a decoder reads the encoder output: leave cache= off that layer",
            code="E0341",
        )
    if conflict:
        call.fail(f"cache= does not go with {conflict}", arg="cache", expected=f"cache=P without {conflict}",
                  found=f"cache={a.cache} with {conflict}=true", code="E0342")
    return a.cache


def math_saved(n: Dim, heads: int, lq: Dim, lk: Dim, hd: int, dropout: float) -> Dim:
    """Floats kept by attention on the math kernel, which CPU attention takes when the mask needs a
    gradient (a learned position bias): the scaled q, kᵀ and v (k, v repeated to H heads), the
    softmax (with dropout also its mask and the dropped weights) and the context."""
    return n * heads * hd * (lq + 2 * lk) + (3 if dropout > 0 else 1) * n * heads * lq * lk + n * lq * heads * hd


def attention_saved(n: Dim, heads: int, lq: Dim, lk: Dim, hd: int, dropout: float) -> Dim:
    """Floats kept by the attention core: q, k, v (k, v repeated to H heads) and what
    scaled_dot_product_attention keeps: with dropout, the math kernel's softmax, mask and dropped
    weights (3·N·H·Lq·Lk) and the context; without, the CPU flash kernel's output and log-sum-exp (N·H·Lq)."""
    qkv = n * heads * hd * (lq + 2 * lk)
    if dropout > 0:
        return qkv + 3 * n * heads * lq * lk + n * lq * heads * hd
    return qkv + n * heads * lq * hd + n * heads * lq


def conflict(call: Call, arg: str, message: str, expected: str) -> None:
    call.fail(message, arg=arg, expected=expected, found=f"{arg}={call.args.as_dict().get(arg)}", code="E0342")


def check_options(call: Call) -> bool:
    """Located errors for options that do not go together; True for window/grid attention."""
    a = call.args
    if a.window is not None and a.grid is not None:
        conflict(call, "grid", "window= and grid= are two kinds of attention: give one", "window=S (Swin) or grid=S (MaxViT)")
    windowed = a.window is not None or a.grid is not None
    if a.shift and a.window is None:
        conflict(call, "shift", "shift rolls the windows of window attention", "window=S together with shift")
    if windowed:
        given = {"kv": a.kv is not None, "cache": a.cache is not None, "causal": a.causal, "rope": a.rope}
        for key, why in (("kv", "cross-attention"), ("cache", "a decode step"), ("causal", "a causal mask"), ("rope", "rotary positions")):
            if given[key]:
                conflict(call, key, f"window and grid attention attend within groups of the map: {why} does not apply",
                         f"{key} without window=/grid= (or window/grid without {key})")
        if a.window is not None and not 0 <= a.shift < a.window:
            call.bad_arg("shift", "the shift moves the map by less than a window", expected=f"0 ≤ shift < window = {a.window}")
    else:
        check_cache(call)
    return windowed


class Geometry:
    """How window/grid attention groups an N×H×W×C map."""

    def __init__(self, call: Call):
        a = call.args
        if call.x.rank != 4:
            call.fail(
                f"window and grid attention read an N×H×W×C map, found a {call.x.rank}-D tensor",
                expected="shape N×H×W×C (channels last, as torchvision's Swin keeps them)",
                found=format_shape(call.x.shape),
                hint="`permute 0 2 3 1` turns N×C×H×W into N×H×W×C",
                code="E0402",
            )
        n, h, w, c = call.x.shape
        self.n = n
        self.h, self.w = call.concrete(h, "the map's height H"), call.concrete(w, "the map's width W")
        self.c = call.concrete(c, "the channels C")
        self.grid = a.grid is not None
        s = self.size = a.grid if self.grid else a.window
        if self.grid:
            if self.h % s or self.w % s:
                call.fail(
                    f"grid={s} does not divide the {self.h}×{self.w} map",
                    arg="grid",
                    expected=f"H and W multiples of {s} (grid attention strides H/{s} and W/{s}; torchvision's MaxViT pads nothing)",
                    found=f"{self.h}×{self.w} in {format_shape(call.x.shape)}",
                    hint=f"resize or pad the map to {-(-self.h // s) * s}×{-(-self.w // s) * s} first, or use window={s}",
                    code="E0440",
                )
            self.ph, self.pw = self.h, self.w
        else:  # torchvision's Swin pads the bottom and right to multiples of the window
            self.ph, self.pw = -(-self.h // s) * s, -(-self.w // s) * s
        self.groups = (self.ph // s) * (self.pw // s)
        self.length = s * s
        shift = a.shift or 0
        self.shift = (shift if s < self.ph else 0, shift if s < self.pw else 0)

    @property
    def tokens(self) -> Dim:
        return self.n * self.ph * self.pw

    def details(self) -> list[tuple[str, str]]:
        s = self.size
        if self.grid:
            out = [("grid", f"{s}×{s}, stride {self.h // s}×{self.w // s}")]
        else:
            sh, sw = self.shift
            out = [("window", f"{s}×{s}" + (f", shift {sh}×{sw}" if sh or sw else ""))]
            if (self.ph, self.pw) != (self.h, self.w):
                out.append(("padded", f"{self.ph}×{self.pw}"))
        return out


def window_counts(call: Call, geo: Geometry, heads: int, kv_heads: int, hd: int, table: bool):
    """(params, buffers, MACs, scores) of window/grid attention."""
    bq, bk, bv, bo = biases(call)
    q, k, c = heads * hd, kv_heads * hd, geo.c
    params = c * q + 2 * c * k + q * c + q * bq + k * bk + k * bv + c * bo
    buffers = 0
    if table:
        params += (2 * geo.size - 1) ** 2 * heads
        buffers = geo.length * geo.length
    t = geo.tokens
    scores = geo.n * geo.groups * heads * geo.length * geo.length
    macs = t * c * q + 2 * t * c * k + 2 * scores * hd + t * q * c
    return params, buffers, macs, scores


def window_explain(call: Call, geo: Geometry, heads: int, kv_heads: int, hd: int, table: bool, params, macs) -> list[str]:
    s, lead = geo.size, ((geo.n,) if geo.n != 1 else ())
    if geo.grid:
        lines = [f"grid {s}×{s}: each group is {s}×{s} tokens strided by {geo.h // s}×{geo.w // s}; "
                 f"{geo.groups} groups of L = {s}² = {geo.length} tokens"]
    else:
        pad = f" (padded to {geo.ph}×{geo.pw})" if (geo.ph, geo.pw) != (geo.h, geo.w) else ""
        lines = [f"window {s}×{s} on {geo.h}×{geo.w}{pad}: {geo.groups} windows of L = {s}² = {geo.length} tokens"]
        if any(geo.shift):
            lines.append(f"shift {geo.shift[0]}×{geo.shift[1]}: the map is rolled first and the mask built in forward (no buffer)")
    lines.append(f"head_dim = {hd}; scores per group: H×L×L = {heads}×{geo.length}×{geo.length}")
    bq, bk, bv, bo = biases(call)
    q, k, c = heads * hd, kv_heads * hd, geo.c
    text = f"params = {product(c, q)} (q) + {product(2, c, k)} (k, v) + {product(q, c)} (o)"
    nbias = q * bq + k * bk + k * bv + c * bo
    if nbias:
        text += f" + {nbias} (biases)"
    if table:
        text += f" + {product((2 * s - 1) ** 2, heads)} (relative position table (2·{s}−1)²×H)"
    lines.append(f"{text} = {num(params)}")
    if table:
        lines.append(f"buffers = L·L = {geo.length}·{geo.length} = {num(geo.length * geo.length)} (relative position index)")
    tok = product(*lead, geo.ph, geo.pw)
    lines.append(
        f"MACs = {tok}·{product(c, q)} (q) + {tok}·{product(2, c, k)} (k, v) + "
        f"{product(2, *lead, geo.groups, heads, geo.length, geo.length, hd)} (QKᵀ, AV) + {tok}·{product(q, c)} (o) = {num(macs)}"
    )
    return lines


def window_saved(call: Call, geo: Geometry, heads: int, hd: int, table: bool) -> Saved:
    """What the twin keeps (as saved_tensors_hooks sees it): the grouped tokens (a copy, unless the
    grouping is a view of the input) and the attention's tensors — with the bias table (a mask that
    needs a gradient) the math kernel's q, kᵀ, v, softmax and context; otherwise the fused
    kernel's q, k, v, output and log-sum-exp, plus with a shift the windows' masks and the output
    regrouped for the o projection."""
    s, groups, length = geo.size, geo.groups, geo.length
    padded = (geo.ph, geo.pw) != (geo.h, geo.w)
    view = (geo.ph == s and geo.pw == s) if geo.grid else (not padded and not any(geo.shift) and geo.pw == s)
    dropout = call.args.dropout
    if table:
        floats = math_saved(geo.n * groups, heads, length, length, hd, dropout)
    else:
        floats = attention_saved(geo.n * groups, heads, length, length, hd, dropout)
        if any(geo.shift):
            floats += groups * heads * length * length + geo.n * groups * length * heads * hd
    if not view:
        floats += geo.tokens * geo.c
    return Saved(input=view, floats=floats)
