"""The parameter tensors of a layer and how tensor parallelism splits them.

Sharding works tensor by tensor: FSDP2 (``fully_shard``) cuts every parameter along dim 0 and pads
the pieces to equal size, ``ZeroRedundancyOptimizer`` hands whole parameters to ranks, and a
Megatron-style tensor-parallel layer splits a weight's rows (column parallel) or columns (row
parallel). So the plan needs each layer's tensors with their shapes, not only its parameter count.

The tensors themselves (names and shapes, as the twin holds them) are each kind's own rule,
``Kind.param_tensors`` (tests/test_registry.py checks them against the twin's
``named_parameters()``). This module adds only the tensor-parallel cut: which tensor a layer's role
(nnshape.planning.roles) splits, read from the tensor's name.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..symbolic import Dim
from .roles import COLUMN, HEADS, ROW, VOCAB

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


# the cuts of a layer whose heads are split (attention, mha, encoderlayer/decoderlayer; roles.py),
# by the tensor's module (every tensor of it) or its module and name or its own name, as the twins
# name them: q/k/v and the feed-forward's first linear column parallel (rows); the output
# projection and the second linear row parallel (columns; their bias is added after the all-reduce,
# whole); norms and anything else whole
HEADS_CUTS = {
    "q_proj": ROWS, "k_proj": ROWS, "v_proj": ROWS, "linear1": ROWS,  # attention's projections; the FFN's first linear
    "in_proj_weight": ROWS, "in_proj_bias": ROWS,  # nn.MultiheadAttention's packed q/k/v
    "q_proj_weight": ROWS, "k_proj_weight": ROWS, "v_proj_weight": ROWS,  # ... unpacked (kdim ≠ D)
    "o_proj.weight": COLS, "out_proj.weight": COLS, "linear2.weight": COLS,
}


def cut_of(role: str, name: str) -> str:
    """How a layer of tensor-parallel ``role`` cuts its tensor ``name``."""
    if role in (COLUMN, VOCAB):  # a column-parallel linear (weight and bias), a vocabulary-parallel embedding
        return ROWS
    if role == ROW:
        return COLS if name == "weight" else NONE
    if role == HEADS:
        module, _, leaf = name.rpartition(".")
        owner = module.rpartition(".")[2]
        return HEADS_CUTS.get(f"{owner}.{leaf}", HEADS_CUTS.get(owner, HEADS_CUTS.get(leaf, NONE)))
    return NONE


def param_tensors(call, params: Dim, role: str = "replicated") -> list[Tensor]:
    """The parameter tensors of one layer (``call`` as the analysis bound it, ``params`` its count),
    from its kind's rule, with the cuts of its tensor-parallel ``role``."""
    if params == 0:
        return []
    tensors = call.kind.param_tensors(call)
    if not tensors:  # pragma: no cover - tests/test_registry.py holds every kind with params to its rule
        return [Tensor("(all)", (params,))]
    # torch's RowwiseParallel embedding computes its gradient replicated: every rank holds it whole
    return [Tensor(name, tuple(shape), cut_of(role, name), grad_whole=role == VOCAB) for name, shape in tensors]
