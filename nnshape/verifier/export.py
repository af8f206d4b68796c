"""``nnshape export``: write the network as a standalone, readable PyTorch file (imports only torch).

The network is built once on the meta device (no memory) by the verifier's builder; each layer
twin is then written back as source. A ``torch.nn`` twin becomes its constructor call, read from
the module's attributes and checked by rebuilding it (same repr, same parameter shapes). A kind
whose twin is nnshape's own module (:data:`CUSTOM`) is written as a call of a small class, from
:data:`CLASSES`, that the file defines once: the same computation and the same parameter names
as the twin. A new kind with a custom twin but no entry here is refused with a clear error
(tests/test_export.py exports every kind's examples, so that cannot go unnoticed).
"""

from __future__ import annotations

import inspect
import keyword
import math

from ..errors import SpecArgumentError, NNShapeError
from ..plan import Plan
from ..registry import Kind
from ..summary import Summary


class ExportError(NNShapeError):
    code = "E0602"


CONTAINERS = '''
def _run(owner, x, env):
    for name, tensors in owner._items:
        if tensors is None:  # a block: it reads and writes named tensors through env
            x = owner._modules[name](x, env)
        else:  # a layer, given the named tensors it also reads (kv=...)
            x = owner._modules[name](x, *(env[t] for t in tensors))
    return x


class Seq(nn.Module):
    """Statements in order (a block, a def call, a branch, one pass of a repeat).

    Items are (name, tensors, module): tensors is the tuple of named tensors a layer also reads
    (kv=...), None for a block.
    """

    def __init__(self, items=()):
        super().__init__()
        self._items = []
        for name, tensors, module in items:
            self.add_module(name, module)
            self._items.append((name, tensors))

    def forward(self, x, env):
        return _run(self, x, env)


class Residual(Seq):
    """body(x) + x, or body(x) + shortcut(x)."""

    def __init__(self, items=(), shortcut=None):
        super().__init__(items)
        self._has_shortcut = shortcut is not None
        if shortcut is not None:
            self.add_module("shortcut", shortcut)

    def forward(self, x, env):
        y = _run(self, x, env)
        return y + (self.shortcut(x, env) if self._has_shortcut else x)


class Merge(Seq):
    """concat / add / multiply of branches that all read the same input."""

    def __init__(self, op, dim, items=()):
        super().__init__(items)
        self._op, self._dim = op, dim

    def forward(self, x, env):
        outs = [self._modules[name](x, env) for name, _ in self._items]
        if self._op == "concat":
            return torch.cat(outs, dim=self._dim)
        y = outs[0]
        for out in outs[1:]:
            y = y + out if self._op == "add" else y * out
        return y


class From(Seq):
    """Run the body on a named tensor; keep the result under `alias`."""

    def __init__(self, source, alias, items=()):
        super().__init__(items)
        self._source, self._alias = source, alias

    def forward(self, x, env):
        y = _run(self, env[self._source], env)
        if self._alias:
            env[self._alias] = y
        return y


class Network(Seq):
    def __init__(self, inputs, output, items=()):
        super().__init__(items)
        self._inputs, self._output = inputs, output

    def forward(self, *tensors):
        """The declared inputs in order; the first is the tensor the top-level layers read."""
        env = dict(zip(self._inputs, tensors))
        y = _run(self, tensors[0], env)
        return env[self._output] if self._output else y
'''

