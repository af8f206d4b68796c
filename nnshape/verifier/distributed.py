"""Prove the per-device plan on ``torch.distributed``: ``nnshape verify --dp N --zero S [--tp N]``.

N CPU processes talk over gloo on the loopback interface (127.0.0.1, a free port). Each builds the
spec's twin from the same seed, wraps it as the plan says, runs one training step (forward, sum of
the output, backward, Adam step) and measures what it holds, from the tensors themselves:

* weights: the distinct storages behind its parameters (local shards); buffers (never sharded)
  are reported apart, since nnshape counts them at the parameters' dtype (torch keeps BatchNorm's
  ``num_batches_tracked`` as int64);
* gradients: the distinct storages behind the parameters' ``.grad`` (local shards);
* optimizer state: the bytes of the tensors in the optimizer's ``state`` (its local shard), without
  Adam's ``step`` scalars (4 bytes per parameter tensor; reported apart).

The wrapping, per ZeRO stage (docs/will-it-fit.md explains the differences to DeepSpeed):

* 0: ``DistributedDataParallel`` (``gradient_as_bucket_view=True``: the gradients live in DDP's
  buckets instead of beside them) and ``torch.optim.Adam``;
* 1: DDP and ``ZeroRedundancyOptimizer(Adam)``;
* 2: emulated with ``ZeroRedundancyOptimizer``: gradients are all-reduced, then each rank drops the
  gradients of the parameters it does not update (DeepSpeed reduce-scatters them in buckets during
  backward and never holds them all; what is held after the step is the same);
* 3: FSDP2 ``fully_shard`` on every layer that holds parameters, then on the network;
* ``--tp``: ``torch.distributed.tensor.parallel`` on a one-dimensional DeviceMesh: ``ColwiseParallel``
  / ``RowwiseParallel`` on the linear layers the plan splits, ``RowwiseParallel`` on a
  vocabulary-split embedding, and q/k/v column-wise, o row-wise inside ``attention`` (whose head
  counts are set to the per-rank ones). Data and tensor parallelism together are not run here.

torch is imported only inside the functions that run it.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field

from ..errors import SpecArgumentError, SpecLimitError
from ..limits import MAX_DISTRIBUTED_RANKS

FIGURES = ("weights", "grads", "optimizer")
TIMEOUT_S = 600  # the whole run; a rank that hangs (a deadlocked collective) is stopped


@dataclass(frozen=True)
class RankCheck:
    rank: int
    expected: dict  # weights/grads/optimizer -> bytes (the plan)
    measured: dict  # the same, from the rank's tensors; plus step_bytes
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and all(self.expected[k] == self.measured.get(k) for k in FIGURES)

    def to_dict(self) -> dict:
        return {"rank": self.rank, "ok": self.ok, "expected": self.expected, "measured": self.measured, "error": self.error}


@dataclass(frozen=True)
class DistributedReport:
    schema = "nnshape.verify-distributed/1"
    source: str
    dp: int
    zero: int
    tp: int
    dtype: str
    optimizer: str
    torch_version: str
    ranks: tuple[RankCheck, ...]
    seconds: float
    error: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.ranks) and all(r.ok for r in self.ranks)

    def to_dict(self) -> dict:
        return {
            "schema": self.schema, "source": self.source, "ok": self.ok, "dp": self.dp, "zero": self.zero, "tp": self.tp,
            "dtype": self.dtype, "optimizer": self.optimizer, "torch_version": self.torch_version,
            "ranks": [r.to_dict() for r in self.ranks], "seconds": round(self.seconds, 3), "error": self.error,
            "notes": list(self.notes),
        }


def _fail(message: str, hint: str | None = None) -> SpecArgumentError:
    return SpecArgumentError(message, hint=hint, code="E0640")


def check_config(cfg, optimizer: str, amp: bool) -> None:
    """What the distributed proof can run (E0640 otherwise)."""
    world = cfg.dp * cfg.tp
    if cfg.pp > 1 or cfg.serve or cfg.checkpoint != "none":
        raise _fail("verify runs data and tensor parallelism only (no --pp, --serve or --checkpoint)")
    if cfg.tp > 1 and cfg.dp > 1:
        raise _fail("verify runs --dp or --tp, not both at once", hint="check each on its own")
    if cfg.tp > 1 and cfg.zero:
        raise _fail("verify --tp runs without ZeRO")
    if world < 2:
        raise _fail("verify --dp/--tp needs at least 2 processes")
    if world > MAX_DISTRIBUTED_RANKS:
        raise SpecLimitError(f"verify starts at most {MAX_DISTRIBUTED_RANKS} processes on this machine",
                                found=f"{world}", code="E0508")
    if amp:
        raise _fail("verify --dp/--tp does not run --amp (FSDP and DDP keep fp32 masters their own way)")
    if optimizer not in ("adam", "adamw", "sgd", "momentum"):
        raise _fail(f"unknown optimizer {optimizer!r}")


def run_distributed(source, cfg, *, batch: int = 1, bindings: dict | None = None, dtype: str = "float32",
                    optimizer: str = "adam", start_method: str = "forkserver", seed: int = 0) -> DistributedReport:
    """Run the plan ``cfg`` (a :class:`nnshape.planning.Parallel`) of ``source`` on ``dp × tp``
    CPU processes and compare each rank's model states with the plan."""
    from ..planning import plan_source
    from .runner import import_torch

    from ..errors import NNShapeError

    try:
        check_config(cfg, optimizer, False)
        plan = plan_source(source, cfg, batch=batch, bindings=bindings, dtype=dtype, optimizer=optimizer)
        _check_roles(source, cfg, batch, bindings)
    except NNShapeError as err:
        raise err.with_source(source) from None
    torch = import_torch()
    world = cfg.dp * cfg.tp
    expected = [{k: int(plan.ranks[k][rank if cfg.tp == 1 else 0]) for k in FIGURES} for rank in range(world)]
    for e in expected:  # buffers are compared apart: nnshape counts them at the parameters' dtype
        e["weights"] -= plan.buffers
    started = time.perf_counter()
    job = {"name": source.name, "text": source.text, "batch": batch, "bindings": dict(bindings or {}), "dtype": dtype,
           "optimizer": optimizer, "dp": cfg.dp, "zero": cfg.zero, "tp": cfg.tp, "seed": seed}
    error = None
    with tempfile.TemporaryDirectory(prefix="nnshape-dist-") as out:
        job["out"] = out
        job["port"] = _free_port()
        try:
            _launch(job, world, start_method)
        except Exception as exc:  # a rank raised: its traceback is in the exception's message
            error = _last_line(str(exc))
        measured = []
        for rank in range(world):
            path = os.path.join(out, f"rank{rank}.json")
            if os.path.exists(path):
                with open(path, encoding="utf-8") as handle:
                    measured.append(json.load(handle))
            else:
                measured.append({"error": error or "the rank wrote no result"})
    ranks = tuple(RankCheck(r, expected[r], {k: v for k, v in m.items() if k != "error"}, m.get("error")) for r, m in enumerate(measured))
    notes = []
    if cfg.zero == 3:
        notes.append("FSDP2 pads every parameter's dim-0 chunks to equal size: weights and gradients include the padding, "
                     "the optimizer state (created for the unpadded chunk) does not")
    if cfg.zero == 2:
        notes.append("ZeRO-2 emulated: all-reduce, then each rank drops the gradients of parameters it does not update")
    return DistributedReport(source.name, cfg.dp, cfg.zero, cfg.tp, dtype, optimizer, torch.__version__, ranks,
                             time.perf_counter() - started, error, tuple(notes))


