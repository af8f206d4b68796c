"""Multiscale vision transformers (MViT v1 and v2, torchvision's video MViT): ``poolattention``,
``tokenpool`` and ``posemb3d``, on a sequence of a class token and a T×H×W grid of tokens,
N × (1 + T·H·W) × C.

A sequence does not carry its grid, so each of these layers is told it (``thw=TxHxW``, checked
against the length: E0480), and says in its row what grid it leaves for the next one. The class
token is kept out of every pooling and put back in front, as torchvision does.
"""

from __future__ import annotations

from ..memory import INDEX_BYTES, STAT_BYTES, Saved
from ..registry import Arg, Call, Inference, Kind, num, product, register
from ..symbolic import Dim
from ..tensor import format_shape
from ..twinspec import Twin
from ._common import check_pool_padding, affine_tensors, linear_tensors, window_out
from .attention import check_sequence, split_heads

THW = Arg("thw", "shape", min=1, aliases=("grid", "input_size"),
          doc="the T×H×W grid of the tokens after the class token: L = 1 + T·H·W")


def _fmt(values) -> str:
    return "x".join(str(v) for v in values)


def token_grid(call: Call) -> tuple[Dim, int, int, tuple[int, int, int]]:
    """(N, L, C, (T, H, W)) of an N×(1 + T·H·W)×C float sequence, or a located error."""
    n, length, dim = check_sequence(call, call.x, "the tokens")
    grid = call.args.thw
    if len(grid) != 3:
        call.bad_arg("thw", f"thw is the T×H×W grid of the tokens, found {len(grid)} sizes", expected="three sizes, e.g. thw=8x56x56")
    t, h, w = grid
    length = call.concrete(length, "the token grid")
    if length != 1 + t * h * w:
        call.fail(
            f"the sequence of {length} tokens is not a class token and a {_fmt(grid)} grid",
            arg="thw",
            expected=f"L = 1 + T·H·W = 1 + {t}·{h}·{w} = {1 + t * h * w}",
            found=f"L = {length} in input {format_shape(call.x.shape)}",
            hint="thw is the grid of this layer's input: the previous pooling layer's row shows the grid it leaves",
            code="E0480",
        )
    return n, length, dim, (t, h, w)


def pooled(call: Call, grid, kernel, stride, padding, arg: str, mode: str = "conv") -> tuple[int, int, int]:
    """The grid a 3-D window leaves (PyTorch's floor rule; E0405 where it does not fit). An
    average pool also needs the grid itself at least as large as the window (avg_pool3d's check)."""
    if mode == "avg" and any(g < k for g, k in zip(grid, kernel)):
        call.fail(
            f"the {_fmt(kernel)} window is larger than the {_fmt(grid)} grid, which avg_pool3d refuses (padding aside)",
            arg=arg,
            expected=f"kernel at most the grid {_fmt(grid)} on every axis",
            found=f"{arg}={_fmt(kernel)}",
            hint="use a smaller kernel along the short axes",
            code="E0405",
        )
    return tuple(window_out(call, g, k, s, p, 1, axis=axis, ceil_mode=False)
                 for g, k, s, p, axis in zip(grid, kernel, stride, padding, ("T", "H", "W")))


def _pools(kernel, stride) -> bool:
    """torchvision pools q (or k and v) when a kernel or a stride is more than 1."""
    return any(k > 1 for k in kernel) or any(s > 1 for s in stride)