# Inlined classes for nnshape's wrapper twins: class name -> source.
CLASSES = {
    "Fn": '''
class Fn(nn.Module):
    """A parameter-free layer computing one tensor expression."""

    def __init__(self, text, fn):
        super().__init__()
        self.text, self.fn = text, fn

    def forward(self, x):
        return self.fn(x)

    def extra_repr(self):
        return self.text
''',
    "SequenceOnly": '''
class SequenceOnly(nn.Module):
    """A recurrent layer that returns only its output sequence."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, x):
        return self.inner(x)[0]
''',
    "causal_mask": '''
def causal_mask(lq, lk, device):
    return torch.full((lq, lk), float("-inf"), device=device).triu(1)
''',
    "MHA": '''
class MHA(nn.Module):
    """nn.MultiheadAttention on (x[, kv]) returning the attention output only."""

    def __init__(self, mha, causal):
        super().__init__()
        self.mha, self.causal = mha, causal

    def forward(self, x, kv=None):
        kv = x if kv is None else kv
        mask = causal_mask(x.shape[1], kv.shape[1], x.device) if self.causal else None
        return self.mha(x, kv, kv, need_weights=False, attn_mask=mask, is_causal=self.causal)[0]
''',
    "Layer": '''
class Layer(nn.Module):
    """A transformer encoder/decoder layer on (x[, memory]) with an optional causal mask."""

    def __init__(self, layer, causal):
        super().__init__()
        self.layer, self.causal = layer, causal

    def forward(self, x, memory=None):
        mask = causal_mask(x.shape[1], x.shape[1], x.device) if self.causal else None
        if memory is None:
            return self.layer(x, src_mask=mask, is_causal=self.causal)
        return self.layer(x, memory, tgt_mask=mask, tgt_is_causal=self.causal)
''',
    "rotate": '''
def rotate(x, base=10000.0):
    """Rotary position embedding on N×H×L×hd (rotate-half form): elementwise only."""
    length, hd = x.shape[-2], x.shape[-1]
    inv_freq = base ** (-torch.arange(0, hd, 2, dtype=torch.float32, device=x.device) / hd)
    angles = torch.arange(length, dtype=torch.float32, device=x.device)[:, None] * inv_freq[None, :]
    angles = torch.cat((angles, angles), dim=-1).to(x.dtype)
    x1, x2 = x[..., : hd // 2], x[..., hd // 2 :]
    return x * angles.cos() + torch.cat((-x2, x1), dim=-1) * angles.sin()
''',
    "Attention": '''
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
''',
    "PositionalEncoding": '''
class PositionalEncoding(nn.Module):
    """x + PE[:L], PE[pos, j] = sin(pos / 10000^(2*(j//2)/D)) for even j, cos(...) for odd j (no buffer)."""

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
''',
    "PositionalEmbedding": '''
class PositionalEmbedding(nn.Module):
    """x + P[:, :L] with a learned P of shape 1×max_len×D."""

    def __init__(self, max_len, dim, dropout=0.0):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1, max_len, dim))
        nn.init.trunc_normal_(self.weight, std=0.02)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.dropout(x + self.weight[:, : x.shape[1]])
''',
    "ClassToken": '''
class ClassToken(nn.Module):
    """Prepend num_tokens learned D-vectors: N×L×D -> N×(num_tokens+L)×D."""

    def __init__(self, dim, num_tokens=1):
        super().__init__()
        self.token = nn.Parameter(torch.zeros(1, num_tokens, dim))
        nn.init.trunc_normal_(self.token, std=0.02)

    def forward(self, x):
        return torch.cat([self.token.expand(x.shape[0], -1, -1).to(x.dtype), x], dim=1)
''',
    "Scale": '''
class Scale(nn.Module):
    """y = x · γ, one learned value per index of one dim (`trailing` dims after it broadcast)."""

    def __init__(self, size, trailing=0, init=1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.full((size,) + (1,) * trailing, float(init)))

    def forward(self, x):
        return x * self.weight
''',
    "DropPath": '''
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
''',
    "RandomFlip": '''
class RandomFlip(nn.Module):
    """Flip one dim (-1: horizontal, -2: vertical) with probability p."""

    def __init__(self, dim, p=0.5):
        super().__init__()
        self.dim, self.p = dim, p

    def forward(self, x):
        return torch.flip(x, [self.dim]) if torch.rand(()) < self.p else x

    def extra_repr(self):
        return f"dim={self.dim}, p={self.p}"
''',
    "pad": '''
def pad(x, ltrb, mode="constant", fill=0):
    """torchvision-style padding of the last two dims by (left, top, right, bottom)."""
    left, top, right, bottom = ltrb
    if mode == "symmetric":  # reflect, repeating the edge
        h, w = x.shape[-2:]
        ar = lambda *a: torch.arange(*a, device=x.device)
        rows = torch.cat([ar(top - 1, -1, -1), ar(h), ar(h - 1, h - 1 - bottom, -1)])
        cols = torch.cat([ar(left - 1, -1, -1), ar(w), ar(w - 1, w - 1 - right, -1)])
        return x[..., rows, :][..., cols]
    squeeze = x.dim() == 3 and mode != "constant"  # reflect/replicate want a channel dim
    y = x.unsqueeze(1) if squeeze else x
    torch_mode = {"constant": "constant", "edge": "replicate", "reflect": "reflect"}[mode]
    y = nn.functional.pad(y, (left, right, top, bottom), mode=torch_mode, **({"value": fill} if mode == "constant" else {}))
    return y.squeeze(1) if squeeze else y
''',
    "RandomCrop": '''
class RandomCrop(nn.Module):
    """Crop a random h×w window after optional padding (torchvision RandomCrop)."""

    def __init__(self, size, padding=(0, 0, 0, 0), pad_if_needed=False, fill=0, padding_mode="constant"):
        super().__init__()
        self.size, self.padding, self.pad_if_needed = size, padding, pad_if_needed
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
''',
    "CenterCrop": '''
class CenterCrop(nn.Module):
    """Crop the central h×w window; a smaller input is zero-padded first (torchvision CenterCrop)."""

    def __init__(self, size):
        super().__init__()
        self.size = size

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
''',
    "resize": '''
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
''',
    "Resize": '''
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
''',
    "RandomResizedCrop": '''
class RandomResizedCrop(nn.Module):
    """Crop a random window (area fraction in `scale`, aspect in `ratio`) and resize it to size (h, w)."""

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), interpolation="bilinear", antialias=True):
        super().__init__()
        self.size, self.scale, self.ratio = size, scale, ratio
        self.interpolation, self.antialias = interpolation, antialias

    def window(self, h, w):
        """torchvision's RandomResizedCrop.get_params: (top, left, height, width)."""
        log_ratio = torch.log(torch.tensor(self.ratio, dtype=torch.float64))
        for _ in range(10):
            area = h * w * float(torch.empty(()).uniform_(self.scale[0], self.scale[1]))
            aspect = float(torch.empty((), dtype=torch.float64).uniform_(log_ratio[0], log_ratio[1]).exp())
            cw, ch = int(round((area * aspect) ** 0.5)), int(round((area / aspect) ** 0.5))
            if 0 < cw <= w and 0 < ch <= h:
                return int(torch.randint(0, h - ch + 1, ())), int(torch.randint(0, w - cw + 1, ())), ch, cw
        ch, cw = h, w  # fallback: the central crop with the aspect clamped into `ratio`
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
''',
    "PCAColor": '''
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
''',
}
# Names the exported file defines: the generated class must not be one of them.
TAKEN_NAMES = frozenset({"torch", "nn", "_run", "Seq", "Residual", "Merge", "From", "Network", *CLASSES})


