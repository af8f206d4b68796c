"""The parameter tensors of a layer, as its PyTorch twin holds them, and how tensor parallelism splits them.

Sharding works tensor by tensor: FSDP2 (``fully_shard``) cuts every parameter along dim 0 and pads
the pieces to equal size, ``ZeroRedundancyOptimizer`` hands whole parameters to ranks, and a
Megatron-style tensor-parallel layer splits a weight's rows (column parallel) or columns (row
parallel). So the plan needs each layer's tensors with their shapes, not only its parameter count.

The table covers the kinds that hold parameters in practice; a kind it does not know is counted as
one flat tensor of its parameter count (exact for every figure except FSDP's padding of that
tensor, which is then at most ``dp − 1`` elements off). ``tests/test_planning.py`` checks every
entry against the twin's ``named_parameters()``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..symbolic import Dim

# how tensor parallelism cuts a tensor: dim 0 (rows: column-parallel output features, vocabulary
# rows, heads), dim 1 (columns: a row-parallel layer's input features), or not at all
ROWS, COLS, NONE = "rows", "cols", "none"


@dataclass(frozen=True, slots=True)
class Tensor:
    """One parameter tensor of a layer: its name inside the twin, its shape, and its TP cut."""

    name: str
    shape: tuple[Dim, ...]
    cut: str = NONE  # how the layer's tensor-parallel role splits it (ROWS, COLS, NONE)
    parts: int = 1  # into how many pieces the cut divides that dim (the TP degree, or the KV heads)
    grad_whole: bool = False  # its gradient is held whole on every TP rank (torch's vocabulary-parallel embedding)

    @property
    def numel(self) -> Dim:
        return _prod(self.shape)

    @property
    def local(self) -> tuple[Dim, ...]:
        """The piece one tensor-parallel rank holds."""
        if self.cut == NONE or self.parts == 1:
            return self.shape
        axis = 0 if self.cut == ROWS else 1
        return self.shape[:axis] + (self.shape[axis] // self.parts,) + self.shape[axis + 1:]

    @property
    def local_numel(self) -> Dim:
        return _prod(self.local)


def _prod(shape) -> Dim:
    n: Dim = 1
    for d in shape:
        n = n * d
    return n


def with_parts(tensors: list[Tensor], tp: int, kv_parts: int | None = None) -> list[Tensor]:
    """Give every cut tensor its number of pieces: ``tp``, or ``kv_parts`` for the key/value
    projections of grouped-query attention (one KV head per rank when there are fewer KV heads
    than ranks, as Megatron replicates them)."""
    out = []
    for t in tensors:
        if t.cut == NONE:
            out.append(t)
        elif kv_parts is not None and t.name.startswith(("k_proj.", "v_proj.")):
            out.append(Tensor(t.name, t.shape, t.cut, kv_parts, t.grad_whole))
        else:
            out.append(Tensor(t.name, t.shape, t.cut, tp, t.grad_whole))
    return out


def _ints(value, rank: int) -> tuple:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * rank


def _linear(prefix: str, out: Dim, inp: Dim, bias: bool, cut: str = NONE) -> list[Tensor]:
    """nn.Linear(inp, out): weight out×in, bias out. Column parallel (ROWS) cuts both; row parallel
    (COLS) cuts the weight's columns and keeps the bias whole (it is added after the all-reduce)."""
    tensors = [Tensor(prefix + "weight", (out, inp), cut)]
    if bias:
        tensors.append(Tensor(prefix + "bias", (out,), ROWS if cut == ROWS else NONE))
    return tensors


def _norm(prefix: str, shape: tuple, weight: bool, bias: bool) -> list[Tensor]:
    out = []
    if weight:
        out.append(Tensor(prefix + "weight", shape))
    if bias:
        out.append(Tensor(prefix + "bias", shape))
    return out


def _mha(prefix: str, dim: Dim, dkv: Dim, bias: bool, bias_kv: bool, split: bool) -> list[Tensor]:
    """nn.MultiheadAttention: a packed in-projection when k and v have the query's width."""
    rows = ROWS if split else NONE
    if dkv == dim:
        out = [Tensor(prefix + "in_proj_weight", (3 * dim, dim), rows)]
    else:
        out = [Tensor(prefix + "q_proj_weight", (dim, dim), rows), Tensor(prefix + "k_proj_weight", (dim, dkv), rows),
               Tensor(prefix + "v_proj_weight", (dim, dkv), rows)]
    if bias:
        out.append(Tensor(prefix + "in_proj_bias", (3 * dim,), rows))
    if bias_kv:
        out += [Tensor(prefix + "bias_k", (1, 1, dim)), Tensor(prefix + "bias_v", (1, 1, dim))]
    out += _linear(prefix + "out_proj.", dim, dim, bias, COLS if split else NONE)
    return out


