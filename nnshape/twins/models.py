"""Twins of the model kinds: torchvision's FrozenBatchNorm2d, diffusers' timestep embedding, and
the sparse mixture of experts of HF's Mixtral / Qwen2-MoE / OLMoE blocks (parameter names as theirs)."""

import torch
from torch import nn


# --------------------------------------------------------------------------- frozen batch norm (torchvision)


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


# --------------------------------------------------------------------------- diffusion timesteps (diffusers)


class Timesteps(nn.Module):
    """diffusers' sinusoidal timestep embedding: N timesteps -> N×C (computed in forward, no buffer)."""

    def __init__(self, num_channels, flip_sin_to_cos=False, downscale_freq_shift=1.0, scale=1.0, max_period=10000.0):
        super().__init__()
        self.num_channels, self.flip_sin_to_cos = num_channels, flip_sin_to_cos
        self.downscale_freq_shift, self.scale, self.max_period = downscale_freq_shift, scale, max_period

    def forward(self, t):
        t = t.reshape(t.shape[0])  # N or N×1 -> N
        half = self.num_channels // 2
        log_period = torch.log(torch.tensor(float(self.max_period), dtype=torch.float64)).item()
        exponent = -log_period * torch.arange(half, dtype=torch.float32, device=t.device)
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


# --------------------------------------------------------------------------- mixture of experts (HF Mixtral, Qwen2-MoE, OLMoE)


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
