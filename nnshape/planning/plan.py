"""The per-device plan: model states, activations and KV cache of the busiest device, and the verdict.

``device_plan(summary, tree, cfg, reanalyze)`` puts together the pieces of this package: the
tensor-parallel roles (:mod:`.roles`), one rank's replay of the network with its blocks
(:mod:`.replay`), the ZeRO/FSDP layout of the model states (:mod:`.sharding`), pipeline stages and
the 1F1B schedule, and, against a budget, the largest micro-batch (training) or context and
concurrency (serving) that fit. The formulas are in docs/will-it-fit.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..errors import SpecLimitError
from ..limits import MAX_FIT_ANALYSES
from ..memory import OPTIMIZER_STATES
from ..symbolic import Poly
from ..tensor import DTYPE_BYTES
from .config import Parallel
from .replay import Replay, Unit
from .roles import Roles
from .sharding import States, shard

MAX_SEARCHED = 2**40  # the largest batch or context a search tries


@dataclass(frozen=True)
class Stage:
    """One pipeline stage on its busiest data-parallel rank."""

    index: int
    first: str  # path of its first block
    last: str
    params: int  # parameters one rank of it holds (after tensor parallelism, before ZeRO)
    in_flight: int  # micro-batches whose activations it holds at once (1F1B: pp − index)
    weights: int
    grads: int
    optimizer: int
    master_weights: int
    activations: int
    kv_cache: int

    @property
    def total(self) -> int:
        return self.weights + self.grads + self.optimizer + self.master_weights + self.activations + self.kv_cache

    def to_dict(self) -> dict:
        return {
            "index": self.index, "first": self.first, "last": self.last, "params": self.params, "in_flight": self.in_flight,
            "weights": self.weights, "grads": self.grads, "optimizer": self.optimizer, "master_weights": self.master_weights,
            "activations": self.activations, "kv_cache": self.kv_cache, "total": self.total,
        }


@dataclass(frozen=True)
class DevicePlan:
    """What the busiest device holds, and whether it fits (bytes throughout)."""

    config: Parallel
    mode: str  # training | serving
    batch: int  # the micro-batch (training) or concurrency (serving) the figures are for
    context: int | None  # serving: tokens per sequence in the KV cache (None: the spec's own lengths)
    stage: Stage  # the busiest stage
    stages: tuple[Stage, ...]
    ranks: dict  # model states per data-parallel rank of the busiest stage
    padding: int  # FSDP padding in the busiest rank's weights
    buffers: int  # bytes of buffers (never sharded) in the busiest stage's weights
    saved_per_micro_batch: int  # activations saved by one micro-batch of the busiest stage (after checkpointing)
    recompute: int  # full checkpointing: the largest block's activations, rebuilt during backward
    tp_split: int  # layers split by tensor parallelism
    tp_replicated: tuple[tuple[str, str], ...]  # (path, why) of parametered layers kept whole
    tp_whole: dict  # tp > 1: parameters every rank of the busiest stage holds whole, by what they are
    budget: int | None = None
    fits: bool | None = None
    largest: dict = field(default_factory=dict)  # micro_batch | context, concurrency -> int (0: nothing fits)
    notes: tuple[str, ...] = ()

    @property
    def weights(self) -> int:
        return self.stage.weights

    @property
    def total(self) -> int:
        return self.stage.total

    @property
    def headroom(self) -> int | None:
        return None if self.budget is None else self.budget - self.total

    def per_device(self) -> dict:
        s = self.stage
        return {"weights": s.weights, "grads": s.grads, "optimizer": s.optimizer, "master_weights": s.master_weights,
                "activations": s.activations, "kv_cache": s.kv_cache, "total": s.total}

    def to_dict(self) -> dict:
        return {
            **self.config.to_dict(),
            "mode": self.mode,
            "devices": self.config.devices,
            "batch": self.batch,
            "context": self.context,
            "stage": self.stage.index,
            "stages": [s.to_dict() for s in self.stages],
            "ranks": self.ranks,
            "fsdp_padding": self.padding,
            "buffers": self.buffers,
            "saved_per_micro_batch": self.saved_per_micro_batch,
            "in_flight": self.stage.in_flight,
            "recompute": self.recompute,
            "tensor_parallel": {"split": self.tp_split, "replicated": [{"path": p, "why": w} for p, w in self.tp_replicated],
                                "whole": self.tp_whole},
            "budget": self.budget,
            "fits": self.fits,
            "headroom": self.headroom,
            "largest": self.largest,
            "notes": list(self.notes),
        }


# ---------------------------------------------------------------------------- pipeline stages


def cut_stages(units: list[Unit], pp: int) -> list[list[tuple[int, int, int]]]:
    """Contiguous stages of ``(unit index, first pass, passes)`` pieces, balancing parameters as
    evenly as whole passes allow (the largest stage as small as it can be)."""
    weights = [(i, u.params // u.copies if u.copies else 0, u.copies) for i, u in enumerate(units)]
    total_passes = sum(c for _, _, c in weights)
    if pp > total_passes:
        raise SpecLimitError(
            f"pipeline of {pp} stages, but the network has {total_passes} blocks and top-level layers to cut at",
            expected=f"pp ≤ {total_passes}",
            hint="stages are cut between top-level layers and between the passes of a top-level repeat",
            code="E0533",
        )

    def greedy(cap: int):
        stages: list[list[tuple[int, int, int]]] = [[]]
        load = 0
        for i, w, c in weights:
            start = 0
            while start < c:
                room = c - start if w == 0 else min(c - start, (cap - load) // w)
                if room <= 0:
                    if not stages[-1]:
                        return None  # one pass is heavier than cap
                    stages.append([])
                    load = 0
                    continue
                stages[-1].append((i, start, room))
                load += room * w
                start += room
        return stages

    low = max(w for _, w, _ in weights)
    high = max(sum(w * c for _, w, c in weights), low)
    while low < high:
        mid = (low + high) // 2
        got = greedy(mid)
        if got is not None and len(got) <= pp:
            high = mid
        else:
            low = mid + 1
    stages = [s for s in greedy(low) or [] if s]
    while len(stages) < pp:  # fewer stages than asked: split the one with the most passes
        k = max(range(len(stages)), key=lambda j: (sum(p for _, _, p in stages[j]), -j))
        flat = [(i, f + q) for i, f, p in stages[k] for q in range(p)]
        half = len(flat) // 2
        stages[k:k + 1] = [_runs(flat[:half]), _runs(flat[half:])]
    return stages


def _runs(passes: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    out: list[tuple[int, int, int]] = []
    for i, f in passes:
        if out and out[-1][0] == i and out[-1][1] + out[-1][2] == f:
            out[-1] = (i, out[-1][1], out[-1][2] + 1)
        else:
            out.append((i, f, 1))
    return out


# ---------------------------------------------------------------------------- the plan


@dataclass
class _Setup:
    cfg: Parallel
    param_bytes: int
    states: int
    state_bytes: int
    amp: bool


def _check_concrete(summary) -> None:
    m = summary.memory
    symbolic = [v for v in (summary.total_params, m.saved_for_backward_bytes) if isinstance(v, Poly)]
    if symbolic or m.inference_peak_bytes is None:
        names = sorted({s for v in symbolic for s in v.symbols}) or ["the symbolic sizes"]
        raise SpecLimitError(
            "a per-device plan needs concrete sizes",
            expected="every size bound to a number",
            found="sizes that depend on " + ", ".join(names),
            hint="bind them with --set NAME=VALUE (or `set` in a budget file)",
            code="E0532",
        )


def _states(stage_units: list[tuple[Unit, int]], setup: _Setup) -> States:
    tensors = []
    buffers = 0
    for unit, passes in stage_units:
        tensors.extend((t, tr, n * passes) for t, tr, n in unit.tensors)
        buffers += unit.buffers * passes
    c = setup.cfg
    return shard(tensors, buffers, dp=c.dp, zero=c.zero, param_bytes=setup.param_bytes, states=setup.states,
                 state_bytes=setup.state_bytes, amp=setup.amp)


def _activations(stage_units: list[tuple[Unit, int]], mode: str) -> tuple[int, int]:
    """(bytes saved by one micro-batch, bytes rebuilt at once during backward) of a stage."""
    saved = recompute = 0
    for unit, passes in stage_units:
        per_pass = unit.saved // unit.copies
        if mode == "full" and unit.checkpointed:
            saved += unit.input_bytes * passes
            recompute = max(recompute, per_pass)
        elif mode == "selective":
            saved += (unit.saved - unit.scores) // unit.copies * passes
        else:
            saved += per_pass * passes
    return saved, recompute


def _kv(stage_units, batch: int, context: int | None) -> int:
    total = 0
    for unit, passes in stage_units:
        per = unit.kv_token * context + unit.kv_fixed if context is not None else unit.kv_spec
        total += per * passes * batch
    return total


class _Evaluation:
    """Everything that depends on the batch: one replay at one batch, cut into the given stages."""

    def __init__(self, summary, tree, setup: _Setup, cuts=None):
        cfg = setup.cfg
        self.summary = summary
        self.roles = Roles(tree, cfg.tp)
        self.replay = Replay(summary, tree, self.roles, summary.memory.dtype)
        self.cuts = cuts if cuts is not None else cut_stages(self.replay.units, cfg.pp)
        units = self.replay.units
        self.stage_units = [[(units[i], passes) for i, _, passes in cut] for cut in self.cuts]


def device_plan(summary, tree, cfg: Parallel, reanalyze: Callable[[int], tuple]) -> DevicePlan:
    """The plan of ``cfg`` for an analyzed network (``tree``: its recorded plan);
    ``reanalyze(batch)`` gives (summary, tree) at another batch."""
    _check_concrete(summary)
    m = summary.memory
    amp = m.amp
    setup = _Setup(cfg, DTYPE_BYTES[m.dtype], OPTIMIZER_STATES[m.optimizer], 4 if amp else DTYPE_BYTES[m.dtype], amp)
    serving = cfg.serve
    batch = (cfg.concurrency if serving else cfg.micro_batch) or summary.batch
    if batch != summary.batch:
        summary, tree = reanalyze(batch)
        _check_concrete(summary)
    ev = _Evaluation(summary, tree, setup)
    states = [_states(su, setup) for su in ev.stage_units]

    def stages_at(ev_b: _Evaluation, batch_b: int, context: int | None) -> list[Stage]:
        out = []
        peak = ev_b.replay.tracker.peak
        for k, su in enumerate(ev_b.stage_units):
            st = states[k]
            first = ev_b.replay.units[ev_b.cuts[k][0][0]].pass_path(ev_b.cuts[k][0][1])
            i, f, p = ev_b.cuts[k][-1]
            last = ev_b.replay.units[i].pass_path(f + p - 1)
            params = sum(u.params // u.copies * p for u, p in su)
            if serving:
                weights = sum(sum(t.local_numel * n for t, _, n in u.tensors) * p + u.buffers * p for u, p in su) * setup.param_bytes
                out.append(Stage(k, first, last, params, 1, weights, 0, 0, 0, peak, _kv(su, batch_b, context)))
            else:
                saved, recompute = _activations(su, cfg.checkpoint)
                in_flight = cfg.pp - k
                out.append(Stage(k, first, last, params, in_flight, st.weights, st.grads, st.optimizer, st.master,
                                 in_flight * saved + recompute, 0))
        return out

    stages = stages_at(ev, batch, cfg.context)
    top = max(stages, key=lambda s: (s.total, -s.index))
    saved, recompute = _activations(ev.stage_units[top.index], cfg.checkpoint) if not serving else (0, 0)
    budget = cfg.device_memory
    if cfg.gpu is not None:
        from .gpus import gpu_bytes

        budget = gpu_bytes(cfg.gpu)
    notes = _notes(ev, states[top.index], cfg, serving)
    largest: dict = {}
    if budget is not None:
        cache: dict[int, int] = {batch: top.total}

        def total_at(b: int) -> int:
            if b not in cache:
                if len(cache) >= MAX_FIT_ANALYSES:
                    raise _SearchLimit
                s_b, t_b = reanalyze(b)
                _check_concrete(s_b)
                cache[b] = max(s.total for s in stages_at(_Evaluation(s_b, t_b, setup, ev.cuts), b, cfg.context))
            return cache[b]

        key = "concurrency" if serving else "micro_batch"
        try:
            largest[key] = _largest(total_at, budget, batch)
        except _SearchLimit:
            notes.append(f"the search for the largest {key.replace('_', '-')} stopped after {MAX_FIT_ANALYSES} analyses")
            largest[key] = None
        if serving:
            largest["context"] = _largest_context(ev, stages, budget, batch)
    tp_replicated = tuple(sorted((p, w) for p, w in ev.roles.notes.items()))
    split = sum(u.split_layers * u.copies for u in ev.replay.units)
    return DevicePlan(
        config=cfg, mode="serving" if serving else "training", batch=batch, context=cfg.context, stage=top,
        stages=tuple(stages), ranks=states[top.index].per_rank if not serving else {}, padding=states[top.index].padding if not serving else 0,
        buffers=sum(u.buffers * p for u, p in ev.stage_units[top.index]) * setup.param_bytes,
        saved_per_micro_batch=saved, recompute=recompute, tp_split=split, tp_replicated=tp_replicated,
        tp_whole=_whole(ev.stage_units[top.index]),
        budget=budget, fits=None if budget is None else top.total <= budget, largest=largest, notes=tuple(notes),
    )


def _whole(stage_units) -> dict:
    whole: dict[str, int] = {}
    for unit, passes in stage_units:
        for what, n in unit.whole.items():
            whole[what] = whole.get(what, 0) + n * passes
    return dict(sorted(whole.items(), key=lambda kv: -kv[1]))


class _SearchLimit(Exception):
    pass


def _largest(total_at: Callable[[int], int], budget: int, known: int) -> int:
    """The largest batch b ≥ 1 with total_at(b) ≤ budget (0 if none), assuming the total grows
    with b: an affine guess from two points, then bisection between a fitting and a failing b."""
    if total_at(1) > budget:
        return 0
    lo = 1  # fits
    f1 = total_at(1)
    f2 = total_at(2)
    if f2 <= f1:  # nothing grows with the batch
        return MAX_SEARCHED if f2 <= budget else 1
    guess = min(MAX_SEARCHED, 1 + (budget - f1) // (f2 - f1))
    hi = None  # fails
    for b in (guess, guess + 1):
        if b <= 1:
            continue
        if total_at(b) <= budget:
            lo = max(lo, b)
        else:
            hi = b if hi is None else min(hi, b)
    if hi is None:  # the guess fits: grow until it does not
        step = max(1, lo)
        while hi is None and lo < MAX_SEARCHED:
            b = min(MAX_SEARCHED, lo + step)
            if total_at(b) <= budget:
                lo = b
                step *= 2
            else:
                hi = b
        if hi is None:
            return lo
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if total_at(mid) <= budget:
            lo = mid
        else:
            hi = mid
    return lo


def _largest_context(ev: _Evaluation, stages: list[Stage], budget: int, batch: int) -> int | None:
    """The most tokens per sequence whose KV cache fits beside the weights and one forward pass
    (None when no layer's cache grows with the context)."""
    best = None
    for stage, su in zip(stages, ev.stage_units):
        per_token = sum(u.kv_token * p for u, p in su) * batch
        fixed = sum(u.kv_fixed * p for u, p in su) * batch
        room = budget - stage.weights - stage.activations - fixed
        if per_token == 0:
            continue
        fit = max(0, room // per_token)
        best = fit if best is None else min(best, fit)
    return best


def _notes(ev: _Evaluation, states: States, cfg: Parallel, serving: bool) -> list[str]:
    notes = []
    if not states.exact:
        notes.append("ZeRO-1/2: more parameter tensors than the greedy partition follows; an even split is shown")
    if cfg.zero == 3 and cfg.dp > 1 and not serving:
        node, size = max(((n, sum(t.local_numel for t in ts)) for n, ts, _, _ in ev.replay.layers), key=lambda x: x[1], default=(None, 0))
        if node is not None and size:
            from ..formatting import human_bytes

            nbytes = size * DTYPE_BYTES[ev.summary.memory.dtype]
            notes.append(f"ZeRO-3 gathers each layer whole for its forward and backward: the largest ({node.path}, "
                         f"{human_bytes(nbytes)} of weights and as much of gradients) is transient and not in the total")
    if cfg.tp > 1 and not any(u.split_layers for u in ev.replay.units):
        notes.append(f"tensor parallelism {cfg.tp}: no layer could be split; every rank holds the whole network")
    if cfg.checkpoint == "selective" and not any(u.scores for u in ev.replay.units):
        notes.append("selective checkpointing changes nothing here: no attention layer keeps a score matrix "
                     "(without attention dropout the fused kernel keeps none)")
    if cfg.checkpoint == "full" and not any(u.checkpointed for u in ev.replay.units):
        notes.append("full checkpointing changes nothing here: the network has no blocks (top-level repeat passes, "
                     "blocks, residuals or def calls) to checkpoint")
    if serving and not any(u.kv_token or u.kv_fixed for u in ev.replay.units):
        notes.append("no KV cache: no causal self-attention (causal=true or cache=), decoder layer or cross-attention")
    return notes