def own_sources() -> dict[str, str]:
    """The top-level definitions of nnshape/twins.py as source text, read without importing torch."""
    import ast
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "twins.py"
    text = path.read_text(encoding="utf-8")
    return {node.name: ast.get_source_segment(text, node) for node in ast.parse(text).body
            if isinstance(node, (ast.FunctionDef, ast.ClassDef))}
NEEDS = {
    "MHA": ("causal_mask",),
    "Layer": ("causal_mask",),
    "Attention": ("rotate",),
    "RandomCrop": ("pad",),
    "CenterCrop": ("pad",),
    "Resize": ("resize",),
    "RandomResizedCrop": ("resize",),
}

# Shape-only kinds whose twin applies one tensor function: kind -> expression of x.
FN_KINDS = {
    "permute": lambda a: f"x.permute{tuple(a.dims)!r}",
    "transpose": lambda a: f"x.transpose({a.dim0}, {a.dim1})",
    "reshape": lambda a: f"x.reshape(x.shape[0], *{tuple(a.shape)!r})",
    "select": lambda a: f"x.select({a.dim}, {a.index})",
}


def _kw(**kwargs) -> str:
    return ", ".join(f"{k}={_value(v)}" for k, v in kwargs.items())


def _crop(call) -> tuple:
    return tuple(call.kind.crop_size(call))


def _attention(m, call) -> str:
    bias = m.q_proj.bias is not None
    return _kw(dim=m.q_proj.in_features, dkv=m.k_proj.in_features, heads=m.heads, kv_heads=m.kv_heads, head_dim=m.head_dim,
               bias=bias, causal=m.causal, rope=m.rope, dropout=m.dropout)


def _random_crop(m, call) -> str:
    from ..kinds.augmentation import _ltrb

    a = call.args
    return _kw(size=_crop(call), padding=_ltrb(a.padding), pad_if_needed=a.pad_if_needed, fill=a.fill, padding_mode=a.padding_mode)


def _resize(m, call) -> str:
    a = call.args
    size = a.size[0] if len(a.size) == 1 else tuple(a.size)
    return _kw(size=size, max_size=a.max_size, interpolation=a.interpolation, antialias=a.antialias)