def _check_roles(source, cfg, batch, bindings) -> None:
    """verify --tp splits linear, embedding and attention layers; the plan may split more."""
    if cfg.tp == 1:
        return
    from ..analysis import analyze_with_plan
    from ..parser import parse
    from ..planning import roles as R
    from ..planning.replay import Replay

    summary, tree = analyze_with_plan(parse(source), source, batch=batch, bindings=bindings or {})
    roles = R.Roles(tree, cfg.tp)
    for node, _, role, _ in Replay(summary, tree, roles, summary.memory.dtype).layers:
        if role == R.HEADS and (node.call.kind.name != "attention" or id(node) in roles.kv_parts):
            raise _fail(f"verify --tp splits linear, embedding and attention layers, not {node.call.kind.name} "
                        f"({node.path or 'a layer'})", hint="the plan's figures for it are analytic only")


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:500] if lines else "a rank failed"


def _free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_PRELOADED = False


def _launch(job: dict, world: int, start_method: str) -> None:
    """Start ``world`` processes running :func:`_worker` and wait for them (at most TIMEOUT_S).

    The default start method is ``forkserver`` with torch and this module preloaded: the server
    imports torch once (per process that verifies), and every rank is a fork of that clean process
    (a fork of a process whose thread pools already ran can deadlock)."""
    global _PRELOADED
    import multiprocessing

    import torch.multiprocessing as tmp

    if start_method == "forkserver" and not _PRELOADED:
        multiprocessing.get_context("forkserver").set_forkserver_preload(
            ["torch", "torch.distributed", "torch._dynamo", "nnshape.verifier.distributed"])
        _PRELOADED = True
    ctx = tmp.start_processes(_worker, args=(world, job), nprocs=world, join=False, start_method=start_method)
    deadline = time.monotonic() + TIMEOUT_S
    while not ctx.join(timeout=1):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                if p.is_alive():
                    p.terminate()
            raise TimeoutError(f"the ranks did not finish within {TIMEOUT_S} s")


