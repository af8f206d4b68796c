"""nnshape's own torch modules: the twins of kinds that torch.nn lacks, and the containers of a network.

This is the one home of every custom module. The verifier builds them (a kind's ``twin(call)``
names the class and its keyword arguments, see nnshape/twinspec.py); ``nnshape export`` copies the
source of the ones a network uses into the file it writes, reading this file as text (so export
needs no torch). Hence the rules for this file: it imports only ``torch`` and ``nn``, defines each
helper at the top level without decorators, and no top-level name ends in ``_<digits>`` (the
exported file's local names). tests/test_twins.py checks them.

Importing this module imports torch: only the verifier (lazily) and exported files do.
"""

import torch
from torch import nn

# --------------------------------------------------------------------------- containers


def free_name(owner, name):
    """``name`` as a submodule name of ``owner``, with ``_`` appended while torch would refuse it
    (taken, or an attribute of the module such as ``forward`` or ``training``)."""
    while name in owner._modules or hasattr(owner, name):
        name += "_"
    return name


def run_items(owner, x, env):
    """Run a container's items in order; a block reads and writes named tensors through ``env``."""
    for name, tensors in owner._nnshape_items:
        if tensors is None:
            x = owner._modules[name](x, env)
        else:  # a layer, given the named tensors it also reads (kv=...)
            x = owner._modules[name](x, *[env[t] for t in tensors])
    return x


class Seq(nn.Module):
    """Statements in order: a block, a def call, a branch, a shortcut, one pass of a repeat.

    ``append(name, module, tensors=())`` adds an item and returns it: a layer, given the named
    tensors it also reads (kv=...), or a block (a Seq), which reads and writes them through ``env``.
    Submodule names follow the rows of ``nnshape summary``.
    """

    def __init__(self):
        super().__init__()
        self._nnshape_items = []

    def append(self, name, module, tensors=()):
        name = free_name(self, name)
        self.add_module(name, module)
        self._nnshape_items.append((name, None if isinstance(module, Seq) else tuple(tensors)))
        return module

    def forward(self, x, env):
        return run_items(self, x, env)


class Residual(Seq):
    """``body(x) + x``, or ``body(x) + shortcut(x)`` once a shortcut is set."""

    def __init__(self):
        super().__init__()
        self._nnshape_shortcut = None

    def set_shortcut(self, module):
        name = free_name(self, "shortcut")
        self.add_module(name, module)
        self._nnshape_shortcut = name
        return module

    def forward(self, x, env):
        y = run_items(self, x, env)
        skip = x if self._nnshape_shortcut is None else self._modules[self._nnshape_shortcut](x, env)
        return y + skip


class Merge(Seq):
    """``concat`` / ``add`` / ``multiply`` of branches that all read the same input."""

    def __init__(self, op, dim):
        super().__init__()
        self._nnshape_op, self._nnshape_dim = op, dim

    def forward(self, x, env):
        outs = [self._modules[name](x, env) for name, _ in self._nnshape_items]
        if self._nnshape_op == "concat":
            return torch.cat(outs, dim=self._nnshape_dim)
        y = outs[0]
        for out in outs[1:]:
            y = y + out if self._nnshape_op == "add" else y * out
        return y

    def extra_repr(self):
        return self._nnshape_op + (f", dim={self._nnshape_dim}" if self._nnshape_op == "concat" else "")


class From(Seq):
    """Run the body on a named tensor; keep the result under ``alias``."""

    def __init__(self, source, alias):
        super().__init__()
        self._nnshape_source, self._nnshape_alias = source, alias

    def forward(self, x, env):
        y = run_items(self, env[self._nnshape_source], env)
        if self._nnshape_alias:
            env[self._nnshape_alias] = y
        return y


class Network(Seq):
    """The whole spec. ``forward`` takes the declared inputs in order; the top-level statements
    read the first (later inputs are read by name, as in the analysis)."""

    def __init__(self, inputs, output):
        super().__init__()
        self._nnshape_inputs, self._nnshape_output = list(inputs), output

    def forward(self, *tensors):
        env = dict(zip(self._nnshape_inputs, tensors))
        y = run_items(self, tensors[0] if tensors else None, env)
        return env[self._nnshape_output] if self._nnshape_output else y