# nnshape's custom twins (kinds whose twin is not in torch.nn): kind -> (class written into the
# file, its constructor arguments read from the built twin `m` and the layer's Call).
CUSTOM = {
    "attention": ("Attention", _attention),
    "posenc": ("PositionalEncoding", lambda m, call: _kw(dropout=m.dropout.p, max_len=m.max_len)),
    "posemb": ("PositionalEmbedding", lambda m, call: _kw(max_len=m.weight.shape[1], dim=m.weight.shape[2], dropout=m.dropout.p)),
    "clstoken": ("ClassToken", lambda m, call: _kw(dim=m.token.shape[2], num_tokens=m.token.shape[1])),
    "scale": ("Scale", lambda m, call: _kw(size=m.weight.shape[0], trailing=m.weight.dim() - 1, init=float(call.args.init))),
    "droppath": ("DropPath", lambda m, call: _kw(p=m.p, scale_by_keep=m.scale_by_keep)),
    "hflip": ("RandomFlip", lambda m, call: _kw(dim=-1, p=call.args.p)),
    "vflip": ("RandomFlip", lambda m, call: _kw(dim=-2, p=call.args.p)),
    "randomcrop": ("RandomCrop", _random_crop),
    "centercrop": ("CenterCrop", lambda m, call: _kw(size=_crop(call))),
    "resize": ("Resize", _resize),
    "randomresizedcrop": ("RandomResizedCrop", lambda m, call: _kw(
        size=_crop(call), scale=tuple(call.args.scale), ratio=tuple(call.args.ratio),
        interpolation=call.args.interpolation, antialias=call.args.antialias)),
    "pcacolor": ("PCAColor", lambda m, call: _kw(alphastd=call.args.alphastd)),
}


class _Writer:
    def __init__(self, calls: dict):
        self.calls = calls
        self.needed: list[str] = []

    def need(self, name: str) -> None:
        for dep in NEEDS.get(name, ()):
            self.need(dep)
        if name not in self.needed:
            self.needed.append(name)

    # -------------------------------------------------------------- containers
    def items(self, module, level: int) -> str:
        pad = "    " * level
        lines = []
        for name, extra in module._nnshape_items:
            if isinstance(extra, str):
                # the builder's switch to another input: the analysis keeps the first input as
                # the current tensor (docs/spec-language.md), and so does the exported Network
                continue
            lines.append(f"{pad}({name!r}, {extra!r}, {self.expr(module._modules[name], level)}),")
        return "[\n" + "\n".join(lines) + "\n" + "    " * (level - 1) + "]"

    def expr(self, module, level: int) -> str:
        from .builder import _classes

        Seq, Residual, Merge, From, _ = _classes()
        kind = type(module)
        if kind is Residual:
            shortcut = module._nnshape_shortcut
            # always named "shortcut": the analysis refuses a body row of that name beside a shortcut
            sc = "" if shortcut is None else f", shortcut=Seq({self.items(module._modules[shortcut], level + 2)})"
            return f"Residual({self.items(module, level + 1)}{sc})"
        if kind is Merge:
            return f"Merge({module._nnshape_op!r}, {module._nnshape_dim}, {self.items(module, level + 1)})"
        if kind is From:
            return f"From({module._nnshape_source!r}, {module._nnshape_alias!r}, {self.items(module, level + 1)})"
        if kind is Seq:
            return f"Seq({self.items(module, level + 1)})"
        return self.layer(module)

    # -------------------------------------------------------------- layers
    def layer(self, module) -> str:
        call = self.calls.get(id(module))
        name = type(module).__name__
        if type(module).__module__.startswith("torch.nn"):
            return torch_expr(module)
        if call is not None and call.kind.name in CUSTOM:
            cls, args = CUSTOM[call.kind.name]
            self.need(cls)
            return f"{cls}({args(module, call)})"
        if call is not None and call.kind.name in FN_KINDS:
            self.need("Fn")
            text = FN_KINDS[call.kind.name](call.args)
            return f"Fn({text!r}, lambda x: {text})"
        if name == "SequenceOnly":
            self.need(name)
            return f"SequenceOnly({torch_expr(module.inner)})"
        if name == "MHA":
            self.need(name)
            return f"MHA({torch_expr(module.mha)}, causal={module.causal!r})"
        if name == "Layer":
            self.need(name)
            return f"Layer({torch_expr(module.layer)}, causal={module.causal!r})"
        if call is not None and type(call.kind).twin is not Kind.twin:  # a kind that states its twin as data
            twin = call.kind.twin(call)
            for own in twin.own_names():
                self.need(own)
            return twin.source()
        what = call.kind.name if call is not None else name
        raise ExportError(f"export cannot write the layer kind '{what}' as plain PyTorch", code="E0602")


def _value(v) -> str:
    import torch

    if isinstance(v, torch.Size):
        v = tuple(v)
    if isinstance(v, float) and math.isnan(v):
        return "float('nan')"
    return repr(v)