def _half(kernel) -> tuple:
    return tuple(k // 2 for k in kernel)


@register
class PoolAttention(Kind):
    name = "poolattention"
    aliases = ("pool_attention", "multiscaleattention", "mvitattention")
    family = "attention"
    ndim = 3  # the windows are T×H×W
    doc = ("MViT's multiscale attention on a class token and a T×H×W token grid: q, k and v pooled on the grid "
           "(a depthwise conv3d or a max/avg pool, then LayerNorm per head), v2's decomposed relative positions "
           "and residual pooling.")
    torch_twin = "nnshape.twins.PoolAttention"
    args = (
        Arg("num_heads", "int", positional=True, min=1, aliases=("heads", "h"), doc="attention heads; must divide dim_out"),
        THW,
        Arg("dim_out", "int", None, min=1, aliases=("output_dim", "out"), doc="the width of q, k, v and the output (default C)"),
        Arg("kernel_q", "size", 1, min=1, aliases=("kq",), doc="the window pooling q (padding kernel // 2)"),
        Arg("stride_q", "size", 1, min=1, aliases=("sq",), doc="the stride pooling q: the grid this layer leaves"),
        Arg("kernel_kv", "size", 1, min=1, aliases=("kkv",), doc="the window pooling k and v"),
        Arg("stride_kv", "size", 1, min=1, aliases=("skv",), doc="the stride pooling k and v"),
        Arg("pool", "str", "conv", choices=("conv", "max", "avg"), aliases=("pool_mode", "mode"),
            doc="conv: a depthwise conv3d without bias (torchvision); max or avg: a parameter-free pool"),
        Arg("rel_pos", "bool", False, aliases=("rel_pos_embed",), doc="MViT v2's decomposed relative position bias (tables per axis)"),
        Arg("residual_pool", "bool", False, doc="MViT v2: the pooled q added to the attention's output"),
        Arg("residual_cls", "bool", True, aliases=("residual_with_cls_embed",), doc="residual pooling adds the class token's q too"),
        Arg("eps", "float", 1e-5, min=0, doc="the eps of the pooling LayerNorms"),
        Arg("dropout", "float", 0.0, min=0, max=1, doc="dropout after the output projection (training only)"),
    )
    formulas = (
        "input N × (1 + T·H·W) × C; output N × Lq × D, Lq = 1 + Tq·Hq·Wq (the grid pooled by kernel_q/stride_q)",
        "hd = D / heads; k, v: Lk = 1 + Tk·Hk·Wk (pooled by kernel_kv/stride_kv); padding = kernel // 2",
        "params = C·3D + 3D (qkv) + D·D + D (project) + per pooled q, k, v: hd·∏kernel (conv) + 2·hd (LayerNorm) "
        "+ rel_pos: (2·Sr + Tr)·hd, Sr = 2·max(S // sq_H, S // skv_H) − 1, S = max(H, W), Tr = 2·T − 1",
        "MACs = N·L·C·3D + N·heads·hd·(∏kernel_q·Tq·Hq·Wq + 2·∏kernel_kv·Tk·Hk·Wk) (conv pooling) + 2·N·heads·Lq·Lk·hd "
        "+ rel_pos: N·heads·Tq·Hq·Wq·hd·(Hk + Wk + Tk) + N·Lq·D·D",
    )
    examples = (
        "65x16 | poolattention 2 thw=4x4x4 kernel_kv=3 stride_kv=1x2x2",
        "65x16 | poolattention 2 thw=4x4x4 dim_out=32 kernel_q=3 stride_q=1x2x2 kernel_kv=3 stride_kv=2",
        "73x24 | poolattention 3 thw=2x6x6 kernel_q=3 stride_q=1x2x2 kernel_kv=3 stride_kv=1x2x2 rel_pos=true "
        "residual_pool=true residual_cls=false eps=1e-6",
        "106x16 | poolattention 2 thw=3x5x7 kernel_q=3 kernel_kv=3 stride_kv=1x2x3 rel_pos=true residual_pool=true",
        "33x8 | poolattention 1 thw=2x4x4 kernel_kv=1x3x3 stride_kv=1x2x2 pool='max' dropout=0.1",
        "97x8 | poolattention 2 thw=3x4x8 kernel_q=3 stride_q=2 kernel_kv=3 stride_kv=2 pool='avg' residual_pool=true",
        "19x8 | poolattention 2 thw=2x3x3",
    )

    def geometry(self, call: Call):
        """(n, length, dim, dim_out, heads, hd, grid, q_grid, k_grid)."""
        a = call.args
        n, length, dim, grid = token_grid(call)
        dim_out = a.dim_out if a.dim_out is not None else dim
        heads = a.num_heads
        hd = split_heads(call, dim_out, heads)
        q_grid = pooled(call, grid, a.kernel_q, a.stride_q, _half(a.kernel_q), "kernel_q", a.pool) if _pools(a.kernel_q, a.stride_q) else grid
        k_grid = pooled(call, grid, a.kernel_kv, a.stride_kv, _half(a.kernel_kv), "kernel_kv", a.pool) if _pools(a.kernel_kv, a.stride_kv) else grid
        return n, length, dim, dim_out, heads, hd, grid, q_grid, k_grid

    def tables(self, call: Call, grid) -> tuple[int, int]:
        """(spatial, temporal) rows of the relative position tables, as torchvision sizes them."""
        a = call.args
        size = max(grid[1:])
        q_size, kv_size = size // a.stride_q[1], size // a.stride_kv[1]
        if max(q_size, kv_size) < 1:
            call.fail(
                "the relative position tables would be empty: the H stride is larger than the grid",
                arg="rel_pos",
                expected=f"stride_q or stride_kv along H at most max(H, W) = {size}",
                found=f"stride_q={_fmt(a.stride_q)} stride_kv={_fmt(a.stride_kv)} on a {_fmt(grid)} grid",
                hint="torchvision sizes the tables 2·max(S // stride_q[H], S // stride_kv[H]) − 1, S = max(H, W)",
                code="E0481",
            )
        return 2 * max(q_size, kv_size) - 1, 2 * grid[0] - 1

    def counts(self, call: Call):
        """(params, MACs, q_grid, k_grid, geometry) of this call."""
        a = call.args
        n, length, dim, dim_out, heads, hd, grid, q_grid, k_grid = g = self.geometry(call)
        lq, lk = 1 + _volume(q_grid), 1 + _volume(k_grid)
        params: Dim = dim * 3 * dim_out + 3 * dim_out + dim_out * dim_out + dim_out
        macs: Dim = n * length * dim * 3 * dim_out + 2 * n * heads * lq * lk * hd + n * lq * dim_out * dim_out
        for kernel, stride, out_grid, copies in ((a.kernel_q, a.stride_q, q_grid, 1), (a.kernel_kv, a.stride_kv, k_grid, 2)):
            if _pools(kernel, stride):
                params += copies * (2 * hd + (hd * _volume(kernel) if a.pool == "conv" else 0))
                if a.pool == "conv":
                    macs += copies * n * heads * hd * _volume(kernel) * _volume(out_grid)
        if a.rel_pos:
            spatial, temporal = self.tables(call, grid)
            params += (2 * spatial + temporal) * hd
            macs += n * heads * _volume(q_grid) * hd * (k_grid[1] + k_grid[2] + k_grid[0])
        return params, macs, g

    def infer(self, call: Call) -> Inference:
        a = call.args
        params, macs, (n, _, _, dim_out, heads, hd, grid, q_grid, k_grid) = self.counts(call)
        lq, lk = 1 + _volume(q_grid), 1 + _volume(k_grid)
        details = [("heads", f"{heads}×{hd}"), ("grid", f"{_fmt(grid)} → {_fmt(q_grid)}")]
        if k_grid != grid:
            details.append(("kv grid", _fmt(k_grid)))
        if a.rel_pos:
            spatial, temporal = self.tables(call, grid)
            details.append(("rel_pos", f"h, w {spatial}×{hd}; t {temporal}×{hd}"))
        details.append(("scores", format_shape((n, heads, lq, lk))))
        return Inference((n, lq, dim_out), params=params, macs=macs, details=tuple(details), scores=n * heads * lq * lk)

    def elementwise_flops(self, call: Call, result: Inference) -> Dim:
        """DeepSpeed's rules on what runs: the softmax (one per score), each pooling LayerNorm
        (5 per element), a max/avg pool (one per input element) and, with rel_pos, a table
        stretched by linear interpolation (one per output element)."""
        a = call.args
        n, _, _, _, heads, hd, grid, q_grid, k_grid = self.geometry(call)
        total: Dim = result.scores
        for kernel, stride, out_grid, copies in ((a.kernel_q, a.stride_q, q_grid, 1), (a.kernel_kv, a.stride_kv, k_grid, 2)):
            if _pools(kernel, stride):
                total += copies * 5 * n * heads * (1 + _volume(out_grid)) * hd
                if a.pool != "conv":
                    total += copies * n * heads * hd * _volume(grid)
        if a.rel_pos:
            spatial, temporal = self.tables(call, grid)
            for rows, nq, nk in ((spatial, q_grid[1], k_grid[1]), (spatial, q_grid[2], k_grid[2]), (temporal, q_grid[0], k_grid[0])):
                if rows != 2 * max(nq, nk) - 1:
                    total += (2 * max(nq, nk) - 1) * hd
        return total

    def explain(self, call: Call, result: Inference) -> list[str]:
        a = call.args
        n, length, dim, dim_out, heads, hd, grid, q_grid, k_grid = self.geometry(call)
        lq, lk = 1 + _volume(q_grid), 1 + _volume(k_grid)
        ld = (n,) if n != 1 else ()
        lines = [
            f"head_dim = D / heads = {dim_out} / {heads} = {hd}",
            f"q grid {_fmt(grid)} → {_fmt(q_grid)} (Lq = 1 + {_volume(q_grid)} = {lq}); "
            f"k, v grid {_fmt(grid)} → {_fmt(k_grid)} (Lk = 1 + {_volume(k_grid)} = {lk}); the class token is not pooled",
            f"scores = softmax(q·kᵀ/√{hd}{' + rel_pos bias' if a.rel_pos else ''}): N×heads×Lq×Lk = {format_shape((n, heads, lq, lk))}",
        ]
        if a.residual_pool:
            lines.append("output += pooled q" + ("" if a.residual_cls else " (grid tokens only)"))
        terms = [f"{product(dim, 3 * dim_out)} + {3 * dim_out} (qkv)", f"{product(dim_out, dim_out)} + {dim_out} (project)"]
        for name, kernel, stride, copies in (("q", a.kernel_q, a.stride_q, 1), ("k, v", a.kernel_kv, a.stride_kv, 2)):
            if _pools(kernel, stride):
                each = f"{product(hd, _volume(kernel))} + {2 * hd}" if a.pool == "conv" else f"{2 * hd}"
                terms.append(f"{copies}·({each}) (pool {name})" if copies > 1 else f"{each} (pool {name})")
        if a.rel_pos:
            spatial, temporal = self.tables(call, grid)
            terms.append(f"(2·{spatial} + {temporal})·{hd} (rel_pos tables)")
        lines.append(f"params = {' + '.join(terms)} = {num(result.params)}")
        parts = [f"{product(*ld, length, dim, 3 * dim_out)} (qkv)", f"{product(2, *ld, heads, lq, lk, hd)} (q·kᵀ, ·v)"]
        if a.pool == "conv":
            if _pools(a.kernel_q, a.stride_q):
                parts.append(f"{product(*ld, heads, hd, _volume(a.kernel_q), _volume(q_grid))} (pool q)")
            if _pools(a.kernel_kv, a.stride_kv):
                parts.append(f"{product(2, *ld, heads, hd, _volume(a.kernel_kv), _volume(k_grid))} (pool k, v)")
        if a.rel_pos:
            parts.append(f"{product(*ld, heads, _volume(q_grid), hd, k_grid[0] + k_grid[1] + k_grid[2])} (rel_pos)")
        parts.append(f"{product(*ld, lq, dim_out, dim_out)} (project)")
        lines.append(f"MACs = {' + '.join(parts)} = {num(result.macs)}")
        return lines

    def twin(self, call: Call) -> Twin:
        a = call.args
        _, _, dim, dim_out, heads, _, grid, _, _ = self.geometry(call)
        return Twin.own(
            "PoolAttention", dim=dim, dim_out=dim_out, heads=heads, grid=grid, kernel_q=a.kernel_q, stride_q=a.stride_q,
            kernel_kv=a.kernel_kv, stride_kv=a.stride_kv, pool=a.pool, rel_pos=a.rel_pos, residual_pool=a.residual_pool,
            residual_cls=a.residual_cls, eps=a.eps, dropout=a.dropout,
        )

    def param_tensors(self, call: Call):
        """The twin's tensors in named_parameters() order: the rel_pos tables (its own), qkv,
        project, then the pools of q, k and v (conv weight, LayerNorm weight and bias)."""
        a = call.args
        _, _, dim, dim_out, _, hd, grid, _, _ = self.geometry(call)
        out = ()
        if a.rel_pos:
            spatial, temporal = self.tables(call, grid)
            out += (("rel_pos_h", (spatial, hd)), ("rel_pos_w", (spatial, hd)), ("rel_pos_t", (temporal, hd)))
        out += linear_tensors("qkv.", 3 * dim_out, dim, True) + linear_tensors("project.", dim_out, dim_out, True)
        for name, kernel, stride in (("q", a.kernel_q, a.stride_q), ("k", a.kernel_kv, a.stride_kv), ("v", a.kernel_kv, a.stride_kv)):
            if _pools(kernel, stride):
                if a.pool == "conv":
                    out += ((f"pool_{name}.pool.weight", (hd, 1) + tuple(kernel)),)
                out += affine_tensors(f"pool_{name}.norm.", (hd,))
        return out

    def saved(self, call: Call, result: Inference) -> Saved:
        return _attention_saved(self, call)


def _volume(values) -> int:
    out = 1
    for v in values:
        out *= v
    return out


def _attention_saved(kind: PoolAttention, call: Call) -> Saved:
    """What torch keeps for the backward of the twin (and of torchvision's MultiscaleAttention,
    the same ops): the input (qkv); per pooled q, k, v the grid copy the pool reads, the
    LayerNorm's input (the class token and the pooled grid) and its mean and rstd (a max pool its
    int64 indices too); the scaled q, k and v the two products read, the softmax; the heads
    joined again for the projection (and dropout's mask). rel_pos: each axis's int64 offsets and
    rows, and three reordered copies of the grid queries (two einsums and the time matmul)."""
    a = call.args
    n, _, _, dim_out, heads, hd, grid, q_grid, k_grid = kind.geometry(call)
    groups = n * heads
    lq, lk = 1 + _volume(q_grid), 1 + _volume(k_grid)
    floats: Dim = groups * lq * hd + 2 * groups * lk * hd + groups * lq * lk + n * lq * dim_out
    if a.dropout > 0:
        floats += n * lq * dim_out  # dropout's scaled noise (CPU)
    fixed: Dim = 0
    for kernel, stride, out_grid, copies in ((a.kernel_q, a.stride_q, q_grid, 1), (a.kernel_kv, a.stride_kv, k_grid, 2)):
        if _pools(kernel, stride):
            floats += copies * groups * hd * (_volume(grid) + 1 + _volume(out_grid))
            fixed += copies * groups * (1 + _volume(out_grid)) * 2 * STAT_BYTES
            if a.pool == "max":
                fixed += copies * INDEX_BYTES * groups * hd * _volume(out_grid)
    if a.rel_pos:
        pairs = sum(q * k for q, k in zip(q_grid, k_grid))
        floats += hd * pairs + 3 * groups * _volume(q_grid) * hd
        fixed += INDEX_BYTES * pairs
    return Saved(input=True, floats=floats, fixed=fixed)


@register
class TokenPool(Kind):
    name = "tokenpool"
    aliases = ("token_pool", "pool_skip", "gridpool")
    family = "pooling"
    ndim = 3
    doc = ("Max or average pooling of the T×H×W grid of an N×(1 + T·H·W)×C token sequence, the class token kept "
           "(MViT's pooled skip connection).")
    torch_twin = "nnshape.twins.TokenPool"
    args = (
        Arg("kernel_size", "size", positional=True, min=1, aliases=("k", "kernel"), doc="T×H×W window, int or per-axis"),
        Arg("stride", "size", None, min=1, aliases=("s",), doc="default: kernel_size (as in PyTorch)"),
        Arg("padding", "size", 0, min=0, aliases=("p", "pad"), doc="implicit padding per side; at most kernel_size // 2"),
        THW,
        Arg("mode", "str", "max", choices=("max", "avg"), doc="max (torchvision's MViT) or avg"),
    )
    formulas = (
        "input N × (1 + T·H·W) × C; output N × (1 + T'·H'·W') × C, T' = ⌊(T + 2P − K)/S⌋ + 1 (each axis)",
        "params = 0",
        "MACs = 0",
    )
    examples = (
        "65x8 | tokenpool 1x3x3 s=1x2x2 p=0x1x1 thw=4x4x4",
        "97x6 | tokenpool 3 s=2 p=1 thw=3x4x8 mode='avg'",
        "19x4 | pool_skip 1 thw=2x3x3",
    )

    def geometry(self, call: Call):
        """(n, c, grid, out_grid, kernel, stride, padding)."""
        a = call.args
        n, _, c, grid = token_grid(call)
        k, p = a.kernel_size, a.padding
        s = a.stride if a.stride is not None else k
        check_pool_padding(call, k, p)
        return n, c, grid, pooled(call, grid, k, s, p, "kernel_size", a.mode), k, s, p

    def infer(self, call: Call) -> Inference:
        n, c, grid, out_grid, k, s, p = self.geometry(call)
        details = (("kernel", _fmt(k)), ("stride", _fmt(s)), ("padding", _fmt(p)), ("grid", f"{_fmt(grid)} → {_fmt(out_grid)}"))
        return Inference((n, 1 + _volume(out_grid), c), details=details)

    def elementwise_flops(self, call: Call, result: Inference) -> Dim:
        """DeepSpeed's pooling: one FLOP per pooled input element (the grid tokens)."""
        n, c, grid = call.x.shape[0], call.x.shape[2], call.args.thw
        return n * c * _volume(grid)

    def explain(self, call: Call, result: Inference) -> list[str]:
        n, c, grid, out_grid, k, s, p = self.geometry(call)
        lines = [f"{axis}' = ⌊({g} + 2·{pp} − {kk}) / {ss}⌋ + 1 = {o}"
                 for axis, g, kk, ss, pp, o in zip("THW", grid, k, s, p, out_grid)]
        lines.append(f"tokens: 1 (class, not pooled) + {_volume(out_grid)} = {1 + _volume(out_grid)}; "
                     f"each the {'maximum' if call.args.mode == 'max' else 'mean'} of a {_fmt(k)} window per channel")
        return lines + ["params = 0", "MACs = 0"]

    def twin(self, call: Call) -> Twin:
        _, _, grid, _, k, s, p = self.geometry(call)
        return Twin.own("TokenPool", grid=grid, kernel=k, stride=s, padding=p, mode=call.args.mode)

    def saved(self, call: Call, result: Inference) -> Saved:
        """The grid tokens copied channels-first for the pool, which keeps them (a max pool its
        int64 indices too); the concatenation with the class token keeps nothing."""
        n, c, grid, out_grid, *_ = self.geometry(call)
        fixed = INDEX_BYTES * n * c * _volume(out_grid) if call.args.mode == "max" else 0
        return Saved(floats=n * c * _volume(grid), fixed=fixed)


@register
class PosEmb3d(Kind):
    name = "posemb3d"
    aliases = ("spacetime_posemb", "separable_posemb")
    family = "sequence"
    doc = ("Adds MViT v1's learned separable positions to a class token and a T×H×W grid: an H·W×D spatial table "
           "repeated over time, a T×D temporal table repeated over space, and the class token's own row.")
    torch_twin = "nnshape.twins.SpaceTimePositions"
    args = (THW,)
    formulas = ("output shape = input shape (N × (1 + T·H·W) × D)", "params = (H·W + T + 1)·D", "MACs = 0")
    examples = ("65x8 | posemb3d thw=4x4x4", "31x6 | posemb3d thw=3x2x5")
    saves = "nothing"
    elementwise_per_element = 1  # the positions are added (--count-elementwise), as posemb

    def infer(self, call: Call) -> Inference:
        _, _, dim, (t, h, w) = token_grid(call)
        return Inference(call.x.shape, params=(h * w + t + 1) * dim, details=(("grid", _fmt((t, h, w))),))

    def twin(self, call: Call) -> Twin:
        return Twin.own("SpaceTimePositions", grid=tuple(call.args.thw), dim=call.x.shape[2])

    def param_tensors(self, call: Call):
        t, h, w = call.args.thw
        dim = call.x.shape[2]
        return (("spatial", (h * w, dim)), ("temporal", (t, dim)), ("cls", (dim,)))
