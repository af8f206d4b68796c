"""Attention: ``mha`` (= nn.MultiheadAttention) and ``attention`` (separate q/k/v/o, grouped-query).

Both take N×Lq×D queries and, for cross-attention, a named N×Lk×Dkv tensor (``kv=NAME``).
MACs = the four projections + QKᵀ + AV, each N·H·Lq·Lk·hd, which is what FlopCounterMode counts
with the math attention kernel (a causal mask changes no count). Sequence lengths may be symbolic.
"""

from __future__ import annotations

from ..memory import Saved
from ..registry import Arg, Call, Inference, Kind, ParamTensor, num, product, register
from ..symbolic import Dim
from ..tensor import TensorInfo, format_shape
from ..twinspec import Twin
from ._common import linear_tensors
from .attention_options import (
    CACHE, Geometry, attention_saved, biases, check_cache, check_options, math_saved, rel_pos_buckets, shift_of,
    window_counts, window_explain, window_saved,
)


def check_sequence(call: Call, t: TensorInfo, what: str, arg: str | None = None) -> tuple[Dim, Dim, int]:
    """(N, L, D) of an N×L×D float tensor, D concrete, or a located error (the analyzer checks
    the main input's dtype; this also covers kv/memory)."""
    if t.rank != 3:
        call.fail(
            f"expects {what} as an N×L×D sequence, found a {t.rank}-D tensor",
            arg=arg,
            expected="shape N×L×D",
            found=format_shape(t.shape),
            hint="an image C×H×W becomes a sequence with `flatten 2` then `transpose 1 2`",
            code="E0402",
        )
    if not t.is_float:
        call.fail(
            f"expects float features for {what}, found {t.dtype}",
            arg=arg,
            expected="a float N×L×D sequence",
            found=f"{format_shape(t.shape)} {t.dtype}",
            hint="token ids go through `embedding NUM DIM` first",
            code="E0413",
        )
    n, length, dim = t.shape
    return n, length, call.concrete(dim, f"the feature size of {what}")


def split_heads(call: Call, dim: int, heads: int, arg: str = "num_heads") -> int:
    """D / heads, or an error when heads does not divide D."""
    if dim % heads:
        divisors = [h for h in range(1, min(dim, 64) + 1) if dim % h == 0]
        call.fail(
            f"embed_dim {dim} is not divisible by {arg}={heads}",
            arg=arg,
            expected=f"{arg} dividing {dim} (e.g. {', '.join(map(str, divisors[-4:]))})",
            found=f"{arg}={heads}",
            code="E0407",
        )
    return dim // heads


def mha_counts(n: Dim, lq: Dim, lk: Dim, dim: int, dkv: int, bias: bool) -> tuple[Dim, Dim]:
    """(params, MACs) of nn.MultiheadAttention(dim, heads, bias, kdim=vdim=dkv) without bias_k/v."""
    params = dim * dim + 2 * dim * dkv + dim * dim + (4 * dim if bias else 0)
    macs = n * lq * dim * dim + 2 * n * lk * dkv * dim + 2 * n * lq * lk * dim + n * lq * dim * dim
    return params, macs


def mha_tensors(prefix: str, dim: Dim, dkv: Dim, bias: bool, bias_kv: bool = False) -> tuple[ParamTensor, ...]:
    """nn.MultiheadAttention's tensors: one packed in-projection when k and v have the query's
    width (else q/k/v_proj_weight), in_proj_bias, bias_k/bias_v, then out_proj."""
    if dkv == dim:
        out: tuple[ParamTensor, ...] = ((prefix + "in_proj_weight", (3 * dim, dim)),)
    else:
        out = tuple((prefix + f"{p}_proj_weight", (dim, dim if p == "q" else dkv)) for p in "qkv")
    if bias:
        out += ((prefix + "in_proj_bias", (3 * dim,)),)
    if bias_kv:
        out += ((prefix + "bias_k", (1, 1, dim)), (prefix + "bias_v", (1, 1, dim)))
    return out + linear_tensors(prefix + "out_proj.", dim, dim, bias)


