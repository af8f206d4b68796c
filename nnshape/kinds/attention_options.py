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
Swin V2 (torchvision's ShiftedWindowAttentionV2): ``cosine=true`` scores cos(q, k) times a learned
per-head scale (H parameters; the k bias, when there is one, is a parameter forward leaves out);
``cpb=HIDDEN`` computes the bias of a 2-D window with a 2 → HIDDEN → H MLP over a buffer of the
∏(2·w − 1) log-spaced offsets × 2, once per forward: ∏(2·w − 1)·(2 + H)·HIDDEN MACs, whatever the batch.
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
    value = call.args.as_dict().get(arg)
    if isinstance(value, tuple):  # window=/shift= as written: 3, 4x3x3
        value = "x".join(map(str, value))
    call.fail(message, arg=arg, expected=expected, found=f"{arg}={value}", code="E0342")


def cpb_width(call: Call) -> int:
    """The hidden width of Swin V2's continuous position bias MLP (0: none)."""
    return call.args.cpb or 0


def check_v2(call: Call, windowed: bool) -> None:
    """Swin V2's options: window/grid attention only; the MLP replaces the table, reads 2-D offsets
    (a 3-D window has no such MLP in torchvision) and scales them by w − 1, so every axis needs w ≥ 2
    (torchvision divides by zero)."""
    a = call.args
    for key in ("cosine", "cpb"):
        if getattr(a, key) and not windowed:
            conflict(call, key, f"{key}= is an option of Swin V2's window attention", f"window=S (or grid=S) with {key}=")
    if not a.cpb:
        return
    if a.rel_pos is True:
        conflict(call, "cpb", "cpb= computes the window's position bias with an MLP; rel_pos=true is a learned table: give one",
                 "cpb=HIDDEN (Swin V2) or rel_pos=true (Swin V1, MaxViT)")
    window = (a.grid, a.grid) if a.window is None else window_of(call)
    if len(window) != 2:
        conflict(call, "cpb", f"cpb= is Swin V2's bias of a 2-D window; the window {_x(window)} has 3 axes",
                 "cpb= with window=S or window=HxW (or rel_pos=true for a 3-D window)")
    if min(window) < 2:
        call.bad_arg("cpb", f"cpb= scales the window's offsets by its size − 1: the {_x(window)} window has an axis of 1",
                     expected="every axis of the window ≥ 2 with cpb=")


def check_options(call: Call) -> bool:
    """Located errors for options that do not go together; True for window/grid attention."""
    a = call.args
    if a.window is not None and a.grid is not None:
        conflict(call, "grid", "window= and grid= are two kinds of attention: give one", "window=S (Swin) or grid=S (MaxViT)")
    windowed = a.window is not None or a.grid is not None
    if any(a.shift) and a.window is None:
        conflict(call, "shift", "shift rolls the windows of window attention", "window=S together with shift")
    if windowed:
        given = {"kv": a.kv is not None, "cache": a.cache is not None, "causal": a.causal, "rope": a.rope}
        for key, why in (("kv", "cross-attention"), ("cache", "a decode step"), ("causal", "a causal mask"), ("rope", "rotary positions")):
            if given[key]:
                conflict(call, key, f"window and grid attention attend within groups of the map: {why} does not apply",
                         f"{key} without window=/grid= (or window/grid without {key})")
        if a.window is not None:
            window = window_of(call)
            shift = shift_of(call, window)
            if not all(0 <= s < w for s, w in zip(shift, window)):
                call.bad_arg("shift", "the shift moves the map by less than a window along each axis",
                             expected=f"0 ≤ shift < window = {_x(window)} on each axis")
    else:
        check_cache(call)
    check_v2(call, windowed)
    return windowed


def _x(sizes) -> str:
    return "×".join(map(str, sizes))


def window_of(call: Call) -> tuple[int, ...]:
    """The window as (H, W) or (T, H, W): ``window=7`` is 7×7, ``window=7x5`` and ``window=8x7x7``
    give each axis; the rank of the tuple says 2-D (torchvision's Swin) or 3-D (Video Swin)."""
    raw = call.args.window
    if len(raw) not in (1, 2, 3):
        call.bad_arg("window", f"a window has 2 or 3 axes, found {len(raw)}",
                     expected="window=S (S×S), window=HxW or window=TxHxW")
    sizes = tuple(call.concrete(v, "the window size") for v in raw)
    return sizes * 2 if len(sizes) == 1 else sizes


def shift_of(call: Call, window: tuple[int, ...]) -> tuple[int, ...]:
    """The shift per axis of the window: one number for every axis, or one per axis."""
    raw = call.args.shift
    if len(raw) not in (1, len(window)):
        call.bad_arg("shift", f"the shift has {len(raw)} axes, the window {len(window)}",
                     expected=f"shift=K (every axis) or {len(window)} numbers like the window ({_x(window)})")
    sizes = tuple(call.concrete(v, "the shift") for v in raw)
    return sizes * len(window) if len(sizes) == 1 else sizes


def _prod(values) -> int:
    out = 1
    for v in values:
        out *= v
    return out


class Geometry:
    """How window/grid attention groups an N×H×W×C map, or an N×T×H×W×C map for a 3-D window.

    ``window`` is the configured window (it sizes the table and the index buffer); ``win`` the one
    used on this map: a 2-D window pads the map to a multiple of itself and drops the shift along
    an axis it covers whole (torchvision's Swin); a 3-D window along an axis no longer than itself
    shrinks to the map and drops the shift there, then pads (torchvision's Video Swin)."""

    def __init__(self, call: Call):
        a = call.args
        self.grid = a.grid is not None
        window = (a.grid, a.grid) if self.grid else window_of(call)
        rank = len(window)
        if call.x.rank != rank + 2:
            layout = "N×H×W×C" if rank == 2 else "N×T×H×W×C"
            call.fail(
                f"window and grid attention read an {layout} map, found a {call.x.rank}-D tensor" if rank == 2
                else f"a 3-D window ({_x(window)}) reads an {layout} map, found a {call.x.rank}-D tensor",
                arg=None if rank == 2 else "window",
                expected=f"shape {layout} (channels last, as torchvision's Swin keeps them)",
                found=format_shape(call.x.shape),
                hint="`permute 0 2 3 1` turns N×C×H×W into N×H×W×C" if rank == 2
                else "`permute 0 2 3 4 1` turns N×C×T×H×W into N×T×H×W×C",
                code="E0402",
            )
        n, *dims, c = call.x.shape
        names = ("the map's height H", "the map's width W") if rank == 2 else (
            "the map's frames T", "the map's height H", "the map's width W")
        self.n = n
        self.dims = tuple(call.concrete(d, what) for d, what in zip(dims, names))
        self.c = call.concrete(c, "the channels C")
        self.window = window
        if self.grid:
            s = a.grid
            h, w = self.dims
            if h % s or w % s:
                call.fail(
                    f"grid={s} does not divide the {h}×{w} map",
                    arg="grid",
                    expected=f"H and W multiples of {s} (grid attention strides H/{s} and W/{s}; torchvision's MaxViT pads nothing)",
                    found=f"{h}×{w} in {format_shape(call.x.shape)}",
                    hint=f"resize or pad the map to {-(-h // s) * s}×{-(-w // s) * s} first, or use window={s}",
                    code="E0440",
                )
            self.win, self.padded, self.shift = window, self.dims, (0, 0)
        else:
            shift = shift_of(call, window)
            if rank == 3:  # Video Swin: an axis the window covers whole takes the map's size, unshifted
                self.win = tuple(min(w, d) for w, d in zip(window, self.dims))
                shift = tuple(0 if d <= w else s for s, w, d in zip(shift, window, self.dims))
            else:
                self.win = window
            self.padded = tuple(-(-d // w) * w for d, w in zip(self.dims, self.win))
            if rank == 2:  # Swin: no shift along an axis one window covers
                shift = tuple(s if w < p else 0 for s, w, p in zip(shift, self.win, self.padded))
            self.shift = shift
        self.groups = _prod(p // w for p, w in zip(self.padded, self.win))
        self.length = _prod(self.win)
        self.table = _prod(2 * w - 1 for w in self.window)  # rows of the relative position table
        self.index = _prod(self.window) ** 2  # the index buffer, of the configured window

    @property
    def tokens(self) -> Dim:
        return self.n * _prod(self.padded)

    @property
    def square(self) -> int | None:
        """S of a square 2-D window or grid, else None (the explanation then names every axis)."""
        return self.window[0] if len(self.window) == 2 and self.window[0] == self.window[1] else None

    @property
    def clipped(self) -> bool:
        return self.win != self.window

    def details(self) -> list[tuple[str, str]]:
        if self.grid:
            s, (h, w) = self.window[0], self.dims
            return [("grid", f"{s}×{s}, stride {h // s}×{w // s}")]
        text = _x(self.win) + (f" (of {_x(self.window)})" if self.clipped else "")
        out = [("window", text + (f", shift {_x(self.shift)}" if any(self.shift) else ""))]
        if self.padded != self.dims:
            out.append(("padded", _x(self.padded)))
        return out


def window_counts(call: Call, geo: Geometry, heads: int, kv_heads: int, hd: int, table: bool):
    """(params, buffers, MACs, scores) of window/grid attention."""
    bq, bk, bv, bo = biases(call)
    q, k, c = heads * hd, kv_heads * hd, geo.c
    params = c * q + 2 * c * k + q * c + q * bq + k * bk + k * bv + c * bo
    buffers, hidden = 0, cpb_width(call)
    if table:
        params += geo.table * heads
    if table or hidden:
        buffers = geo.index
    if call.args.cosine:
        params += heads  # logit_scale, H × 1 × 1
    t = geo.tokens
    scores = geo.n * geo.groups * heads * geo.length * geo.length
    macs = t * c * q + 2 * t * c * k + 2 * scores * hd + t * q * c
    if hidden:  # Linear(2, hidden) + Linear(hidden, H, bias=False) over the offset table, once per forward
        params += 2 * hidden + hidden + hidden * heads
        buffers += geo.table * 2
        macs = macs + geo.table * (2 + heads) * hidden
    return params, buffers, macs, scores


def window_explain(call: Call, geo: Geometry, heads: int, kv_heads: int, hd: int, table: bool, params, macs) -> list[str]:
    s, lead = geo.square, ((geo.n,) if geo.n != 1 else ())
    size = f"{s}²" if s else "·".join(map(str, geo.win))
    if geo.grid:
        h, w = geo.dims
        lines = [f"grid {s}×{s}: each group is {s}×{s} tokens strided by {h // s}×{w // s}; "
                 f"{geo.groups} groups of L = {s}² = {geo.length} tokens"]
    else:
        pad = f" (padded to {_x(geo.padded)})" if geo.padded != geo.dims else ""
        win = _x(geo.win)
        if geo.clipped:
            win = f"{_x(geo.window)}, cut to {win} where the map is no longer than the window,"
        lines = [f"window {win} on {_x(geo.dims)}{pad}: {geo.groups} windows of L = {size} = {geo.length} tokens"]
        if any(geo.shift):
            lines.append(f"shift {_x(geo.shift)}: the map is rolled first and the mask built in forward (no buffer)")
    hidden, cosine = cpb_width(call), call.args.cosine
    rows = f"(2·{s}−1)²" if s else "".join(f"(2·{w}−1)" for w in geo.window)
    if cosine:
        lines.append(f"head_dim = {hd}; scores per group: H×L×L = {heads}×{geo.length}×{geo.length}, "
                     "cos(q, k) · exp(min(logit_scale, log 100)) (Swin V2's cosine attention, no 1/√d_k)")
    else:
        lines.append(f"head_dim = {hd}; scores per group: H×L×L = {heads}×{geo.length}×{geo.length}")
    if hidden:
        lines.append(f"position bias = 16·sigmoid(MLP 2 → {hidden} → H over the {_x(2 * w - 1 for w in geo.window)} "
                     "log-spaced offsets), gathered to H×L×L")
    bq, bk, bv, bo = biases(call)
    q, k, c = heads * hd, kv_heads * hd, geo.c
    text = f"params = {product(c, q)} (q) + {product(2, c, k)} (k, v) + {product(q, c)} (o)"
    nbias = q * bq + k * bk + k * bv + c * bo
    if nbias:
        text += f" + {nbias} (biases" + ("; forward leaves the k bias out" if cosine and bk else "") + ")"
    if table:
        text += f" + {product(geo.table, heads)} (relative position table {rows}×H)"
    if cosine:
        text += f" + {heads} (logit_scale H×1×1)"
    if hidden:
        text += f" + {product(3, hidden)} + {product(hidden, heads)} (CPB MLP 2→{hidden}→H)"
    lines.append(f"{text} = {num(params)}")
    if table or hidden:
        v = _prod(geo.window)
        if hidden:
            lines.append(f"buffers = L·L + {rows}·2 = {v}·{v} + {geo.table}·2 = {num(geo.index + 2 * geo.table)} "
                         "(relative position index, offset table)")
        else:
            lines.append(f"buffers = {v}·{v} = {num(geo.index)} (relative position index of the whole {_x(geo.window)} window)"
                         if geo.clipped else f"buffers = L·L = {v}·{v} = {num(geo.index)} (relative position index)")
    tok = product(*lead, *geo.padded)
    mlp = f" + {product(geo.table, 2 + heads, hidden)} (CPB MLP, once per forward)" if hidden else ""
    lines.append(
        f"MACs = {tok}·{product(c, q)} (q) + {tok}·{product(2, c, k)} (k, v) + "
        f"{product(2, *lead, geo.groups, heads, geo.length, geo.length, hd)} (QKᵀ, AV) + {tok}·{product(q, c)} (o){mlp} = {num(macs)}"
    )
    return lines


def grouping_is_a_view(geo: Geometry) -> bool:
    """Whether cutting the map into groups is a view of the input: no padding, no roll, and the
    permute that brings each group's tokens together keeps the order of the axes longer than 1."""
    if geo.grid:  # N, s, H/s, s, W/s, C -> N, H/s, W/s, s, s, C
        (h, w), s = geo.dims, geo.window[0]
        sizes, order = (s, h // s, s, w // s), (1, 3, 0, 2)
    else:  # N, T/t, t, H/h, h, W/w, w, C -> N, T/t, H/h, W/w, t, h, w, C
        if geo.padded != geo.dims or any(geo.shift):
            return False
        rank = len(geo.win)
        sizes = tuple(v for p, w in zip(geo.padded, geo.win) for v in (p // w, w))
        order = tuple(range(0, 2 * rank, 2)) + tuple(range(1, 2 * rank, 2))
    moved = [axis for axis in order if sizes[axis] != 1]
    return moved == sorted(moved)


def window_saved(call: Call, geo: Geometry, heads: int, hd: int, table: bool) -> Saved:
    """What the twin keeps (as saved_tensors_hooks sees it): the grouped tokens (a copy, unless the
    grouping is a view of the input) and the attention's tensors — with a learned bias (the table
    or the CPB MLP: a mask that needs a gradient) the math kernel's q, kᵀ, v, softmax and context;
    otherwise the fused kernel's q, k, v, output and log-sum-exp, plus with a shift the windows'
    masks and the output regrouped for the o projection. Cosine attention adds q and k as
    projected (k repeated to H heads), the unit q, their norms before and after the clamp, and the
    H scales; the CPB MLP its hidden activations (offsets × hidden) and the H×L×L sigmoid."""
    groups, length = geo.groups, geo.length
    view = grouping_is_a_view(geo)
    dropout, hidden = call.args.dropout, cpb_width(call)
    if table or hidden:
        floats = math_saved(geo.n * groups, heads, length, length, hd, dropout)
    else:
        floats = attention_saved(geo.n * groups, heads, length, length, hd, dropout)
        if any(geo.shift):
            floats += groups * heads * length * length + geo.n * groups * length * heads * hd
    if call.args.cosine:
        floats += 3 * geo.tokens * heads * hd + 4 * geo.n * groups * heads * length + heads
    if hidden:
        floats += geo.table * hidden + heads * length * length
    if not view:
        floats += geo.tokens * geo.c
    return Saved(input=view, floats=floats)
