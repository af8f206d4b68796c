"""Attention: the wrappers of torch.nn's MultiheadAttention and transformer layers (with a causal
mask, or one decode step against a KV cache), the ``attention`` kind's module (grouped-query,
per-projection biases, T5's relative position buckets, the decode step). Window and grid
attention are in twins/windows.py."""

import torch
from torch import nn


def causal_mask(lq, lk, device):
    """Float mask, -inf above the diagonal (top-left aligned like SDPA's is_causal)."""
    return torch.full((lq, lk), float("-inf"), device=device).triu(1)


def decode_mask(lq, lk, dtype, device):
    """Float mask of a decode step, bottom-right aligned: query i (position lk − lq + i) sees keys ≤ it."""
    blocked = torch.ones(lq, lk, dtype=torch.bool, device=device).tril(lk - lq).logical_not()
    return torch.zeros(lq, lk, dtype=dtype, device=device).masked_fill(blocked, float("-inf"))


def cached_attention(mha, x, cache, causal):
    """One decode step of ``nn.MultiheadAttention`` ``mha`` (packed in-projection) on the N×L×D new
    tokens: project them only, and attend over the ``cache`` earlier keys and values (zeros here:
    they come from the cache) followed by the new ones."""
    n, length, dim = x.shape
    heads = mha.num_heads
    q, k, v = nn.functional.linear(x, mha.in_proj_weight, mha.in_proj_bias).chunk(3, dim=-1)
    q, k, v = (t.view(n, length, heads, dim // heads).transpose(1, 2) for t in (q, k, v))
    past = k.new_zeros(n, heads, cache, dim // heads)
    k, v = torch.cat([past, k], dim=2), torch.cat([past, v], dim=2)
    mask = decode_mask(length, cache + length, q.dtype, x.device) if causal else None
    out = nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=mha.dropout if mha.training else 0.0)
    return mha.out_proj(out.transpose(1, 2).reshape(n, length, dim))


class MHA(nn.Module):
    """nn.MultiheadAttention on (x[, kv]) returning the attention output only; ``cache`` > 0 is one
    decode step against that many cached keys and values."""

    def __init__(self, mha, causal=False, cache=0):
        super().__init__()
        self.mha, self.causal, self.cache = mha, causal, cache

    def forward(self, x, kv=None):
        if self.cache:
            return cached_attention(self.mha, x, self.cache, self.causal)
        kv = x if kv is None else kv
        mask = causal_mask(x.shape[1], kv.shape[1], x.device) if self.causal else None
        return self.mha(x, kv, kv, need_weights=False, attn_mask=mask, is_causal=self.causal)[0]


class Layer(nn.Module):
    """A transformer encoder/decoder layer on (x[, memory]) with an optional causal mask; an encoder
    layer with ``cache`` > 0 runs one decode step (its self-attention over the cached keys and
    values too), written out with the layer's own modules."""

    def __init__(self, layer, causal=False, cache=0):
        super().__init__()
        self.layer, self.causal, self.cache = layer, causal, cache

    def forward(self, x, memory=None):
        if self.cache:
            return self.decode_step(x)
        mask = causal_mask(x.shape[1], x.shape[1], x.device) if self.causal else None
        if memory is None:
            return self.layer(x, src_mask=mask, is_causal=self.causal)
        return self.layer(x, memory, tgt_mask=mask, tgt_is_causal=self.causal)

    def decode_step(self, x):
        layer = self.layer

        def attend(h):
            return layer.dropout1(cached_attention(layer.self_attn, h, self.cache, self.causal))

        def feed_forward(h):
            return layer.dropout2(layer.linear2(layer.dropout(layer.activation(layer.linear1(h)))))

        if layer.norm_first:
            x = x + attend(layer.norm1(x))
            return x + feed_forward(layer.norm2(x))
        x = layer.norm1(x + attend(x))
        return layer.norm2(x + feed_forward(x))


def rotate(x, base=10000.0, offset=0):
    """Rotary position embedding on N×H×L×hd (rotate-half form) at positions offset … offset+L−1:
    elementwise only."""
    length, hd = x.shape[-2], x.shape[-1]
    inv_freq = base ** (-torch.arange(0, hd, 2, dtype=torch.float32, device=x.device) / hd)
    positions = torch.arange(offset, offset + length, dtype=torch.float32, device=x.device)
    angles = positions[:, None] * inv_freq[None, :]
    angles = torch.cat((angles, angles), dim=-1).to(x.dtype)
    x1, x2 = x[..., : hd // 2], x[..., hd // 2 :]
    return x * angles.cos() + torch.cat((-x2, x1), dim=-1) * angles.sin()


def relative_bucket(relative, bidirectional, buckets, max_distance):
    """T5's bucket of each relative position (key − query): exact below buckets/2 (per direction
    when bidirectional), logarithmic up to max_distance, the last bucket beyond."""
    base = torch.zeros_like(relative)
    if bidirectional:
        buckets //= 2
        base = (relative > 0).long() * buckets
        distance = relative.abs()
    else:
        distance = -torch.clamp(relative, max=0)
    exact = buckets // 2
    log_ratio = torch.log(torch.tensor(max_distance / exact, dtype=torch.float64)).item()
    far = exact + (torch.log(distance.float() / exact) / log_ratio * (buckets - exact)).to(torch.long)
    far = torch.clamp(far, max=buckets - 1)
    return base + torch.where(distance < exact, distance, far)


def projections(module, dim, dkv, heads, kv_heads, head_dim, biases):
    """q/k/v/o linears on ``module``; ``biases`` says which of the four have a bias."""
    module.q_proj = nn.Linear(dim, heads * head_dim, bias=biases[0])
    module.k_proj = nn.Linear(dkv, kv_heads * head_dim, bias=biases[1])
    module.v_proj = nn.Linear(dkv, kv_heads * head_dim, bias=biases[2])
    module.o_proj = nn.Linear(heads * head_dim, dim, bias=biases[3])


class Attention(nn.Module):
    """Multi-head attention with separate q/k/v/o projections (``biases``: which have a bias);
    kv_heads < heads is grouped-query; ``rel_pos`` buckets T5's relative position bias (a table of
    rel_pos × heads); ``cache`` > 0 is one decode step against that many cached keys and values
    (zeros here: the projections of the earlier tokens are not recomputed)."""

    def __init__(self, dim, dkv, heads, kv_heads, head_dim, bias=True, causal=False, rope=False, dropout=0.0,
                 biases=None, rel_pos=0, max_distance=128, cache=0):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, head_dim
        self.causal, self.rope, self.dropout, self.cache, self.max_distance = causal, rope, dropout, cache, max_distance
        projections(self, dim, dkv, heads, kv_heads, head_dim, biases or (bias,) * 4)
        self.relative_attention_bias = nn.Embedding(rel_pos, heads) if rel_pos else None

    def position_bias(self, lq, lk, device):
        """heads × Lq × Lk: T5's bucketed bias; the queries sit at positions lk − lq … lk − 1."""
        queries = torch.arange(lk - lq, lk, dtype=torch.long, device=device)[:, None]
        keys = torch.arange(lk, dtype=torch.long, device=device)[None, :]
        table = self.relative_attention_bias
        bucket = relative_bucket(keys - queries, not self.causal, table.num_embeddings, self.max_distance)
        return table(bucket).permute(2, 0, 1)

    def forward(self, x, kv=None):
        kv = x if kv is None else kv
        n, lq, lk = x.shape[0], x.shape[1], kv.shape[1]
        q = self.q_proj(x).view(n, lq, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(kv).view(n, lk, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(kv).view(n, lk, self.kv_heads, self.head_dim).transpose(1, 2)
        if self.cache:  # the earlier tokens' keys and values come from the cache
            past = k.new_zeros(n, self.kv_heads, self.cache, self.head_dim)
            k, v = torch.cat([past, k], dim=2), torch.cat([past, v], dim=2)
            lk = lk + self.cache
        if self.rope:
            q, k = rotate(q, offset=lk - lq), rotate(k)
        if self.kv_heads != self.heads:
            k = k.repeat_interleave(self.heads // self.kv_heads, dim=1)
            v = v.repeat_interleave(self.heads // self.kv_heads, dim=1)
        mask = None  # 2-D, or 4-D contiguous: CPU attention keeps its fused kernel (another mask takes the math one)
        if self.relative_attention_bias is not None:
            mask = self.position_bias(lq, lk, x.device).to(q.dtype)[None].contiguous()
        if self.causal and (mask is not None or lq != lk):
            causal = decode_mask(lq, lk, q.dtype, x.device)
            mask = causal if mask is None else mask + causal
        out = nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0, is_causal=self.causal and mask is None
        )
        return self.o_proj(out.transpose(1, 2).reshape(n, lq, self.heads * self.head_dim))