def _transformer(call, split: bool) -> list[Tensor]:
    a = call.args
    d = call.x.shape[-1]
    decoder = call.kind.name == "decoderlayer"
    out = _mha("self_attn.", d, d, a.bias, False, split)
    if decoder:
        out += _mha("multihead_attn.", d, d, a.bias, False, split)
    out += _linear("linear1.", a.dim_feedforward, d, a.bias, ROWS if split else NONE)
    out += _linear("linear2.", d, a.dim_feedforward, a.bias, COLS if split else NONE)
    for i in range(1, 4 if decoder else 3):
        out += _norm(f"norm{i}.", (d,), True, a.bias)
    return out


def _attention(call, split: bool, kv_split: bool) -> list[Tensor]:
    a = call.args
    dim = call.x.shape[-1]
    kv = call.tensors.get("kv", call.x)
    dkv = kv.shape[-1]
    heads = a.num_heads
    kv_heads = a.kv_heads or heads
    hd = a.head_dim if a.head_dim is not None else dim // heads
    rows = ROWS if split else NONE
    kv_rows = ROWS if split and kv_split else NONE
    return (
        _linear("q_proj.", heads * hd, dim, a.bias, rows)
        + _linear("k_proj.", kv_heads * hd, dkv, a.bias, kv_rows)
        + _linear("v_proj.", kv_heads * hd, dkv, a.bias, kv_rows)
        + _linear("o_proj.", dim, heads * hd, a.bias, COLS if split else NONE)
    )


def _recurrent(call) -> list[Tensor]:
    a = call.args
    name = call.kind.name
    gates = {"lstm": 4, "gru": 3}.get(name, 1)
    h = a.hidden_size
    proj = getattr(a, "proj_size", 0) or 0
    out_h = proj or h
    dirs = 2 if a.bidirectional else 1
    features = call.x.shape[-1]
    out: list[Tensor] = []
    for layer in range(a.num_layers):
        inp = features if layer == 0 else dirs * out_h
        for d in range(dirs):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            out += [Tensor("weight_ih" + sfx, (gates * h, inp)), Tensor("weight_hh" + sfx, (gates * h, out_h))]
            if a.bias:
                out += [Tensor("bias_ih" + sfx, (gates * h,)), Tensor("bias_hh" + sfx, (gates * h,))]
            if proj:
                out.append(Tensor("weight_hr" + sfx, (proj, h)))
    return out


def param_tensors(call, params: Dim, role: str = "replicated") -> list[Tensor]:
    """The parameter tensors of one layer (``call`` as the analysis bound it, ``params`` its count),
    with the cuts of its tensor-parallel ``role`` (see :mod:`nnshape.planning.walk`)."""
    if params == 0:
        return []
    name = call.kind.name
    a = call.args
    x = call.x.shape
    if name == "linear":
        cut = {"column": ROWS, "row": COLS}.get(role, NONE)
        return _linear("", a.out_features, x[-1], a.bias, cut)
    if name == "embedding":
        # torch's RowwiseParallel embedding computes its gradient replicated: every rank holds it whole
        return [Tensor("weight", (a.num_embeddings, a.embedding_dim), ROWS if role == "vocab" else NONE, grad_whole=role == "vocab")]
    if name == "attention":
        return _attention(call, role in ("heads", "heads-kv-replicated"), role == "heads")
    if name == "mha":
        kv = call.tensors.get("kv", call.x)
        return _mha("mha.", x[-1], kv.shape[-1], a.bias, a.add_bias_kv, role == "heads")
    if name in ("encoderlayer", "decoderlayer"):
        return _transformer(call, role == "heads")
    if name.startswith(("conv", "convtranspose")) and name[-2:] in ("1d", "2d", "3d"):
        rank = int(name[-2])
        k = _ints(a.kernel_size, rank)
        cin = x[1]
        weight = (cin, a.out_channels // a.groups) if name.startswith("convtranspose") else (a.out_channels, cin // a.groups)
        out = [Tensor("weight", weight + k)]
        if a.bias:
            out.append(Tensor("bias", (a.out_channels,)))
        return out
    if name == "layernorm":
        from ..kinds.norm import _normalized_shape

        return _norm("", tuple(_normalized_shape(call)), a.elementwise_affine, a.elementwise_affine and a.bias)
    if name == "rmsnorm":
        from ..kinds.norm import _normalized_shape

        return _norm("", tuple(_normalized_shape(call)), a.elementwise_affine, False)
    if name.startswith(("batchnorm", "instancenorm", "groupnorm")):
        return _norm("", (x[1],), True, True)
    if name == "posemb":
        return [Tensor("weight", (1, a.max_len, x[-1]))]
    if name == "clstoken":
        return [Tensor("token", (1, a.num_tokens, x[-1]))]
    if name == "prelu":
        return [Tensor("weight", (a.num_parameters,))]
    if name == "scale":
        d = call.kind.dim(call)
        return [Tensor("weight", (x[d],) + (1,) * (call.x.rank - 1 - d))]
    if name in ("lstm", "gru", "rnn"):
        return _recurrent(call)
    return [Tensor("(all)", (params,))]  # not in the table: one flat tensor