# ---------------------------------------------------------------------------- in each rank


def _worker(rank: int, world: int, job: dict) -> None:
    """One rank: its result (or its error) goes to ``rank{N}.json``, then the process ends at once.

    It ends with ``os._exit`` while the step's objects are still alive: tearing down a DDP reducer
    whose gloo process group has a worker thread waiting for the GIL deadlocks (the destructor
    joins that thread while holding the GIL), and nothing of this process is needed any more."""
    try:
        _rank_step(rank, world, job)
    except BaseException as exc:  # reported by the parent through the file, never swallowed
        _write(job, rank, {"error": f"{type(exc).__name__}: {exc}"})
        os._exit(1)


def _write(job: dict, rank: int, result: dict) -> None:
    with open(os.path.join(job["out"], f"rank{rank}.json"), "w", encoding="utf-8") as handle:
        json.dump(result, handle)


def _rank_step(rank: int, world: int, job: dict) -> None:
    import torch
    import torch.distributed as dist

    from ..analysis import analyze_with_plan
    from ..parser import parse
    from ..planning.roles import Roles
    from ..source import Source
    from .runner import make_inputs

    import warnings

    warnings.filterwarnings("ignore", message=".*returned a view tensor.*")  # FSDP2: nnshape's twins do no in-place ops on outputs
    torch.set_num_threads(1)
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(job["port"])
    import datetime

    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=datetime.timedelta(seconds=TIMEOUT_S // 2))
    try:
        source = Source(job["name"], job["text"])
        summary, tree = analyze_with_plan(parse(source), source, batch=job["batch"], bindings=job["bindings"])
        dtype = getattr(torch, job["dtype"])
        torch.manual_seed(job["seed"])
        model, calls = _build(tree, None if job["dtype"] == "float32" else dtype)
        torch.manual_seed(job["seed"] + 1)
        inputs = make_inputs(tree, "cpu", None if job["dtype"] == "float32" else dtype)
        zero, tp = job["zero"], job["tp"]
        owned = None
        if tp > 1:
            _tensor_parallel(model, calls, Roles(tree, tp), tp)
            opt = _optimizer(job["optimizer"], [p for p in model.parameters() if p.requires_grad])
            run = model
        elif zero == 3:
            from torch.distributed.fsdp import fully_shard

            for module in model.modules():
                if module is not model and any(True for _ in module.parameters(recurse=False)):
                    fully_shard(module)
            fully_shard(model)
            run = model
            opt = _optimizer(job["optimizer"], [p for p in model.parameters() if p.requires_grad])
        else:
            trainable = [p for p in model.parameters() if p.requires_grad]
            if zero == 0 or zero == 1:
                from torch.nn.parallel import DistributedDataParallel as DDP

                run = DDP(model, gradient_as_bucket_view=True) if trainable else model
            else:
                run = model
            if zero == 0:
                opt = _optimizer(job["optimizer"], trainable)
            else:
                opt = _zero(job["optimizer"], trainable)
                owned = {id(p) for group in opt.optim.param_groups for p in group["params"]}
        out = run(*inputs)
        loss = out.float().sum() if out.is_floating_point() else None
        if loss is not None and loss.requires_grad:
            loss.backward()
            if zero == 2:  # ZeRO-2, emulated: average the gradients, keep only the owned ones
                for p in model.parameters():
                    if p.grad is not None:
                        dist.all_reduce(p.grad)
                        p.grad.div_(world)
                        if id(p) not in owned:
                            p.grad = None
            opt.step()
        result = _measure(model, opt)
    except BaseException as exc:
        _write(job, rank, {"error": f"{type(exc).__name__}: {exc}"})
        os._exit(1)  # the other ranks fail on the broken collective (or its timeout)
    dist.barrier()  # every rank has measured: nobody needs the process group (or rank 0's store) any more
    _write(job, rank, result)
    os._exit(0)  # with model, optimizer and process group alive: see _worker


def _optimizer(name: str, params):
    import torch

    if name in ("adam", "adamw"):
        return (torch.optim.Adam if name == "adam" else torch.optim.AdamW)(params, lr=1e-3)
    return torch.optim.SGD(params, lr=1e-3, momentum=0.9 if name == "momentum" else 0.0)


def _zero(name: str, params):
    import torch
    from torch.distributed.optim import ZeroRedundancyOptimizer

    if name in ("adam", "adamw"):
        cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
        return ZeroRedundancyOptimizer(params, optimizer_class=cls, lr=1e-3)
    return ZeroRedundancyOptimizer(params, optimizer_class=torch.optim.SGD, lr=1e-3, momentum=0.9 if name == "momentum" else 0.0)


def _local(t):
    return t.to_local() if hasattr(t, "to_local") else t


def _storages(tensors) -> int:
    seen: dict[int, int] = {}
    for t in tensors:
        s = _local(t).untyped_storage()
        seen[s.data_ptr()] = s.nbytes()
    return sum(seen.values())


def _measure(model, opt) -> dict:
    params = list(model.parameters())
    weights = _storages(params)
    grads = _storages(p.grad for p in params if p.grad is not None)
    inner = getattr(opt, "optim", opt)  # ZeroRedundancyOptimizer keeps the local optimizer in .optim
    state = step = 0
    for per_param in inner.state.values():
        for value in per_param.values():
            if hasattr(value, "numel"):
                local = _local(value)
                nbytes = local.numel() * local.element_size()
                if local.dim() == 0:
                    step += nbytes
                else:
                    state += nbytes
    return {"weights": weights, "grads": grads, "optimizer": state, "step_bytes": step, "buffer_bytes": _storages(model.buffers())}


def _build(tree, dtype):
    """The twin (as ``nnshape.verifier.builder.build`` makes it) and, for each layer module, the
    Call it was built from (by ``id``): the tensor-parallel plan is per layer."""
    import torch

    from .builder import _Builder, walk

    class Recorder(_Builder):
        def __init__(self):
            super().__init__(dtype)
            self.calls: dict[int, object] = {}
            self.node = None

        def layer(self, parent, name, node, tensors, frozen, path):
            self.node = node
            try:
                super().layer(parent, name, node, tensors, frozen, path)
            finally:
                self.node = None

        def note(self, path, module):
            if self.node is not None:
                self.calls[id(module)] = self.node.call
            super().note(path, module)

    builder = Recorder()
    with torch.device("cpu"):
        model = builder.twins.Network([name for name, _ in tree.inputs], tree.output)
        walk(tree, builder, model)
    return model, builder.calls


def _tensor_parallel(model, calls, roles, tp: int) -> None:
    """Megatron-style splits with torch.distributed.tensor.parallel, layer by layer as the plan's roles say."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.tensor import Replicate
    from torch.distributed.tensor.parallel import ColwiseParallel, RowwiseParallel, parallelize_module

    from ..planning import roles as R

    mesh = init_device_mesh("cpu", (tp,))
    by_call = {}

    def collect(node):
        from ..plan import LayerNode

        if isinstance(node, LayerNode):
            by_call[id(node.call)] = (roles.role(node), roles.kv_parts.get(id(node)))
            return
        for attr in ("children", "iterations", "branches"):
            for child in getattr(node, attr, None) or ():
                collect(child)
        for attr in ("body", "shortcut"):
            child = getattr(node, attr, None)
            if child is not None:
                collect(child)

    collect(roles.plan.root)
    for module in list(model.modules()):
        call = calls.get(id(module))
        if call is None:
            continue
        role, kv_parts = by_call.get(id(call), (R.REPLICATED, None))
        name = call.kind.name
        if role == R.COLUMN:
            parallelize_module(module, mesh, ColwiseParallel())
        elif role == R.ROW:
            parallelize_module(module, mesh, RowwiseParallel())
        elif role == R.VOCAB:
            parallelize_module(module, mesh, RowwiseParallel(input_layouts=Replicate()))
        elif role == R.HEADS:
            if name != "attention" or kv_parts is not None:
                raise RuntimeError(f"verify --tp splits linear, embedding and attention layers (with KV heads divisible by tp), not {name}")
            parallelize_module(module, mesh, {"q_proj": ColwiseParallel(), "k_proj": ColwiseParallel(),
                                              "v_proj": ColwiseParallel(), "o_proj": RowwiseParallel()})
            module.heads //= tp
            module.kv_heads //= tp
