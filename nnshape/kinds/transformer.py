"""Transformer layers: ``encoderlayer`` and ``decoderlayer`` (= nn.TransformerEncoderLayer /
nn.TransformerDecoderLayer, batch first, PyTorch's defaults).

A layer is attention blocks (see kinds/attention.py) + a two-linear feed-forward + LayerNorms;
the norms, activation and dropout cost no MACs, and norm_first only moves the norms.
"""

from __future__ import annotations

from ..memory import STAT_BYTES, Saved
from ..registry import Arg, Call, Inference, Kind, num, product, register
from ..symbolic import Dim
from ..tensor import format_shape
from ..twinspec import Twin
from ._common import affine_tensors, linear_tensors
from .attention import check_sequence, mha_counts, mha_tensors, scores_lines, split_heads
from .attention_options import CACHE


def _layer_args(decoder: bool) -> tuple[Arg, ...]:
    args = [
        Arg("nhead", "int", positional=True, min=1, aliases=("heads", "num_heads", "h"), doc="attention heads; must divide d_model"),
        Arg("dim_feedforward", "int", 2048, positional=True, min=1, aliases=("ff", "d_ff"), doc="hidden size of the feed-forward"),
        Arg("dropout", "float", 0.1, min=0, max=1, doc="dropout (training only)"),
        Arg("activation", "str", "relu", choices=("relu", "gelu"), aliases=("act",), doc="feed-forward activation"),
        Arg("layer_norm_eps", "float", 1e-5, min=0, aliases=("eps",)),
        Arg("batch_first", "bool", True, doc="nnshape sequences are N×L×D, so only true is supported"),
        Arg("norm_first", "bool", False, aliases=("pre_norm",), doc="pre-norm (LayerNorm before each block)"),
        Arg("bias", "bool", True, doc="biases of the linears and LayerNorms"),
        Arg("causal", "bool", False, aliases=("is_causal",), doc="causal self-attention mask; no change in counts"),
        Arg("d_model", "int", None, min=1, aliases=("embed_dim",), doc="checked against the input's last dim"),
    ]
    if decoder:
        args.insert(2, Arg("memory", "tensor", aliases=("kv", "enc"), doc="named encoder output for cross-attention"))
    else:
        args.append(CACHE)  # a decoder-only model built of causal encoder layers decodes token by token
    return tuple(args)


