"""Torch twins of the model kinds: ``moe``, ``mamba``, ``mamba2``, ``timesteps``, ``frozenbn``.

Written by the rules of nnshape's twins module (only ``torch`` and ``nn`` imported, every helper
at the top level, constructors taking plain values) so that they can move there as they are.
Parameter names follow the Hugging Face / torchvision modules they stand for, so a state dict
loads across (the tests do that and compare outputs).

Importing this module imports torch: only the verifier (lazily) does.
"""

import math

import torch
from torch import nn


# --------------------------------------------------------------------------- frozenbn


class FrozenBatchNorm2d(nn.Module):
    """torchvision's FrozenBatchNorm2d: y = x·s + t, s = weight/√(running_var + eps),
    t = bias − running_mean·s, every tensor a buffer (nothing learned)."""

    def __init__(self, num_features, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def forward(self, x):
        scale = self.weight * (self.running_var + self.eps).rsqrt()
        shift = self.bias - self.running_mean * scale
        return x * scale.reshape(1, -1, 1, 1) + shift.reshape(1, -1, 1, 1)

    def extra_repr(self):
        return f"{self.weight.shape[0]}, eps={self.eps}"


# --------------------------------------------------------------------------- timesteps


class Timesteps(nn.Module):
    """diffusers' sinusoidal timestep embedding: N timesteps -> N×C (computed in forward, no buffer)."""

    def __init__(self, num_channels, flip_sin_to_cos=False, downscale_freq_shift=1.0, scale=1.0, max_period=10000.0):
        super().__init__()
        self.num_channels, self.flip_sin_to_cos = num_channels, flip_sin_to_cos
        self.downscale_freq_shift, self.scale, self.max_period = downscale_freq_shift, scale, max_period

    def forward(self, t):
        t = t.reshape(t.shape[0])  # N or N×1 -> N
        half = self.num_channels // 2
        exponent = -math.log(self.max_period) * torch.arange(half, dtype=torch.float32, device=t.device)
        freqs = torch.exp(exponent / (half - self.downscale_freq_shift))
        angles = self.scale * (t[:, None].float() * freqs[None, :])
        emb = torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)
        if self.flip_sin_to_cos:
            emb = torch.cat([emb[:, half:], emb[:, :half]], dim=-1)
        if self.num_channels % 2:
            emb = nn.functional.pad(emb, (0, 1, 0, 0))
        return emb

    def extra_repr(self):
        return f"{self.num_channels}, flip_sin_to_cos={self.flip_sin_to_cos}, downscale_freq_shift={self.downscale_freq_shift}"


# --------------------------------------------------------------------------- moe


def activate(x, name):
    """The activation of an FFN by name (HF's hidden_act values)."""
    if name == "silu":
        return nn.functional.silu(x)
    if name == "gelu":
        return nn.functional.gelu(x)
    if name == "gelu_tanh":
        return nn.functional.gelu(x, approximate="tanh")
    if name == "relu":
        return nn.functional.relu(x)
    raise ValueError(f"unknown activation {name!r}")


class Expert(nn.Module):
    """One feed-forward expert: gated down(act(gate(x)) · up(x)) (Llama/Mixtral/Qwen), or
    two-layer fc2(act(fc1(x)))."""

    def __init__(self, dim, ff, gated=True, activation="silu", bias=False):
        super().__init__()
        self.gated, self.activation = gated, activation
        if gated:
            self.gate_proj = nn.Linear(dim, ff, bias=bias)
            self.up_proj = nn.Linear(dim, ff, bias=bias)
            self.down_proj = nn.Linear(ff, dim, bias=bias)
        else:
            self.fc1 = nn.Linear(dim, ff, bias=bias)
            self.fc2 = nn.Linear(ff, dim, bias=bias)

    def forward(self, x):
        if self.gated:
            return self.down_proj(activate(self.gate_proj(x), self.activation) * self.up_proj(x))
        return self.fc2(activate(self.fc1(x), self.activation))


class MoE(nn.Module):
    """Sparse mixture of experts as Mixtral / Qwen2-MoE / OLMoE run it: router logits → softmax →
    top-k (renormalized with ``norm_topk_prob``) → each chosen expert on its tokens only, the
    results weighted and summed; optionally a shared expert (Qwen2-MoE) scaled by a sigmoid gate."""

    def __init__(self, dim, experts, top_k, ff, gated=True, activation="silu", bias=False,
                 norm_topk_prob=True, shared_ff=0, shared_gate=True):
        super().__init__()
        self.num_experts, self.top_k, self.norm_topk_prob = experts, top_k, norm_topk_prob
        self.gate = nn.Linear(dim, experts, bias=False)  # the router (HF's name)
        self.experts = nn.ModuleList(Expert(dim, ff, gated, activation, bias) for _ in range(experts))
        self.shared_expert = Expert(dim, shared_ff, gated, activation, bias) if shared_ff else None
        self.shared_expert_gate = nn.Linear(dim, 1, bias=False) if shared_ff and shared_gate else None

    def forward(self, x):
        shape = x.shape
        h = x.reshape(-1, shape[-1])
        probs = torch.softmax(self.gate(h).float(), dim=-1)
        weights, index = torch.topk(probs, self.top_k, dim=-1)
        if self.norm_topk_prob:
            weights = weights / weights.sum(dim=-1, keepdim=True)
        weights = weights.to(h.dtype)
        out = torch.zeros_like(h)
        slots = h.shape[0] * self.top_k
        for e, expert in enumerate(self.experts):
            if h.device.type == "meta":  # no values to route by: the token slots go round-robin
                count = len(range(e, slots, self.num_experts))
                tokens = torch.arange(count, device=h.device)
                slot = torch.zeros(count, dtype=torch.long, device=h.device)
            else:
                tokens, slot = torch.where(index == e)
            if tokens.numel() == 0:
                continue
            y = expert(h[tokens]) * weights[tokens, slot, None]
            out = out.index_add(0, tokens, y)
        if self.shared_expert is not None:
            shared = self.shared_expert(h)
            if self.shared_expert_gate is not None:
                shared = torch.sigmoid(self.shared_expert_gate(h)) * shared
            out = out + shared
        return out.reshape(shape)


# --------------------------------------------------------------------------- mamba, mamba2


def causal_conv(conv, x, length):
    """A depthwise conv padded K−1 on both sides, cut to the first ``length`` outputs (causal),
    then SiLU: as HF's slow path runs it (the conv computes L + K − 1 outputs)."""
    return nn.functional.silu(conv(x)[..., :length])


class Mamba(nn.Module):
    """The Mamba (S6) mixer as HF's MambaMixer holds it (in_proj, conv1d, x_proj, dt_proj, A_log,
    D, out_proj) and as its reference path runs it: the selective scan as a loop over the tokens,
    state h ← exp(Δ·A)·h + Δ·B·x, output C·h + D·x, gated by SiLU(z)."""

    def __init__(self, dim, d_state=16, d_conv=4, expand=2, dt_rank=None, bias=False, conv_bias=True):
        super().__init__()
        inner = expand * dim
        self.inner, self.d_state = inner, d_state
        self.dt_rank = dt_rank if dt_rank is not None else math.ceil(dim / 16)
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
