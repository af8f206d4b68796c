"""The state-space mixers of HF's MambaMixer and Mamba2Mixer (their parameter names, their
reference computations: a state dict loads across and the outputs agree)."""

import torch
from torch import nn


# --------------------------------------------------------------------------- state-space mixers (HF Mamba, Mamba-2)


def causal_conv(conv, x, length):
    """A depthwise conv padded K−1 on both sides, cut to the first ``length`` outputs (causal),
    then SiLU: as HF's slow path runs it (the conv computes L + K − 1 outputs)."""
    return nn.functional.silu(conv(x)[..., :length])


class Mamba(nn.Module):
    """The Mamba (S6) mixer as HF's MambaMixer holds it (in_proj, conv1d, x_proj, dt_proj, A_log,
    D, out_proj) and as its reference path runs it: the selective scan as a loop over the tokens,
    state h ← exp(Δ·A)·h + Δ·B·x, output C·h + D·x, gated by SiLU(z)."""

    def __init__(self, dim, dt_rank, d_state=16, d_conv=4, expand=2, bias=False, conv_bias=True):
        super().__init__()
        inner = expand * dim
        self.inner, self.d_state, self.dt_rank = inner, d_state, dt_rank
        self.in_proj = nn.Linear(dim, 2 * inner, bias=bias)
        self.conv1d = nn.Conv1d(inner, inner, d_conv, groups=inner, padding=d_conv - 1, bias=conv_bias)
        self.x_proj = nn.Linear(inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, inner, bias=True)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(inner, 1))
        self.D = nn.Parameter(torch.ones(inner))
        self.out_proj = nn.Linear(inner, dim, bias=bias)

    def forward(self, x):
        n, length, _ = x.shape
        hidden, gate = self.in_proj(x).transpose(1, 2).chunk(2, dim=1)  # N×E×L each
        hidden = causal_conv(self.conv1d, hidden, length)
        dt, B, C = torch.split(self.x_proj(hidden.transpose(1, 2)), [self.dt_rank, self.d_state, self.d_state], dim=-1)
        dt = nn.functional.softplus(self.dt_proj(dt)).transpose(1, 2)  # N×E×L
        A = -torch.exp(self.A_log.float())  # E×S
        decay = torch.exp(A[None, :, None, :] * dt[..., None])  # N×E×L×S
        push = dt[..., None] * B[:, None, :, :].float() * hidden[..., None].float()  # Δ·B·x
        state = torch.zeros(n, self.inner, self.d_state, dtype=x.dtype, device=x.device)
        outputs = []
        for t in range(length):
            state = decay[:, :, t] * state + push[:, :, t]
            outputs.append(torch.matmul(state.to(x.dtype), C[:, t, :, None])[..., 0])  # C·h: N×E
        y = torch.stack(outputs, dim=-1) + hidden * self.D[None, :, None]
        y = y * nn.functional.silu(gate)
        return self.out_proj(y.transpose(1, 2))


