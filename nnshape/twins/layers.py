"""Sequences, scaling and regularization, weight normalisation: the wrapper of torch.nn's recurrent modules and nnshape's own (attention: twins/attention.py)."""

import torch
from torch import nn


# --------------------------------------------------------------------------- sequences


class SequenceOnly(nn.Module):
    """A recurrent layer (nn.RNN/LSTM/GRU) that returns only its output sequence."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x)[0]


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


# --------------------------------------------------------------------------- reparametrisation


def WeightNorm(module, dim=0):  # noqa: N802 - named like the modules it stands beside
    """``module`` with its weight reparametrised by torch's weight_norm: w = g · v / ‖v‖ over every
    dim of v but ``dim`` (parameters g, v under ``parametrizations.weight``)."""
    return nn.utils.parametrizations.weight_norm(module, name="weight", dim=dim)