# --------------------------------------------------------------------------- shape


class Reshape(nn.Module):
    """Each sample to ``shape`` (the batch is kept)."""

    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(shape)

    def forward(self, x):
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self):
        return f"shape={self.shape}"


class Permute(nn.Module):
    """Tensor.permute(*dims) (dim 0, the batch, stays first)."""

    def __init__(self, dims):
        super().__init__()
        self.dims = tuple(dims)

    def forward(self, x):
        return x.permute(*self.dims)

    def extra_repr(self):
        return f"dims={self.dims}"


class Transpose(nn.Module):
    """Tensor.transpose(dim0, dim1)."""

    def __init__(self, dim0, dim1):
        super().__init__()
        self.dim0, self.dim1 = dim0, dim1

    def forward(self, x):
        return x.transpose(self.dim0, self.dim1)

    def extra_repr(self):
        return f"dim0={self.dim0}, dim1={self.dim1}"


class Select(nn.Module):
    """Tensor.select(dim, index): one index along a dim, which is dropped (x[:, 0] for dim 1)."""

    def __init__(self, dim, index):
        super().__init__()
        self.dim, self.index = dim, index

    def forward(self, x):
        return x.select(self.dim, self.index)

    def extra_repr(self):
        return f"dim={self.dim}, index={self.index}"


# --------------------------------------------------------------------------- tensor operations


class Slice(nn.Module):
    """``x[..., start:end:step]`` along ``dim`` (Python slicing, end exclusive): a view."""

    def __init__(self, dim, start=None, end=None, step=1):
        super().__init__()
        self.dim, self.start, self.end, self.step = dim, start, end, step

    def forward(self, x):
        index = (slice(None),) * (self.dim % x.dim()) + (slice(self.start, self.end, self.step),)
        return x[index]

    def extra_repr(self):
        return f"dim={self.dim}, start={self.start}, end={self.end}, step={self.step}"


class Pad(nn.Module):
    """``nn.functional.pad``: (left, right) of the last dim first, then the dims before it."""

    def __init__(self, pad, mode="constant", value=None):
        super().__init__()
        self.pad, self.mode, self.value = tuple(pad), mode, value

    def forward(self, x):
        return nn.functional.pad(x, self.pad, mode=self.mode, value=self.value)

    def extra_repr(self):
        return f"pad={self.pad}, mode={self.mode!r}, value={self.value}"