def _transformer_args(m) -> dict:
    import torch.nn.functional as F

    act = m.activation
    act_name = {F.relu: "relu", F.gelu: "gelu"}.get(act) if not hasattr(act, "forward") else type(act).__name__.lower()
    return {
        "d_model": m.self_attn.embed_dim,
        "nhead": m.self_attn.num_heads,
        "dim_feedforward": m.linear1.out_features,
        "dropout": m.dropout.p,
        "activation": act_name,
        "layer_norm_eps": m.norm1.eps,
        "batch_first": m.self_attn.batch_first,
        "norm_first": m.norm_first,
        "bias": m.linear1.bias is not None,
    }


def torch_expr(module) -> str:
    """``nn.Class(args)`` rebuilding a torch.nn module, checked by building it again on meta."""
    import torch
    from torch import nn

    cls = type(module)
    if cls.__name__ in ("TransformerEncoderLayer", "TransformerDecoderLayer"):
        kwargs = _transformer_args(module)
    else:
        kwargs = {}
        recurrent = issubclass(cls, nn.RNNBase)
        signature = inspect.signature(nn.RNNBase.__init__ if recurrent else cls.__init__)
        if cls is nn.RNN:
            kwargs["nonlinearity"] = module.nonlinearity
        skip = ("self", "device", "dtype") + (("mode",) if recurrent else ())  # an RNN's mode is its class
        for name, param in signature.parameters.items():
            if name in skip or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            if cls is nn.MultiheadAttention and name in ("bias", "add_bias_kv"):  # stored as parameters
                if name == "bias" and module.in_proj_bias is None:
                    kwargs[name] = False
                if name == "add_bias_kv" and module.bias_k is not None:
                    kwargs[name] = True
                continue
            if not hasattr(module, name):
                continue
            value = getattr(module, name)
            if isinstance(value, torch.Tensor) or (value is None and name == "bias"):
                value = value is not None  # a bias parameter stands for bias=True
            if isinstance(value, (torch.Tensor, nn.Module)) or callable(value):
                continue
            if param.default is not inspect.Parameter.empty and _same(value, param.default):
                continue
            kwargs[name] = value
    text = f"nn.{cls.__name__}(" + ", ".join(f"{k}={_value(v)}" for k, v in kwargs.items()) + ")"
    with torch.device("meta"):
        rebuilt = getattr(nn, cls.__name__)(**kwargs)  # what the written text constructs
    same = repr(rebuilt) == repr(module) and [(k, tuple(v.shape)) for k, v in rebuilt.state_dict().items()] == [
        (k, tuple(v.shape)) for k, v in module.state_dict().items()
    ]
    if not same:
        raise ExportError(f"export could not write {cls.__name__} faithfully", found=repr(module), code="E0602")
    return text


def _same(a, b) -> bool:
    try:
        return type(a) is type(b) and bool(a == b)
    except Exception:  # noqa: BLE001 - any comparison failure means "not the default"
        return False


def export_source(summary: Summary, plan: Plan, *, class_name: str = "Model") -> str:
    """The text of a Python file that defines ``class_name`` (an nn.Module) and imports only torch."""
    import torch

    from .builder import build

    if class_name in TAKEN_NAMES or class_name in own_sources() or not class_name.isidentifier() or keyword.iskeyword(class_name):
        raise SpecArgumentError(
            f"cannot name the exported class {class_name!r}",
            expected="a Python identifier that the exported file does not already define",
            found=repr(class_name),
            hint="choose another --class-name",
            code="E0316",
        )
    built = build(summary, plan, device=torch.device("meta"))
    writer = _Writer(built.calls)
    body = writer.items(built.model, 3)
    inputs = [name for name, _ in plan.inputs]
    shapes = ", ".join(f"{name}: {'x'.join(str(d) for d in info.shape[1:])} {info.dtype}" for name, info in plan.inputs)
    out = [
        f'"""{class_name}: the network of {summary.source}, written by `nnshape export`.',
        "",
        "Submodule names follow the rows of `nnshape summary`. Inputs (batch first): " + shapes + ".",
        f"Parameters: {summary.total_params:,}; output (batch {summary.batch}): {tuple(summary.output_shape)}.",
        '"""',
        "",
        "import torch",
        "from torch import nn",
        "",
        CONTAINERS.strip("\n"),
    ]
    sources = own_sources() if any(name not in CLASSES for name in writer.needed) else {}
    for name in writer.needed:
        out += ["", (CLASSES[name] if name in CLASSES else sources[name]).strip("\n")]
    out += [
        "",
        "",
        f"class {class_name}(Network):",
        "    def __init__(self):",
        f"        super().__init__({inputs!r}, {plan.output!r}, {body})",
        "",
    ]
    return "\n".join(out) + "\n"