def gated_rms_norm(x, gate, weight, groups, eps):
    """Mamba-2's RMSNorm of x·SiLU(gate) over ``groups`` groups of the features."""
    dtype = x.dtype
    x = x.float() * nn.functional.silu(gate.float())
    shaped = x.view(*x.shape[:-1], groups, x.shape[-1] // groups)
    shaped = shaped * torch.rsqrt(shaped.pow(2).mean(-1, keepdim=True) + eps)
    return weight * shaped.view(x.shape).to(dtype)


def segment_sum(a):
    """S[..., i, j] = a[j+1] + … + a[i] for j < i, 0 on the diagonal, −inf above it."""
    size = a.shape[-1]
    a = a[..., None].expand(*a.shape, size)
    below = torch.tril(torch.ones(size, size, dtype=torch.bool, device=a.device), diagonal=-1)
    sums = torch.cumsum(a.masked_fill(~below, 0), dim=-2)
    keep = torch.tril(torch.ones(size, size, dtype=torch.bool, device=a.device), diagonal=0)
    return sums.masked_fill(~keep, -torch.inf)


def ssd_scan(x, dt, A, B, C, chunk):
    """Mamba-2's state space duality scan in chunks, as HF's torch path computes it: the sequence
    is zero-padded to a multiple of ``chunk``; within a chunk the output is a masked C·Bᵀ product
    applied to x, across chunks the states are passed on. x: N×L×H×P, dt: N×L×H, A: H, B and C:
    N×L×H×S (already repeated per head). Returns N×L×H×P (without the D skip)."""
    n, length, heads, head_dim = x.shape
    pad = (chunk - length % chunk) % chunk

    def chunks(t):
        t = nn.functional.pad(t, (0, 0) * (t.dim() - 2) + (0, pad))
        return t.reshape(n, -1, chunk, *t.shape[2:])

    x = x * dt[..., None]
    a = A[None, None, :] * dt
    x, a, B, C = chunks(x), chunks(a), chunks(B), chunks(C)
    a = a.permute(0, 3, 1, 2)  # N×H×c×Q
    a_cum = torch.cumsum(a, dim=-1)
    mask = torch.exp(segment_sum(a))
    scores = torch.einsum("bclhn,bcshn->bclsh", C, B)
    y_diag = torch.einsum("bclsh,bcshp->bclhp", scores * mask.permute(0, 2, 3, 4, 1), x)
    decay = torch.exp(a_cum[:, :, :, -1:] - a_cum)
    states = torch.einsum("bclhn,bclhp->bchpn", B * decay.permute(0, 2, 3, 1)[..., None], x)
    states = torch.cat([torch.zeros_like(states[:, :1]), states], dim=1)
    passing = torch.exp(segment_sum(nn.functional.pad(a_cum[:, :, :, -1], (1, 0)))).transpose(1, 3)
    states = torch.einsum("bzch,bzhpn->bchpn", passing, states)[:, :-1]
    y_off = torch.einsum("bclhn,bchpn->bclhp", C, states) * torch.exp(a_cum).permute(0, 2, 3, 1)[..., None]
    return (y_diag + y_off).reshape(n, -1, heads, head_dim)[:, :length]


class Mamba2(nn.Module):
    """The Mamba-2 (SSD) mixer as HF's Mamba2Mixer holds it (in_proj, conv1d, dt_bias, A_log, D,
    gated RMSNorm, out_proj) and as its torch path runs it (chunked scan, padded to the chunk)."""

    def __init__(self, dim, heads, head_dim=64, d_state=128, groups=8, chunk=256, d_conv=4, expand=2,
                 bias=False, conv_bias=True, eps=1e-5):
        super().__init__()
        inner = expand * dim
        self.inner, self.heads, self.head_dim, self.d_state = inner, heads, head_dim, d_state
        self.groups, self.chunk, self.eps = groups, chunk, eps
        self.conv_dim = inner + 2 * groups * d_state
        self.in_proj = nn.Linear(dim, inner + self.conv_dim + heads, bias=bias)
        self.conv1d = nn.Conv1d(self.conv_dim, self.conv_dim, d_conv, groups=self.conv_dim, padding=d_conv - 1, bias=conv_bias)
        self.dt_bias = nn.Parameter(torch.ones(heads))
        self.A_log = nn.Parameter(torch.log(torch.arange(1, heads + 1, dtype=torch.float32)))
        self.D = nn.Parameter(torch.ones(heads))
        self.norm = Mamba2Norm(inner)
        self.out_proj = nn.Linear(inner, dim, bias=bias)

    def forward(self, x):
        n, length, _ = x.shape
        gate, xbc, dt = self.in_proj(x).split([self.inner, self.conv_dim, self.heads], dim=-1)
        xbc = causal_conv(self.conv1d, xbc.transpose(1, 2), length).transpose(1, 2)
        hidden, B, C = xbc.split([self.inner, self.groups * self.d_state, self.groups * self.d_state], dim=-1)
        dt = nn.functional.softplus(dt + self.dt_bias)
        per_group = self.heads // self.groups
        B = B.reshape(n, length, self.groups, self.d_state).float().repeat_interleave(per_group, dim=2)
        C = C.reshape(n, length, self.groups, self.d_state).float().repeat_interleave(per_group, dim=2)
        hidden = hidden.reshape(n, length, self.heads, self.head_dim).float()
        A = -torch.exp(self.A_log.float())
        y = ssd_scan(hidden, dt.float(), A, B, C, self.chunk) + self.D[:, None] * hidden
        y = gated_rms_norm(y.reshape(n, length, self.inner).to(x.dtype), gate, self.norm.weight, self.groups, self.eps)
        return self.out_proj(y)


class Mamba2Norm(nn.Module):
    """Holds the gated RMSNorm's weight under HF's name (``norm.weight``)."""

    def __init__(self, size):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
