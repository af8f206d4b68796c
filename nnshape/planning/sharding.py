"""Model states per data-parallel rank: weights, gradients, optimizer state and fp32 master weights
under ZeRO stage 0–3, laid out the way PyTorch's own implementations lay them out.

* **ZeRO-0** (DDP): every rank holds everything.
* **ZeRO-1** (``torch.distributed.optim.ZeroRedundancyOptimizer``): the optimizer state (and the
  fp32 master weights under ``--amp``) of *whole parameters*, handed out greedily: parameters sorted
  by size, largest first, each to the rank holding the fewest elements so far (the lowest rank on a
  tie). Ranks may differ by up to one parameter's size.
* **ZeRO-2**: as ZeRO-1, and each rank keeps only the gradients of the parameters it updates.
* **ZeRO-3** (FSDP2 ``fully_shard``): every parameter is cut along dim 0 into ``dp`` chunks of
  ``ceil(rows / dp)`` rows (``torch.chunk``, so the last ranks may get fewer rows, or none).
  Parameters and gradients live in storage padded to the full chunk on every rank; the optimizer
  state is created for the unpadded chunk, so rank 0 holds the most.

Buffers (BatchNorm statistics) are never sharded. Under tensor parallelism a vocabulary-split
embedding's gradient counts whole, as torch's ``RowwiseParallel`` embedding produces it
(replicated); Megatron's ``VocabParallelEmbedding`` keeps only the shard. The step counter of Adam (one 4-byte scalar per
parameter tensor) is not counted, here as in the single-device figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..limits import MAX_PLAN_TENSORS
from ..symbolic import Dim
from .tensors import Tensor


@dataclass(frozen=True)
class States:
    """Bytes of each kind of model state on the busiest rank, and per rank."""

    weights: Dim
    grads: Dim
    optimizer: Dim
    master: Dim
    per_rank: dict[str, list] = field(default_factory=dict)  # weights/grads/optimizer/master -> bytes per dp rank
    padding: Dim = 0  # bytes of FSDP padding in each rank's weights
    exact: bool = True  # False: too many tensors for the greedy ZeRO-1/2 partition; an even split is used

    @property
    def total(self) -> Dim:
        return self.weights + self.grads + self.optimizer + self.master


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def fsdp_rows(rows: int, dp: int, rank: int) -> int:
    """Rows of a dim-0 chunk FSDP2 gives ``rank`` (torch.chunk into ``dp`` pieces)."""
    chunk = _ceil(rows, dp)
    return max(0, min(chunk, rows - rank * chunk))


def greedy_partition(sizes: list[tuple[int, int]], dp: int) -> list[int]:
    """Elements per rank when ZeroRedundancyOptimizer hands out parameters of the given
    ``(numel, count)`` sizes: largest first, each to the least-loaded rank (lowest rank on a tie)."""
    import heapq

    heap = [(0, r) for r in range(dp)]
    for numel, count in sorted(sizes, key=lambda s: -s[0]):
        for _ in range(count):
            load, rank = heapq.heappop(heap)
            heapq.heappush(heap, (load + numel, rank))
    loads = [0] * dp
    for load, rank in heap:
        loads[rank] = load
    return loads


def shard(
    tensors: list[tuple[Tensor, bool, int]], buffers: Dim, *, dp: int, zero: int, param_bytes: int,
    states: int, state_bytes: int, amp: bool,
) -> States:
    """Model states per rank of ``dp`` data-parallel ranks under ZeRO ``zero`` for a list of
    ``(tensor, trainable, count)`` (each tensor as one tensor-parallel rank holds it)."""
    b, k, sb = param_bytes, states, state_bytes
    master_b = 4 if amp else 0
    full_all = sum((t.local_numel * n for t, _, n in tensors), 0)
    full_train = sum((t.local_numel * n for t, tr, n in tensors if tr), 0)
    grad_train = sum(((t.numel if t.grad_whole else t.local_numel) * n for t, tr, n in tensors if tr), 0)
    ranks = range(dp)
    exact = True
    padding = 0
    if zero == 0 or dp == 1:
        w = [full_all * b] * dp
        g = [grad_train * b] * dp
        own = [full_train] * dp
    elif zero in (1, 2):
        w = [full_all * b] * dp
        count = sum((n for _, tr, n in tensors if tr), 0)
        if count <= MAX_PLAN_TENSORS:
            merged: dict[int, int] = {}
            for t, tr, n in tensors:
                if tr:
                    merged[t.local_numel] = merged.get(t.local_numel, 0) + n
            own = greedy_partition(list(merged.items()), dp)
        else:
            exact = False
            own = [_ceil(full_train, dp)] * dp
        g = [grad_train * b] * dp if zero == 1 else [o * b for o in own]
    else:  # zero 3: FSDP2
        padded_all = padded_train = 0
        own = [0] * dp
        for t, tr, n in tensors:
            shape = t.local
            rows = shape[0] if shape else 1
            rest = t.local_numel // rows if rows else 0
            chunk = _ceil(rows, dp) * rest * n
            padded_all += chunk
            if tr:
                padded_train += chunk
                for r in ranks:
                    own[r] += fsdp_rows(rows, dp, r) * rest * n
        w = [padded_all * b] * dp
        g = [padded_train * b] * dp
        padding = padded_all * b - _ceil(full_all, dp) * b
    o = [x * k * sb for x in own]
    m = [x * master_b for x in own]
    buf = buffers * b
    w = [x + buf for x in w]
    totals = [w[r] + g[r] + o[r] + m[r] for r in ranks]
    top = max(ranks, key=lambda r: (totals[r], -r))
    return States(w[top], g[top], o[top], m[top], {"weights": w, "grads": g, "optimizer": o, "master_weights": m},
                  padding, exact)
