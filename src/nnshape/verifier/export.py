"""``nnshape export``: write the network as a standalone, readable PyTorch file (imports only torch).

The network is built once on the meta device (no memory) by the verifier's builder; each layer
twin is then written back as source. A ``torch.nn`` twin becomes its constructor call, read from
the module's attributes and checked by rebuilding it (same repr, same parameter shapes). Twins
that are small nnshape wrappers are written with an inlined class from :data:`CLASSES`.
Kinds with no entry yet are refused with a clear error rather than exported wrongly.
"""

from __future__ import annotations

import inspect
import math

from ..errors import NNShapeError
from ..plan import Plan
from ..summary import Summary


class ExportError(NNShapeError):
    code = "E0602"


CONTAINERS = '''
def _run(owner, x, env):
    for name, extra in owner.items:
        if isinstance(extra, str):  # an `input` statement: the current tensor becomes that input
            x = env[extra]
        elif extra is None:
            x = owner._modules[name](x, env)
        else:
            x = owner._modules[name](x, *(env[t] for t in extra))
    return x


class Seq(nn.Module):
    """Statements in order (a block, a def call, a branch, one pass of a repeat)."""

    def __init__(self, items=()):
        super().__init__()
        self.items = []
        for name, extra, module in items:
            if module is not None:
                self.add_module(name, module)
            self.items.append((name, extra))

    def forward(self, x, env):
        return _run(self, x, env)


class Residual(Seq):
    """body(x) + x, or body(x) + shortcut(x)."""

    def __init__(self, items=(), shortcut=None):
        super().__init__(items)
        self.shortcut = shortcut

    def forward(self, x, env):
        return _run(self, x, env) + (x if self.shortcut is None else self.shortcut(x, env))


class Merge(Seq):
    """concat / add / multiply of branches that all read the same input."""

    def __init__(self, op, dim, items=()):
        super().__init__(items)
        self.op, self.dim = op, dim

    def forward(self, x, env):
        outs = [self._modules[name](x, env) for name, _ in self.items]
        if self.op == "concat":
            return torch.cat(outs, dim=self.dim)
        y = outs[0]
        for out in outs[1:]:
            y = y + out if self.op == "add" else y * out
        return y


class From(Seq):
    """Run the body on a named tensor; keep the result under `alias`."""

    def __init__(self, source, alias, items=()):
        super().__init__(items)
        self.source, self.alias = source, alias

    def forward(self, x, env):
        y = _run(self, env[self.source], env)
        if self.alias:
            env[self.alias] = y
        return y


class Network(Seq):
    def __init__(self, inputs, output, items=()):
        super().__init__(items)
        self.inputs, self.output = inputs, output

    def forward(self, *tensors):
        env = dict(zip(self.inputs, tensors))
        y = _run(self, tensors[-1], env)
        return env[self.output] if self.output else y
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
}
NEEDS = {"MHA": ("causal_mask",), "Layer": ("causal_mask",)}

# Shape-only kinds whose twin applies one tensor function: kind -> expression of x.
FN_KINDS = {
    "permute": lambda a: f"x.permute{tuple(a.dims)!r}",
    "transpose": lambda a: f"x.transpose({a.dim0}, {a.dim1})",
    "reshape": lambda a: f"x.reshape(x.shape[0], *{tuple(a.shape)!r})",
    "select": lambda a: f"x.select({a.dim}, {a.index})",
    "hflip": lambda a: "x.flip(-1)",
    "vflip": lambda a: "x.flip(-2)",
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
                lines.append(f"{pad}({name!r}, {extra!r}, None),")
            else:
                lines.append(f"{pad}({name!r}, {extra!r}, {self.expr(module._modules[name], level)}),")
        return "[\n" + "\n".join(lines) + "\n" + "    " * (level - 1) + "]"

    def expr(self, module, level: int) -> str:
        from .builder import _classes

        Seq, Residual, Merge, From, _ = _classes()
        kind = type(module)
        if kind is Residual:
            shortcut = module._nnshape_shortcut
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
        what = call.kind.name if call is not None else name
        raise ExportError(
            f"export cannot write the layer kind '{what}' as plain PyTorch yet",
            hint="`nnshape verify` still checks it; export supports torch.nn layers, recurrent, mha, transformer layers and shape functions",
        )


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
        signature = inspect.signature(nn.RNNBase.__init__ if issubclass(cls, nn.RNNBase) else cls.__init__)
        if cls is nn.RNN:
            kwargs["nonlinearity"] = module.nonlinearity
        for name, param in signature.parameters.items():
            if name in ("self", "device", "dtype", "mode") or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                continue
            if name == "bias" and cls is nn.MultiheadAttention:
                kwargs[name] = module.in_proj_bias is not None
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
    for name in writer.needed:
        out += ["", CLASSES[name].strip("\n")]
    out += [
        "",
        "",
        f"class {class_name}(Network):",
        "    def __init__(self):",
        f"        super().__init__({inputs!r}, {plan.output!r}, {body})",
        "",
    ]
    return "\n".join(out) + "\n"
