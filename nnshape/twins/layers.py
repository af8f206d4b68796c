"""Sequences and attention, scaling and regularization: the wrappers of torch.nn's recurrent and attention modules and nnshape's own."""

import torch
from torch import nn


# --------------------------------------------------------------------------- sequences and attention


class SequenceOnly(nn.Module):
    """A recurrent layer (nn.RNN/LSTM/GRU) that returns only its output sequence."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x)[0]


def causal_mask(lq, lk, device):
    """Float mask, -inf above the diagonal (top-left aligned like SDPA's is_causal)."""
    return torch.full((lq, lk), float("-inf"), device=device).triu(1)


class MHA(nn.Module):
    """nn.MultiheadAttention on (x[, kv]) returning the attention output only."""

    def __init__(self, mha, causal=False):
        super().__init__()
        self.mha, self.causal = mha, causal

    def forward(self, x, kv=None):
        kv = x if kv is None else kv
        mask = causal_mask(x.shape[1], kv.shape[1], x.device) if self.causal else None
        return self.mha(x, kv, kv, need_weights=False, attn_mask=mask, is_causal=self.causal)[0]


class Layer(nn.Module):
    """A transformer encoder/decoder layer on (x[, memory]) with an optional causal mask."""

    def __init__(self, layer, causal=False):
        super().__init__()
        self.layer, self.causal = layer, causal

    def forward(self, x, memory=None):
        mask = causal_mask(x.shape[1], x.shape[1], x.device) if self.causal else None
        if memory is None:
            return self.layer(x, src_mask=mask, is_causal=self.causal)
        return self.layer(x, memory, tgt_mask=mask, tgt_is_causal=self.causal)


def rotate(x, base=10000.0):
    """Rotary position embedding on N×H×L×hd (rotate-half form): elementwise only."""
    length, hd = x.shape[-2], x.shape[-1]
    inv_freq = base ** (-torch.arange(0, hd, 2, dtype=torch.float32, device=x.device) / hd)
    angles = torch.arange(length, dtype=torch.float32, device=x.device)[:, None] * inv_freq[None, :]
    angles = torch.cat((angles, angles), dim=-1).to(x.dtype)
    x1, x2 = x[..., : hd // 2], x[..., hd // 2 :]
    return x * angles.cos() + torch.cat((-x2, x1), dim=-1) * angles.sin()


class Attention(nn.Module):
    """Multi-head attention with separate q/k/v/o projections; kv_heads < heads is grouped-query."""

    def __init__(self, dim, dkv, heads, kv_heads, head_dim, bias=True, causal=False, rope=False, dropout=0.0):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = heads, kv_heads, head_dim
        self.causal, self.rope, self.dropout = causal, rope, dropout
        self.q_proj = nn.Linear(dim, heads * head_dim, bias=bias)
        self.k_proj = nn.Linear(dkv, kv_heads * head_dim, bias=bias)
        self.v_proj = nn.Linear(dkv, kv_heads * head_dim, bias=bias)
        self.o_proj = nn.Linear(heads * head_dim, dim, bias=bias)

    def forward(self, x, kv=None):
        kv = x if kv is None else kv
        n, lq, lk = x.shape[0], x.shape[1], kv.shape[1]
        q = self.q_proj(x).view(n, lq, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(kv).view(n, lk, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(kv).view(n, lk, self.kv_heads, self.head_dim).transpose(1, 2)
        if self.rope:
            q, k = rotate(q), rotate(k)
        if self.kv_heads != self.heads:
            k = k.repeat_interleave(self.heads // self.kv_heads, dim=1)
            v = v.repeat_interleave(self.heads // self.kv_heads, dim=1)
        out = nn.functional.scaled_dot_product_attention(
            q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=self.causal
        )
        return self.o_proj(out.transpose(1, 2).reshape(n, lq, self.heads * self.head_dim))


class PositionalEncoding(nn.Module):
    """x + PE[:L], PE[pos, j] = sin(pos / 10000^(2⌊j/2⌋/D)) for even j, cos(...) for odd j.

    The table is computed in forward (no buffer), so any L and odd D work.
    """

    def __init__(self, dropout=0.0, max_len=None):
        super().__init__()
        self.max_len = max_len
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        length, dim = x.shape[-2], x.shape[-1]
        if self.max_len is not None and length > self.max_len:
            raise ValueError(f"sequence length {length} exceeds max_len={self.max_len}")
        pos = torch.arange(length, dtype=torch.float64, device=x.device)[:, None]
        j = torch.arange(dim, device=x.device)
        angle = pos / torch.pow(10000.0, (j - j % 2).to(torch.float64) / dim)
        table = torch.where(j % 2 == 0, torch.sin(angle), torch.cos(angle)).to(x.dtype)
        return self.dropout(x + table)


class PositionalEmbedding(nn.Module):
    """x + P[:, :L] with a learned P of shape 1×max_len×D."""

    def __init__(self, max_len, dim, dropout=0.0):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, max_len, dim))
        nn.init.trunc_normal_(self.weight, std=0.02)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.dropout(x + self.weight[:, : x.shape[1]])


class ClassToken(nn.Module):
    """Prepend num_tokens learned D-vectors: N×L×D -> N×(num_tokens+L)×D."""

    def __init__(self, dim, num_tokens=1):
        super().__init__()
        self.token = nn.Parameter(torch.zeros(1, num_tokens, dim))
        nn.init.trunc_normal_(self.token, std=0.02)

    def forward(self, x):
        return torch.cat([self.token.expand(x.shape[0], -1, -1).to(x.dtype), x], dim=1)


# --------------------------------------------------------------------------- scaling and regularization


class Scale(nn.Module):
    """y = x · γ, one learned value per index of one dim (``trailing`` dims after it broadcast)."""

    def __init__(self, size, trailing=0, init=1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.full((size,) + (1,) * trailing, float(init)))

    def forward(self, x):
        return x * self.weight


class DropPath(nn.Module):
    """Stochastic depth: zero a whole sample with probability p (training only)."""

    def __init__(self, p=0.1, scale_by_keep=True):
        super().__init__()
        self.p, self.scale_by_keep = p, scale_by_keep

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(keep)
        if keep > 0.0 and self.scale_by_keep:
            mask = mask / keep
        return x * mask

    def extra_repr(self):
        return f"p={self.p}"