class Squeeze(nn.Module):
    """``Tensor.squeeze(dim)``; ``dim=None``: every dim of size 1 after the batch (the batch is kept)."""

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return x.squeeze(tuple(range(1, x.dim())) if self.dim is None else self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class Unsqueeze(nn.Module):
    """``Tensor.unsqueeze(dim)``: a new dim of size 1."""

    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return x.unsqueeze(self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class Roll(nn.Module):
    """``torch.roll(x, shifts, dims)``: a circular shift along dims."""

    def __init__(self, shifts, dims):
        super().__init__()
        self.shifts, self.dims = shifts, dims

    def forward(self, x):
        return torch.roll(x, self.shifts, self.dims)

    def extra_repr(self):
        return f"shifts={self.shifts}, dims={self.dims}"


class Reduce(nn.Module):
    """``torch.mean``, ``torch.sum`` or ``torch.amax`` over ``dim``."""

    def __init__(self, op, dim, keepdim=False):
        super().__init__()
        self.op, self.dim, self.keepdim = op, dim, keepdim

    def forward(self, x):
        return getattr(torch, self.op)(x, dim=self.dim, keepdim=self.keepdim)

    def extra_repr(self):
        return f"op={self.op!r}, dim={self.dim}, keepdim={self.keepdim}"


class QuickGELU(nn.Module):
    """CLIP's activation: ``x * sigmoid(1.702 * x)``."""

    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


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


# --------------------------------------------------------------------------- augmentation (torchvision's rules)


class RandomFlip(nn.Module):
    """Flip one dim (-1: horizontal, -2: vertical) with probability p."""

    def __init__(self, dim, p=0.5):
        super().__init__()
        self.dim, self.p = dim, p

    def forward(self, x):
        return torch.flip(x, [self.dim]) if torch.rand(()) < self.p else x

    def extra_repr(self):
        return f"dim={self.dim}, p={self.p}"


def pad(x, ltrb, mode="constant", fill=0):
    """torchvision-style padding of the last two dims by (left, top, right, bottom)."""
    left, top, right, bottom = ltrb
    if mode == "symmetric":  # reflect, repeating the edge
        h, w = x.shape[-2:]
        at = {"device": x.device}
        rows = torch.cat([torch.arange(top - 1, -1, -1, **at), torch.arange(h, **at), torch.arange(h - 1, h - 1 - bottom, -1, **at)])
        cols = torch.cat([torch.arange(left - 1, -1, -1, **at), torch.arange(w, **at), torch.arange(w - 1, w - 1 - right, -1, **at)])
        return x[..., rows, :][..., cols]
    squeeze = x.dim() == 3 and mode != "constant"  # reflect/replicate want a channel dim
    y = x.unsqueeze(1) if squeeze else x
    torch_mode = {"constant": "constant", "edge": "replicate", "reflect": "reflect"}[mode]
    extra = {"value": fill} if mode == "constant" else {}
    y = nn.functional.pad(y, (left, right, top, bottom), mode=torch_mode, **extra)
    return y.squeeze(1) if squeeze else y


class RandomCrop(nn.Module):
    """Crop a random h×w window after optional padding (torchvision RandomCrop)."""

    def __init__(self, size, padding=(0, 0, 0, 0), pad_if_needed=False, fill=0, padding_mode="constant"):
        super().__init__()
        self.size, self.padding, self.pad_if_needed = tuple(size), tuple(padding), pad_if_needed
        self.fill, self.padding_mode = fill, padding_mode

    def forward(self, x):
        th, tw = self.size
        if any(self.padding):
            x = pad(x, self.padding, self.padding_mode, self.fill)
        h, w = x.shape[-2:]
        if self.pad_if_needed and (h < th or w < tw):  # pad both sides by the shortfall
            dh, dw = max(th - h, 0), max(tw - w, 0)
            x = pad(x, (dw, dh, dw, dh), self.padding_mode, self.fill)
            h, w = x.shape[-2:]
        i = int(torch.randint(0, h - th + 1, ()))
        j = int(torch.randint(0, w - tw + 1, ()))
        return x[..., i : i + th, j : j + tw]

    def extra_repr(self):
        return f"size={self.size}, padding={self.padding}"


class CenterCrop(nn.Module):
    """Crop the central h×w window; a smaller input is zero-padded first (torchvision CenterCrop)."""

    def __init__(self, size):
        super().__init__()
        self.size = tuple(size)

    def forward(self, x):
        th, tw = self.size
        h, w = x.shape[-2:]
        if th > h or tw > w:
            dh, dw = max(th - h, 0), max(tw - w, 0)
            x = pad(x, (dw // 2, dh // 2, (dw + 1) // 2, (dh + 1) // 2))
            h, w = x.shape[-2:]
        top, left = round((h - th) / 2.0), round((w - tw) / 2.0)
        return x[..., top : top + th, left : left + tw]

    def extra_repr(self):
        return f"size={self.size}"


def resize(x, size, mode="bilinear", antialias=True):
    """Resize the last two dims of N×C×H×W or N×H×W to size (h, w); integer images stay integers."""
    y = x if x.is_floating_point() else x.float()
    y = y.unsqueeze(1) if y.dim() == 3 else y
    aa = antialias and mode in ("bilinear", "bicubic")
    extra = {} if mode.startswith("nearest") else {"align_corners": False}
    y = nn.functional.interpolate(y, size=size, mode=mode, antialias=aa, **extra)
    y = y.squeeze(1) if x.dim() == 3 else y
    if not x.is_floating_point():
        info = torch.iinfo(x.dtype)
        y = y.round().clamp(info.min, info.max).to(x.dtype)
    return y


class Resize(nn.Module):
    """torchvision Resize: an int size sends the smaller edge there (aspect kept, the longer edge
    capped by max_size); an (h, w) size is exact."""

    def __init__(self, size, max_size=None, interpolation="bilinear", antialias=True):
        super().__init__()
        self.size, self.max_size, self.interpolation, self.antialias = size, max_size, interpolation, antialias

    def output_size(self, h, w):
        if not isinstance(self.size, int):
            return tuple(self.size)
        short, long = (w, h) if w <= h else (h, w)
        new_short, new_long = self.size, int(self.size * long / short)
        if self.max_size is not None and new_long > self.max_size:
            new_short, new_long = int(self.max_size * new_short / new_long), self.max_size
        return (new_long, new_short) if w <= h else (new_short, new_long)

    def forward(self, x):
        return resize(x, self.output_size(*x.shape[-2:]), self.interpolation, self.antialias)

    def extra_repr(self):
        return f"size={self.size}, interpolation={self.interpolation}"


class RandomResizedCrop(nn.Module):
    """torchvision RandomResizedCrop: crop a random window (area fraction in ``scale``, aspect in
    ``ratio``; the central crop after 10 misses), then resize it to size (h, w)."""

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), interpolation="bilinear", antialias=True):
        super().__init__()
        self.size, self.scale, self.ratio = tuple(size), tuple(scale), tuple(ratio)
        self.interpolation, self.antialias = interpolation, antialias

    def window(self, h, w):
        """torchvision's RandomResizedCrop.get_params: (top, left, height, width)."""
        log_ratio = torch.log(torch.tensor(self.ratio))
        for _ in range(10):
            area = h * w * torch.empty(1).uniform_(self.scale[0], self.scale[1]).item()
            aspect = torch.exp(torch.empty(1).uniform_(log_ratio[0], log_ratio[1])).item()
            cw, ch = int(round((area * aspect) ** 0.5)), int(round((area / aspect) ** 0.5))
            if 0 < cw <= w and 0 < ch <= h:
                top = int(torch.randint(0, h - ch + 1, size=(1,)).item())
                left = int(torch.randint(0, w - cw + 1, size=(1,)).item())
                return top, left, ch, cw
        ch, cw = h, w  # the central crop with the aspect clamped into `ratio`
        if w / h < min(self.ratio):
            ch = int(round(w / min(self.ratio)))
        elif w / h > max(self.ratio):
            cw = int(round(h * max(self.ratio)))
        return (h - ch) // 2, (w - cw) // 2, ch, cw

    def forward(self, x):
        top, left, ch, cw = self.window(*x.shape[-2:])
        return resize(x[..., top : top + ch, left : left + cw], self.size, self.interpolation, self.antialias)

    def extra_repr(self):
        return f"size={self.size}, scale={self.scale}, ratio={self.ratio}"


class PCAColor(nn.Module):
    """AlexNet PCA lighting noise: add RGB noise along ImageNet's principal components."""

    EIGVAL = (0.2175, 0.0188, 0.0045)
    EIGVEC = ((-0.5675, 0.7192, 0.4009), (-0.5808, -0.0045, -0.8140), (-0.5836, -0.6948, 0.4203))

    def __init__(self, alphastd=0.1):
        super().__init__()
        self.alphastd = alphastd

    def forward(self, x):
        alpha = torch.randn(3, dtype=x.dtype, device=x.device) * self.alphastd
        eigval = torch.tensor(self.EIGVAL, dtype=x.dtype, device=x.device)
        rgb = (torch.tensor(self.EIGVEC, dtype=x.dtype, device=x.device) * (alpha * eigval)).sum(1)
        return x + rgb.view(3, 1, 1)

    def extra_repr(self):
        return f"alphastd={self.alphastd}"