class _TransformerLayer(Kind):
    family = "attention"
    decoder = False

    def elementwise_flops(self, call: Call, result: Inference) -> Dim:
        """Its parts by DeepSpeed's rules: layer norms (5 per element), the residual additions
        (1 per element), the feed-forward activation (1 per hidden element), the softmax of each
        attention (1 per score); dropout is free."""
        n, length, dim = result.shape
        blocks = 3 if self.decoder else 2  # self-attention, (cross-attention,) feed-forward
        per_token = blocks * (5 + 1) * dim + call.args.dim_feedforward
        return n * length * per_token + result.scores

    def infer(self, call: Call) -> Inference:
        a = call.args
        if not a.batch_first:
            call.bad_arg("batch_first", "only batch_first=true is supported: nnshape sequences are N×L×D", expected="true")
        n, length, dim = check_sequence(call, call.x, "the input")
        if a.d_model is not None and a.d_model != dim:
            call.fail(
                f"d_model={a.d_model} does not match the input's last dim",
                arg="d_model",
                expected=f"d_model = {dim} (the last dim of {format_shape(call.x.shape)})",
                found=str(a.d_model),
                hint="d_model is inferred from the input; drop it",
                code="E0406",
            )
        head_dim = split_heads(call, dim, a.nhead, arg="nhead")
        ff, b = a.dim_feedforward, a.bias
        past = self.past(call)
        params, macs = mha_counts(n, length, length, dim, dim, b)
        macs = macs + 2 * n * length * past * dim  # a decode step: QKᵀ and AV over the cached keys too
        norms = 2
        scores: Dim = n * a.nhead * length * (length + past)
        details = [("heads", f"{a.nhead}×{head_dim}"), ("ff", str(ff))]
        if past or getattr(a, "cache", None) is not None:
            details.append(("cache", f"{past} cached + {length} new keys"))
        if self.decoder:
            mem = call.tensors["memory"]
            _, lm, dm = check_sequence(call, mem, "memory", arg="memory")
            if dm != dim:
                call.fail(
                    "memory's last dim does not match d_model",
                    arg="memory",
                    expected=f"memory N×S×{dim} (d_model of the input {format_shape(call.x.shape)})",
                    found=format_shape(mem.shape),
                    hint=f"project the memory with `linear {dim}` first",
                    code="E0419",
                )
            p, m = mha_counts(n, length, lm, dim, dim, b)
            params, macs, norms = params + p, macs + m, 3
            scores = scores + n * a.nhead * length * lm
            details.append(("cross", format_shape((n, a.nhead, length, lm))))
        params = params + 2 * dim * ff + ((ff + dim) if b else 0) + norms * dim * (2 if b else 1)
        macs: Dim = macs + 2 * n * length * dim * ff
        kv_cache = 2 * n * dim * (past + length) if getattr(a, "cache", None) is not None else 0
        return Inference((n, length, dim), params=params, macs=macs, details=tuple(details), scores=scores, kv_cache=kv_cache)

    def past(self, call: Call) -> Dim:
        """P of cache=P: one decode step of a causal self-attention layer, or a located error."""
        a = call.args
        cache = getattr(a, "cache", None)
        if cache is None:
            return 0
        if not a.causal:
            call.fail(
                "cache= is one decode step of a causal layer; this encoder layer attends both ways",
                arg="cache",
                expected="causal=true with cache=P (a decoder-only stack of encoder layers)",
                found=f"cache={cache} with causal=false",
                hint="an encoder sees its whole input at once and keeps no KV cache: drop cache=, or set causal=true",
                code="E0341",
            )
        return cache

    def explain(self, call: Call, result: Inference) -> list[str]:
        a = call.args
        n, length, dim = call.x.shape
        ff, b, heads = a.dim_feedforward, a.bias, a.nhead
        hd = dim // heads
        past = self.past(call)
        lines = [f"head_dim = D / H = {dim} / {heads} = {hd}"] + scores_lines(n, heads, length, length + past, hd)
        p_self, m_self = mha_counts(n, length, length, dim, dim, b)
        if past:
            lines.append(f"decode step: {length} new tokens attend over {past} cached + {length} new keys")
        parts = [("self-attention", p_self, m_self + 2 * n * length * past * dim)]
        if self.decoder:
            lm = call.tensors["memory"].shape[1]
            lines.append(f"cross-attention scores: N×H×L×S = {format_shape((n, heads, length, lm))}")
            parts.append(("cross-attention", *mha_counts(n, length, lm, dim, dim, b)))
        norms = 3 if self.decoder else 2
        ff_params = 2 * dim * ff + ((ff + dim) if b else 0)
        norm_params = norms * dim * (2 if b else 1)
        lines.append(f"attention blocks: 4·D·D{' + 4·D' if b else ''} params each = {product(4, dim, dim)}{f' + {4 * dim}' if b else ''}")
        lines.append(f"feed-forward: D → {ff} → D: {product(2, dim, ff)}{f' + {ff} + {dim}' if b else ''} = {num(ff_params)} params")
        lines.append(f"{norms} LayerNorms: {product(norms, 2 if b else 1, dim)} = {num(norm_params)} params")
        terms = [f"{num(p)} ({what})" for what, p, _ in parts] + [f"{num(ff_params)} (feed-forward)", f"{num(norm_params)} (norms)"]
        lines.append(f"params = {' + '.join(terms)} = {num(result.params)}")
        ld = (n,) if n != 1 else ()
        terms = [f"{num(m)} ({what})" for what, _, m in parts] + [f"{product(2, *ld, length, dim, ff)} (feed-forward)"]
        lines.append(f"MACs = {' + '.join(terms)} = {num(result.macs)}")
        return lines

    def twin(self, call: Call) -> Twin:
        a = call.args
        layer = Twin.nn(
            "TransformerDecoderLayer" if self.decoder else "TransformerEncoderLayer", d_model=call.x.shape[-1], nhead=a.nhead,
            dim_feedforward=a.dim_feedforward, dropout=a.dropout, activation=a.activation, layer_norm_eps=a.layer_norm_eps,
            batch_first=True, norm_first=a.norm_first, bias=a.bias,
        )
        if getattr(a, "cache", None):
            return Twin.own("Layer", layer=layer, causal=a.causal, cache=self.past(call))
        return Twin.own("Layer", layer=layer, causal=a.causal)

    def param_tensors(self, call: Call):
        """nn.Transformer{En,De}coderLayer (held as ``layer``): self_attn (and multihead_attn), linear1,
        linear2, then its 2 (3) LayerNorms; bias=false drops every bias, the norms' too."""
        a, d = call.args, call.x.shape[-1]
        out = mha_tensors("layer.self_attn.", d, d, a.bias)
        if self.decoder:
            out += mha_tensors("layer.multihead_attn.", d, d, a.bias)
        out += linear_tensors("layer.linear1.", a.dim_feedforward, d, a.bias) + linear_tensors("layer.linear2.", d, a.dim_feedforward, a.bias)
        for i in range(1, 4 if self.decoder else 3):
            out += affine_tensors(f"layer.norm{i}.", (d,), True, a.bias)
        return out

    def saved(self, call: Call, result: Inference) -> Saved:
        """Counted tensor by tensor (math attention kernel when dropout > 0): per attention block
        q, kᵀ, packed projections, context, 3 score-sized tensors; per residual block a dropout
        mask and the LayerNorm input and statistics; the feed-forward's activation output, its
        dropout mask and dropped copy (3·N·L·ff)."""
        a = call.args
        n, lt, d = call.x.shape[0], call.x.shape[1], call.x.shape[-1]
        heads, ff = a.nhead, a.dim_feedforward
        if getattr(a, "cache", None) is not None:
            return self.decode_saved(call)
        drop = a.dropout > 0
        nt = n * lt * d
        memory = call.tensors.get("memory")
        blocks = 2 if memory is None else 3
        # self-attention: kᵀ, q, packed q/k/v (3), context; scores: softmax, mask, dropped
        floats: Dim = 6 * nt + (3 if drop else 1) * n * heads * lt * lt
        if memory is not None:
            lm, dm = memory.shape[1], memory.shape[-1]
            nm = n * lm * dm
            floats += nt  # the query input of the cross-attention (previous block's norm output)
            floats += 2 * nt + 3 * nm + (3 if drop else 1) * n * heads * lt * lm  # q, context; kᵀ, packed k/v
        floats += nt  # the feed-forward's input (the last norm's output)
        floats += (3 if drop else 2) * n * lt * ff  # activation output (+ dropout mask) and the second linear's input
        floats += blocks * ((1 if drop else 0) * nt + nt)  # per residual block: dropout mask, LayerNorm input
        return Saved(input=True, inputs=True, floats=floats, fixed=blocks * 2 * STAT_BYTES * n * lt)


    def decode_saved(self, call: Call) -> Saved:
        """One decode step (cache=P), written out with the layer's modules (twins.Layer). The
        attention: without dropout the fused kernel's q (a view of the packed in-projection's
        output, 3·D per token), k and v over the P + L keys, output and log-sum-exp, and the causal
        mask (L×(P+L)); with dropout the math kernel's tensors. Around it the norms' inputs and
        outputs (3·N·L·D) and statistics, the feed-forward's hidden activations (ReLU keeps one,
        GELU two; with dropout three: the kept one, the mask and the dropped copy) and with dropout
        the two residual masks (N·L·D each)."""
        from .attention_options import math_saved

        a = call.args
        n, lq, d = call.x.shape[0], call.x.shape[1], call.x.shape[-1]
        heads, ff, past = a.nhead, a.dim_feedforward, self.past(call)
        keys = past + lq
        if a.dropout > 0:  # the hidden: the activation's kept tensor, the mask and the dropped copy
            floats = math_saved(n, heads, lq, keys, d // heads, a.dropout) + 2 * n * lq * d + 3 * n * lq * ff
        else:
            floats = lq * keys + n * lq * 3 * d + 2 * n * keys * d + n * heads * lq + n * lq * d
            floats += (1 if a.activation == "relu" else 2) * n * lq * ff
        floats += 3 * n * lq * d
        return Saved(input=True, floats=floats, fixed=2 * 2 * STAT_BYTES * n * lq)


@register
class EncoderLayer(_TransformerLayer):
    name = "encoderlayer"
    aliases = ("transformerencoderlayer", "encoder_layer")
    doc = "nn.TransformerEncoderLayer on N×L×D: self-attention + feed-forward, each with residual and LayerNorm."
    torch_twin = "torch.nn.TransformerEncoderLayer"
    args = _layer_args(decoder=False)
    formulas = (
        "output = input (N × L × D)",
        "params = 4·D² + 4·D (attention) + 2·D·F + F + D (feed-forward) + 2·2·D (norms); bias=false drops the biases",
        "MACs = 4·N·L·D² + 2·N·L²·D (attention) + 2·N·L·D·F (feed-forward)",
    )
    examples = (
        "10x512 | encoderlayer 8",
        "12x32 | encoderlayer heads=4 ff=64 activation='gelu' norm_first=true",
        "9x24 | transformerencoderlayer nhead=3 dim_feedforward=40 bias=false causal=true dropout=0.0 layer_norm_eps=1e-6",
        "1x16 | encoderlayer 4 32 causal=true cache=11",
        "2x16 | encoderlayer 2 24 causal=true cache=5 norm_first=true activation='gelu' dropout=0.0",
    )


@register
class DecoderLayer(_TransformerLayer):
    name = "decoderlayer"
    aliases = ("transformerdecoderlayer", "decoder_layer")
    doc = "nn.TransformerDecoderLayer on N×L×D: self-attention, cross-attention to memory=NAME, feed-forward."
    torch_twin = "torch.nn.TransformerDecoderLayer"
    decoder = True
    args = _layer_args(decoder=True)
    formulas = (
        "output = input (N × L × D); memory N × S × D",
        "params = 8·D² + 8·D (two attentions) + 2·D·F + F + D (feed-forward) + 3·2·D (norms); bias=false drops the biases",
        "MACs = 4·N·L·D² + 2·N·L²·D (self) + 2·N·L·D² + 2·N·S·D² + 2·N·L·S·D (cross) + 2·N·L·D·F (feed-forward)",
    )
    examples = (
        "input tgt 20x512\ninput src 10x512\ndecoderlayer 8 memory=src",
        "input tgt 7x16\ninput src 10x16\ndecoderlayer heads=2 ff=32 memory=src causal=true activation='gelu'",
        "input src 10x24\ninput tgt 6x24\nfrom tgt:\n    decoderlayer 4 48 memory=src norm_first=true bias=false",
    )