def scores_lines(n: Dim, heads: int, lq: Dim, lk: Dim, head_dim: int) -> list[str]:
    """The scaled dot product with its numbers: scale 1/√d_k and the N×H×Lq×Lk score shape."""
    return [
        f"d_k = head_dim = {head_dim}; scale = 1/√d_k = 1/√{head_dim} = {1 / head_dim ** 0.5:.6g}",
        f"scores = softmax(Q·Kᵀ · 1/√{head_dim}): N×H×Lq×Lk = {format_shape((n, heads, lq, lk))}"
        f" ({lq}×{lk} per head)",
        f"output = scores · V → N×H×Lq×d_k = {format_shape((n, heads, lq, head_dim))}, heads concatenated",
    ]


def _lead(n: Dim) -> tuple:
    return (n,) if n != 1 else ()


@register
class MultiheadAttention(Kind):
    name = "mha"
    aliases = ("multiheadattention", "multihead_attention")
    family = "attention"
    doc = "nn.MultiheadAttention on N×L×D (batch first): self-attention, or cross-attention with kv=NAME."
    torch_twin = "torch.nn.MultiheadAttention"
    args = (
        Arg("num_heads", "int", positional=True, min=1, aliases=("heads", "nhead", "h"), doc="attention heads; must divide D"),
        Arg("dropout", "float", 0.0, min=0, max=1, doc="dropout on the attention weights (training only)"),
        Arg("bias", "bool", True, doc="biases of the in and out projections"),
        Arg("add_bias_kv", "bool", False, doc="learned bias_k/bias_v appended to the keys/values (Lk + 1)"),
        Arg("add_zero_attn", "bool", False, doc="a zero key/value appended (Lk + 1)"),
        Arg("kdim", "int", None, min=1, doc="checked against the keys' last dim"),
        Arg("vdim", "int", None, min=1, doc="checked against the values' last dim"),
        Arg("kv", "tensor", None, aliases=("memory",), doc="named tensor for keys and values (cross-attention)"),
        Arg("causal", "bool", False, aliases=("is_causal",), doc="causal mask; no change in counts"),
        Arg("embed_dim", "int", None, min=1, aliases=("d_model",), doc="checked against the input's last dim"),
        Arg("batch_first", "bool", True, doc="nnshape sequences are N×L×D, so only true is supported"),
        CACHE,
    )
    formulas = (
        "output = N × Lq × D; scores N×H×Lq×Lk",
        "params = D·D + 2·D·Dkv (in_proj) + D·D (out_proj) + 4·D (bias) + 2·D (add_bias_kv)",
        "MACs = N·Lq·D·D + 2·N·Lk·Dkv·D (projections) + 2·N·H·Lq·Lk'·hd (QKᵀ, AV) + N·Lq·D·D (out), "
        "Lk' = Lk + add_bias_kv + add_zero_attn",
    )
    examples = (
        "10x16 | mha 4",
        "7x12 | mha heads=3 bias=false causal=true",
        "6x8 | mha 2 add_bias_kv=true add_zero_attn=true dropout=0.1 kdim=8 vdim=8",
        "input tgt 7x16\ninput src 10x16\nmha 4 kv=src",
        "input tgt 5x16\ninput src 9x6\nmha num_heads=2 kv=src kdim=6 vdim=6 causal=true",
        "1x16 | mha 4 causal=true cache=9",
        "3x12 | mha heads=3 bias=false cache=4",
    )

    def elementwise_flops(self, call: Call, result: Inference) -> Dim:
        """The softmax over the scores, one FLOP per score (DeepSpeed's softmax)."""
        return result.scores

    def infer(self, call: Call) -> Inference:
        a = call.args
        if not a.batch_first:
            call.bad_arg("batch_first", "only batch_first=true is supported: nnshape sequences are N×L×D", expected="true")
        n, lq, dim = check_sequence(call, call.x, "the query")
        if a.embed_dim is not None and a.embed_dim != dim:
            call.fail(
                f"embed_dim={a.embed_dim} does not match the query's last dim",
                arg="embed_dim",
                expected=f"embed_dim = {dim} (the last dim of {format_shape(call.x.shape)})",
                found=str(a.embed_dim),
                hint="embed_dim is inferred from the input; drop it",
                code="E0406",
            )
        kv = call.tensors.get("kv", call.x)
        _, lk, dkv = check_sequence(call, kv, "kv", arg="kv")
        for key in ("kdim", "vdim"):
            value = getattr(a, key)
            if value is not None and value != dkv:
                call.fail(
                    f"{key}={value} does not match the last dim of the {'kv tensor' if 'kv' in call.tensors else 'input'}",
                    arg=key,
                    expected=f"{key} = {dkv} (the last dim of {format_shape(kv.shape)})",
                    found=str(value),
                    hint=f"{key} is inferred from kv; drop it",
                    code="E0406",
                )
        heads = a.num_heads
        head_dim = split_heads(call, dim, heads)
        past = check_cache(call, "add_bias_kv" if a.add_bias_kv else "add_zero_attn" if a.add_zero_attn else None)
        params, macs = mha_counts(n, lq, lk, dim, dkv, a.bias)
        extra = int(a.add_bias_kv) + int(a.add_zero_attn)
        if a.add_bias_kv:
            params += 2 * dim
        macs = macs + 2 * n * lq * (extra + past) * dim  # the extra keys, or the cached ones
        keys = lk + extra + past
        details = [("heads", f"{heads}×{head_dim}")]
        if a.cache is not None:
            details.append(("cache", f"{past} cached + {lk} new keys"))
        details.append(("scores", format_shape((n, heads, lq, keys))))
        kv_cache = 2 * n * dim * (past + lk) if a.cache is not None else 0
        return Inference((n, lq, dim), params=params, macs=macs, details=tuple(details), scores=n * heads * lq * keys,
                         kv_cache=kv_cache)

    def explain(self, call: Call, result: Inference) -> list[str]:
        a = call.args
        n, lq, dim = call.x.shape
        kv = call.tensors.get("kv", call.x)
        lk, dkv = kv.shape[1], kv.shape[2]
        heads = a.num_heads
        hd = dim // heads
        extra = int(a.add_bias_kv) + int(a.add_zero_attn) + (a.cache or 0)
        lines = [f"head_dim = D / H = {dim} / {heads} = {hd}"]
        if a.cache is not None:
            lines.append(f"decode step: {lq} new tokens attend over {a.cache} cached + {lk} new keys; only the new tokens are projected")
        elif extra:
            lines.append(f"Lk' = Lk + {extra} = {lk + extra} (add_bias_kv / add_zero_attn append keys)")
        lines += scores_lines(n, heads, lq, lk + extra, hd)
        params = f"params = {product(dim, dim)} (W_q) + {product(2, dim, dkv)} (W_k, W_v) + {product(dim, dim)} (W_o)"
        if a.bias:
            params += f" + {product(4, dim)} (biases)"
        if a.add_bias_kv:
            params += f" + {product(2, dim)} (bias_k, bias_v)"
        lines.append(f"{params} = {num(result.params)}")
        ld = _lead(n)
        lines.append(
            f"MACs = {product(*ld, lq, dim, dim)} (Q) + {product(2, *ld, lk, dkv, dim)} (K, V)"
            f" + {product(2, *ld, heads, lq, lk + extra, hd)} (QKᵀ, AV) + {product(*ld, lq, dim, dim)} (out) = {num(result.macs)}"
        )
        return lines

    def twin(self, call: Call) -> Twin:
        a = call.args
        dim = call.x.shape[-1]
        dkv = call.tensors["kv"].shape[-1] if "kv" in call.tensors else dim
        mha = Twin.nn(
            "MultiheadAttention", embed_dim=dim, num_heads=a.num_heads, dropout=a.dropout, bias=a.bias,
            add_bias_kv=a.add_bias_kv, add_zero_attn=a.add_zero_attn, kdim=dkv, vdim=dkv, batch_first=True,
        )
        if a.cache:
            return Twin.own("MHA", mha=mha, causal=a.causal, cache=a.cache)
        return Twin.own("MHA", mha=mha, causal=a.causal)

    def param_tensors(self, call: Call):
        dkv = call.tensors["kv"].shape[-1] if "kv" in call.tensors else call.x.shape[-1]
        return mha_tensors("mha.", call.x.shape[-1], dkv, call.args.bias, call.args.add_bias_kv)

    def saved(self, call: Call, result: Inference) -> Saved:
        """The transposed copies of the inputs that feed the packed in-projection, then the core."""
        a = call.args
        n, lq, dim = call.x.shape[0], call.x.shape[1], call.x.shape[-1]
        kv = call.tensors.get("kv")
        lk = (kv.shape[1] if kv is not None else lq) + (1 if a.add_bias_kv else 0) + (1 if a.add_zero_attn else 0)
        if a.cache:  # the decode step: the in-projection reads the input itself; q is a view of its output
            keys = lk + a.cache
            floats = attention_saved(n, a.num_heads, lq, keys, dim // a.num_heads, a.dropout) + 2 * n * lq * dim
            return Saved(input=True, floats=floats + (lq * keys if a.causal else 0))
        floats = n * lq * dim + (n * kv.shape[1] * kv.shape[-1] if kv is not None else 0)
        floats += attention_saved(n, a.num_heads, lq, lk, dim // a.num_heads, a.dropout)
        return Saved(floats=floats)


@register
class Attention(Kind):
    name = "attention"
    aliases = ("attn", "gqa")
    family = "attention"
    doc = ("Multi-head attention with separate q/k/v/o projections (Llama/GPT style): grouped-query, per-projection "
           "biases, T5 relative positions, a KV-cache decode step, or attention in windows/grids of an N×H×W×C map "
           "(3-D windows: N×T×H×W×C).")
    torch_twin = "nnshape.twins.Attention / WindowAttention"
    args = (
        Arg("num_heads", "int", positional=True, min=1, aliases=("heads", "nhead", "h"), doc="query heads H"),
        Arg("kv_heads", "int", None, min=1, aliases=("num_kv_heads", "num_key_value_heads"), doc="key/value heads (default H); must divide H"),
        Arg("head_dim", "int", None, min=1, aliases=("hd",), doc="features per head (default D/H)"),
        Arg("bias", "bool", True, doc="biases of the q, k, v and o projections (the default of the four keys below)"),
        Arg("qkv_bias", "bool", None, doc="biases of q, k and v (Qwen2: true with bias=false)"),
        Arg("q_bias", "bool", None, doc="the q projection's bias (overrides qkv_bias and bias)"),
        Arg("k_bias", "bool", None, doc="the k projection's bias (Whisper: false)"),
        Arg("v_bias", "bool", None, doc="the v projection's bias"),
        Arg("o_bias", "bool", None, aliases=("out_bias",), doc="the output projection's bias"),
        Arg("causal", "bool", False, aliases=("is_causal",), doc="causal mask; no change in counts"),
        Arg("rope", "bool", False, doc="rotary position embedding on q and k: elementwise, no params, no MACs"),
        Arg("kv", "tensor", None, aliases=("memory",), doc="named tensor for keys and values (cross-attention)"),
        Arg("dropout", "float", 0.0, min=0, max=1, doc="dropout on the attention weights (training only)"),
        Arg("rel_pos", "any", None, aliases=("relative_attention_num_buckets",),
            doc="T5's relative position bias with N buckets (table N × H, 0 MACs); true: the window/grid table"),
        Arg("max_distance", "int", 128, min=1, aliases=("relative_attention_max_distance",), doc="T5: the farthest bucketed distance"),
        CACHE,
        Arg("window", "size", None, min=1, aliases=("window_size",),
            doc="attention inside windows: S (S×S) or HxW of an N×H×W×C map (Swin), TxHxW of an N×T×H×W×C map (Video Swin)"),
        Arg("shift", "size", 0, min=0, aliases=("shift_size",),
            doc="shifted windows: the map is rolled by this much first, one number or one per axis of the window (Swin)"),
        Arg("grid", "int", None, min=1, aliases=("grid_size",), doc="attention inside size×size grids strided across the map (MaxViT)"),
        Arg("cosine", "bool", False, aliases=("cosine_attention",),
            doc="Swin V2's scaled cosine attention: cos(q, k) · exp(min(logit_scale, log 100)), H params; k bias unused"),
        Arg("cpb", "int", None, min=1, aliases=("cpb_hidden", "cpb_dim"),
            doc="Swin V2's continuous position bias: an MLP 2 → cpb → H over log-spaced window offsets"),
    )
    formulas = (
        "output = input shape; scores N×H×Lq×Lk (window/grid: N·groups×H×L×L, L = the window's tokens, e.g. 7·7 or 8·7·7)",
        "params = D·H·hd (q) + 2·Dkv·Hkv·hd (k, v) + H·hd·D (o) + the biases (H·hd, Hkv·hd, Hkv·hd, D) "
        "[+ rel_pos·H (T5) | + (2·size−1)²·H (window/grid table)] [+ H (cosine)] [+ 3·cpb + cpb·H (cpb MLP)]",
        "MACs = N·Lq·D·H·hd + 2·N·Lk·Dkv·Hkv·hd + 2·N·H·Lq·(P+Lk)·hd (QKᵀ, AV after repeating k/v; P = cache) + N·Lq·H·hd·D",
        "window/grid: the projections of every (padded) token + 2·N·groups·H·L·L·hd; table ∏(2·w−1)·H params, "
        "buffers L·L (the table's index, of the window as written)",
        "cpb: + ∏(2·w−1)·(2 + H)·cpb MACs (the MLP, once per forward), + ∏(2·w−1)·2 buffers (the offsets)",
        "KV cache (cache=P): 2·N·Hkv·hd·(P + L) elements",
    )
    examples = (
        "10x16 | attention 4",
        "9x32 | attention heads=8 kv_heads=2 bias=false causal=true rope=true",
        "6x12 | attn 3 head_dim=8 dropout=0.1",
        "input tgt 7x16\ninput src 10x24\nattention 4 kv_heads=1 kv=src rope=true",
        "8x28 | attention heads=14 kv_heads=2 bias=false qkv_bias=true",
        "5x16 | attention 4 k_bias=false",
        "11x32 | attention heads=4 bias=false rel_pos=32",
        "9x32 | attention heads=4 bias=false causal=true rel_pos=8 max_distance=20",
        "3x32 | attention heads=8 kv_heads=2 bias=false causal=true rope=true cache=13",
        "1x32 | attention heads=4 cache=5",
        "14x14x24 | attention heads=3 window=7 rel_pos=true",
        "14x14x24 | attention heads=3 window=7 shift=3 rel_pos=true",
        "9x10x16 | attention heads=2 window=4 shift=2",
        "7x7x16 | attention heads=2 window=7 shift=3 rel_pos=true",
        "14x21x32 | attention heads=2 grid=7 rel_pos=true",
        "8x8x16 | attention heads=4 kv_heads=2 grid=4 qkv_bias=false",
        "9x10x16 | attention heads=2 window=4x3 shift=2x1 rel_pos=true",
        "8x14x14x24 | attention heads=3 window=8x7x7 shift=4x3x3 rel_pos=true",
        "5x9x7x16 | attention heads=2 window=4x4x4 shift=2 rel_pos=true",
        "3x7x7x16 | attention heads=2 window=8x7x7 shift=4x3x3 rel_pos=true",
        "16x16x24 | attention heads=3 window=8 cosine=true cpb=512",
        "12x12x24 | attention heads=3 window=8 shift=4 cosine=true cpb=64",
        "8x8x16 | attention heads=2 window=4 cosine=true o_bias=false",
        "8x8x16 | attention heads=4 kv_heads=2 grid=4 cpb=32",
        "9x10x16 | attention heads=2 window=4x3 shift=2x1 cosine=true cpb=16",
    )

    def heads(self, call: Call, dim: int) -> tuple[int, int, int]:
        a = call.args
        heads = a.num_heads
        kv_heads = a.kv_heads if a.kv_heads is not None else heads
        if heads % kv_heads:
            call.fail(
                f"num_heads={heads} is not a multiple of kv_heads={kv_heads}",
                arg="kv_heads",
                expected=f"kv_heads dividing {heads} (each kv head serves num_heads/kv_heads query heads)",
                found=f"kv_heads={kv_heads}",
                code="E0407",
            )
        head_dim = a.head_dim if a.head_dim is not None else split_heads(call, dim, heads)
        if a.rope and head_dim % 2:
            call.fail(
                f"rope needs an even head_dim, found {head_dim}",
                arg="rope",
                expected="an even head_dim (rotary embedding rotates pairs of features)",
                found=f"head_dim={head_dim}",
                hint="set head_dim=... to an even size",
                code="E0407",
            )
        return heads, kv_heads, head_dim

    def elementwise_flops(self, call: Call, result: Inference) -> Dim:
        """The softmax over the scores, one FLOP per score (DeepSpeed's softmax)."""
        return result.scores

    def sequence(self, call: Call):
        """(n, lq, lk, dim, dkv, heads, kv_heads, hd, past, buckets) of sequence attention."""
        n, lq, dim = check_sequence(call, call.x, "the query")
        kv = call.tensors.get("kv", call.x)
        _, lk, dkv = check_sequence(call, kv, "kv", arg="kv")
        heads, kv_heads, hd = self.heads(call, dim)
        past = call.args.cache or 0
        return n, lq, lk, dim, dkv, heads, kv_heads, hd, past, rel_pos_buckets(call, False)

    def infer(self, call: Call) -> Inference:
        a = call.args
        if check_options(call):
            geo = Geometry(call)
            heads, kv_heads, hd = self.heads(call, geo.c)
            table = bool(rel_pos_buckets(call, True))
            params, buffers, macs, scores = window_counts(call, geo, heads, kv_heads, hd, table)
            details = [("heads", f"{heads}×{hd}")] + geo.details()
            details.append(("scores", format_shape((geo.n * geo.groups, heads, geo.length, geo.length))))
            return Inference(call.x.shape, params=params, buffers=buffers, macs=macs, details=tuple(details), scores=scores)
        n, lq, lk, dim, dkv, heads, kv_heads, hd, past, buckets = self.sequence(call)
        bq, bk, bv, bo = biases(call)
        q, k = heads * hd, kv_heads * hd
        keys = past + lk
        params = dim * q + 2 * dkv * k + q * dim + q * bq + k * bk + k * bv + dim * bo + buckets * heads
        macs = n * lq * dim * q + 2 * n * lk * dkv * k + 2 * n * heads * lq * keys * hd + n * lq * q * dim
        details = [("heads", f"{heads}×{hd}")]
        if kv_heads != heads:
            details.append(("kv_heads", str(kv_heads)))
        if len({bq, bk, bv, bo}) > 1:
            details.append(("bias", " ".join(p for p, on in zip("qkvo", (bq, bk, bv, bo)) if on) or "none"))
        if buckets:
            details.append(("rel_pos", f"{buckets} buckets, max_distance {a.max_distance}"))
        if a.cache is not None:
            details.append(("cache", f"{past} cached + {lk} new keys"))
        details.append(("scores", format_shape((n, heads, lq, keys))))
        kv_cache = 2 * n * kv_heads * hd * keys if a.cache is not None else 0
        return Inference((n, lq, dim), params=params, macs=macs, details=tuple(details), scores=n * heads * lq * keys,
                         kv_cache=kv_cache)

    def explain(self, call: Call, result: Inference) -> list[str]:
        a = call.args
        if a.window is not None or a.grid is not None:
            geo = Geometry(call)
            heads, kv_heads, hd = self.heads(call, geo.c)
            return window_explain(call, geo, heads, kv_heads, hd, bool(rel_pos_buckets(call, True)), result.params, result.macs)
        n, lq, lk, dim, dkv, heads, kv_heads, hd, past, buckets = self.sequence(call)
        bq, bk, bv, bo = biases(call)
        q, k = heads * hd, kv_heads * hd
        lines = [
            f"head_dim = {hd}" + ("" if a.head_dim is not None else f" = D / H = {dim} / {heads}")
            + (f"; {kv_heads} key/value heads, each shared by {heads // kv_heads} query heads" if kv_heads != heads else "")
        ]
        if a.cache is not None:
            lines.append(f"decode step: {lq} new tokens attend over {past} cached + {lk} new = {past + lk} keys; "
                         f"only the new tokens are projected")
        lines += scores_lines(n, heads, lq, past + lk, hd)
        params = f"params = {product(dim, heads, hd)} (q) + {product(2, dkv, kv_heads, hd)} (k, v) + {product(heads, hd, dim)} (o)"
        nbias = q * bq + k * bk + k * bv + dim * bo
        if nbias:
            params += f" + {nbias} (biases: {' '.join(p for p, on in zip('qkvo', (bq, bk, bv, bo)) if on)})"
        if buckets:
            params += f" + {product(buckets, heads)} (T5 relative position table, {buckets} buckets × H)"
        lines.append(f"{params} = {num(result.params)}")
        ld = _lead(n)
        lines.append(
            f"MACs = {product(*ld, lq, dim, heads, hd)} (q) + {product(2, *ld, lk, dkv, kv_heads, hd)} (k, v)"
            f" + {product(2, *ld, heads, lq, past + lk, hd)} (QKᵀ, AV) + {product(*ld, lq, heads, hd, dim)} (o) = {num(result.macs)}"
        )
        if a.cache is not None:
            lines.append(f"KV cache = 2·{product(*ld, kv_heads, hd, past + lk)} = {num(result.kv_cache)} elements")
        return lines

    def twin(self, call: Call) -> Twin:
        a = call.args
        flags = biases(call)
        if check_options(call):
            geo = Geometry(call)
            heads, kv_heads, hd = self.heads(call, geo.c)
            shift = shift_of(call, geo.window)
            square = geo.square is not None and len(set(shift)) == 1  # one number each, as before tuples
            return Twin.own(
                "WindowAttention", dim=geo.c, heads=heads, kv_heads=kv_heads, head_dim=hd,
                size=geo.square if square else geo.window, grid=geo.grid, shift=shift[0] if square else shift,
                rel_pos=bool(rel_pos_buckets(call, True)), biases=flags, dropout=a.dropout,
                **({"cosine": True} if a.cosine else {}), **({"cpb": a.cpb} if a.cpb else {}),
            )
        n, lq, lk, dim, dkv, heads, kv_heads, hd, past, buckets = self.sequence(call)
        extra = {}
        if flags != (a.bias,) * 4:
            extra["biases"] = flags
        if buckets:
            extra.update(rel_pos=buckets, max_distance=a.max_distance)
        if past:
            extra["cache"] = past
        return Twin.own(
            "Attention", dim=dim, dkv=dkv, heads=heads, kv_heads=kv_heads, head_dim=hd, bias=a.bias, causal=a.causal,
            rope=a.rope, dropout=a.dropout, **extra,
        )

    def param_tensors(self, call: Call):
        """The twin's tensors in named_parameters() order: the window/grid relative_position_bias_table
        ((2·size − 1)² × H) and Swin V2's logit_scale (H×1×1), the module's own parameters, so first;
        q_proj, k_proj, v_proj, o_proj (weight, then bias where ``biases`` puts one), then T5's
        relative_attention_bias.weight (buckets × H) or Swin V2's cpb_mlp, registered after them."""
        windowed = check_options(call)
        if windowed:
            geo = Geometry(call)
            dim = dkv = geo.c
        else:
            dim = call.x.shape[-1]
            dkv = call.tensors["kv"].shape[-1] if "kv" in call.tensors else dim
        heads, kv_heads, hd = self.heads(call, dim)
        buckets = rel_pos_buckets(call, windowed)
        out = (("relative_position_bias_table", (geo.table, heads)),) if windowed and buckets else ()
        if call.args.cosine:
            out += (("logit_scale", (heads, 1, 1)),)
        bq, bk, bv, bo = biases(call)
        out += (linear_tensors("q_proj.", heads * hd, dim, bq) + linear_tensors("k_proj.", kv_heads * hd, dkv, bk)
                + linear_tensors("v_proj.", kv_heads * hd, dkv, bv) + linear_tensors("o_proj.", dim, heads * hd, bo))
        if buckets and not windowed:
            out += (("relative_attention_bias.weight", (buckets, heads)),)
        hidden = call.args.cpb or 0
        if hidden:
            out += linear_tensors("cpb_mlp.0.", hidden, 2, True) + linear_tensors("cpb_mlp.2.", heads, hidden, False)
        return out

    def saved(self, call: Call, result: Inference) -> Saved:
        """The inputs (the projections' weight gradients), the core over the P + L keys, rope's cos
        and sin tables; with T5's bias the math kernel's tensors and the int64 buckets, with a
        decode step's causal mask the mask (Lq·Lk). Window/grid attention: see window_saved."""
        a = call.args
        if a.window is not None or a.grid is not None:
            geo = Geometry(call)
            heads, kv_heads, hd = self.heads(call, geo.c)
            return window_saved(call, geo, heads, hd, bool(rel_pos_buckets(call, True)))
        n, lq, lk, dim, dkv, heads, kv_heads, hd, past, buckets = self.sequence(call)
        keys = lk + past
        fixed: Dim = 0
        if buckets:  # the bias table needs a gradient: the math kernel; and the int64 buckets
            floats = math_saved(n, heads, lq, keys, hd, a.dropout)
            fixed = 8 * lq * keys
        else:
            floats = attention_saved(n, heads, lq, keys, hd, a.dropout)
            if a.causal and past:
                floats += lq * keys  # the decode step's causal mask
        if a.rope:
            floats += 2 * (lq + keys) * hd  # cos and sin tables
        return Saved(input=True, inputs=True, floats=floats, fixed=fixed)
