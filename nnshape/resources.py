"""Will a network fit before `nnshape verify` builds it?

Building is where a spec turns into memory: ``repeat 100:`` three deep around a ``relu`` is a
million modules (over 400 s and 5.9 GB, even on ``meta``), and ``input 3x4096x4096`` before a
``conv2d 64 k3 p1`` wants 4.5 GB of activations that the summary already knows about. So before
anything is built, :func:`check_build` compares what the analysis predicts with two bounds and
refuses (E0508, located, with both figures) when either is passed, unless ``force``:

- the number of modules (layers and the containers around them, every copy of a repeat) against
  MAX_MODULES;
- the memory: parameters and buffers at the verify dtype, the analytic inference peak (the train
  step: gradients and the activations saved for backward too) and MODULE_BYTES per module, against
  what the process can still get: the smallest of its cgroup's room (v2 ``memory.max`` minus
  ``memory.current``, up the hierarchy; v1 ``memory.limit_in_bytes`` minus usage), its address-space
  room (``RLIMIT_AS`` minus the current ``VmSize``) and the host's ``MemAvailable``. On CUDA the
  tensors are compared with the device's free memory instead, the modules with the host's.

Everything here is plain Python reading /proc and /sys (torch only for the CUDA figure).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from .errors import SpecLimitError
from .formatting import human_bytes
from .limits import MAX_MODULES
from .plan import FromNode, LayerNode, MergeNode, Plan, RepeatNode, ResidualNode, SeqNode
from .source import Span
from .symbolic import Poly

MODULE_BYTES = 6 * 1024  # one built module with its hooks and bookkeeping (the audit: 5.9 GB for a million)
RUN_BYTES = 64 * 1024 * 1024  # the run's own working memory besides the network (inputs, counters, report)


@dataclass(frozen=True)
class Room:
    """Bytes a process can still allocate, and which bound says so."""

    bytes: int
    what: str


# ------------------------------------------------------------------------------ modules


def count_modules(plan: Plan, per_layer: Callable[[LayerNode], int] | None = None) -> tuple[int, object | None, int]:
    """(modules the builder makes, the outermost node below the root that alone makes more than
    MAX_MODULES of them or None, how many that node makes). Every copy of a repeat counts.
    ``per_layer(node)``: the modules of one layer's twin (default 1; :func:`twin_modules` builds a
    sample on meta); the network itself is never built."""
    totals: dict[int, int] = {}  # id(node) -> modules in one copy of its subtree
    order: list[object] = []
    stack: list[object] = [plan.root]
    while stack:  # pre-order; sizes are summed afterwards in reverse (children before parents)
        node = stack.pop()
        order.append(node)
        stack.extend(_children(node))
    for node in reversed(order):
        if isinstance(node, LayerNode):
            totals[id(node)] = per_layer(node) if per_layer is not None else 1
            continue
        total = 1  # the container itself
        if isinstance(node, RepeatNode):
            last = len(node.iterations) - 1
            total += sum(totals[id(it)] * (node.last_copies if i == last else 1) for i, it in enumerate(node.iterations))
        else:
            total += sum(totals[id(child)] for child in _children(node))
        totals[id(node)] = total
    for node in order:  # the outermost node over the limit: its line is where to act
        if not isinstance(node, LayerNode) and totals[id(node)] > MAX_MODULES and node is not plan.root:
            return totals[id(plan.root)], node, totals[id(node)]
    return totals[id(plan.root)], None, 0


SAMPLED_TWINS = 200  # distinct layers whose twin is built on meta to count its modules; past it, the kind's largest count


def twin_modules() -> Callable[[LayerNode], int]:
    """A ``per_layer`` for :func:`count_modules`: the modules in one twin of the layer (a
    TransformerEncoderLayer holds 10), counted on a sample built on the meta device (no memory),
    one per distinct kind and arguments, plus one for the wrapper the builder may add."""
    import torch

    cache: dict[tuple, int] = {}
    largest: dict[str, int] = {}

    def count(node: LayerNode) -> int:
        call = node.call
        key = (call.kind.name, repr(call.args.as_dict()))
        if key not in cache:
            if len(cache) >= SAMPLED_TWINS:
                return largest.get(call.kind.name, 2)
            try:
                with torch.device("meta"):
                    modules = sum(1 for _ in call.kind.build(call).modules())
            except Exception:  # noqa: BLE001 - a twin that fails here fails in the builder, with its own report
                modules = 1
            cache[key] = modules + 1
            largest[call.kind.name] = max(largest.get(call.kind.name, 0), modules + 1)
        return cache[key]

    return count


def _children(node) -> list:
    if isinstance(node, SeqNode):
        return list(node.children)
    if isinstance(node, ResidualNode):
        return [node.body] + ([node.shortcut] if node.shortcut is not None else [])
    if isinstance(node, MergeNode):
        return list(node.branches)
    if isinstance(node, RepeatNode):
        return list(node.iterations)
    if isinstance(node, FromNode):
        return [node.body]
    return []


# ------------------------------------------------------------------------------ memory


def available_memory() -> Room | None:
    """The smallest room among the cgroup, RLIMIT_AS and MemAvailable (None: none is known)."""
    rooms = [r for r in (_cgroup_room(), _address_space_room(), _mem_available()) if r is not None]
    return min(rooms, key=lambda r: r.bytes) if rooms else None


def _read(path: str) -> str | None:
    try:
        with open(path) as fh:
            return fh.read(4096).strip()
    except (OSError, ValueError):
        return None


def _number(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() and len(text) <= 20 else None


def _cgroup_room() -> Room | None:
    text = _read("/proc/self/cgroup")
    if text is None:
        return None
    rooms: list[Room] = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        if controllers == "":  # cgroup v2: this folder and every parent up to the root
            folder = os.path.normpath("/sys/fs/cgroup/" + path.lstrip("/"))
            while folder.startswith("/sys/fs/cgroup"):
                limit = _number(_read(os.path.join(folder, "memory.max")))  # "max": no limit
                used = _number(_read(os.path.join(folder, "memory.current")))
                if limit is not None and used is not None:
                    rooms.append(Room(max(0, limit - used), "the cgroup's memory.max"))
                if folder == "/sys/fs/cgroup":
                    break
                folder = os.path.dirname(folder)
        elif "memory" in controllers.split(","):  # cgroup v1
            folder = os.path.normpath("/sys/fs/cgroup/memory/" + path.lstrip("/"))
            limit = _number(_read(os.path.join(folder, "memory.limit_in_bytes")))
            used = _number(_read(os.path.join(folder, "memory.usage_in_bytes")))
            if limit is not None and used is not None and limit < 2**62:  # v1 writes ~2**63 for no limit
                rooms.append(Room(max(0, limit - used), "the cgroup's memory.limit_in_bytes"))
    return min(rooms, key=lambda r: r.bytes) if rooms else None


def _address_space_room() -> Room | None:
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, ValueError):
        return None
    if soft == resource.RLIM_INFINITY or soft < 0:
        return None
    size = None
    for line in (_read("/proc/self/status") or "").splitlines():
        if line.startswith("VmSize:"):
            size = _number(line.split()[1])
            size = size * 1024 if size is not None else None
    return Room(max(0, soft - (size or 0)), "the address-space limit (RLIMIT_AS) less what the process maps")


def _mem_available() -> Room | None:
    for line in (_read("/proc/meminfo") or "").splitlines():
        if line.startswith("MemAvailable:"):
            kib = _number(line.split()[1])
            return Room(kib * 1024, "MemAvailable of /proc/meminfo") if kib is not None else None
    return None


def _cuda_room(device: str) -> Room | None:
    try:
        import torch

        return Room(int(torch.cuda.mem_get_info(torch.device(device))[0]), f"{device}'s free memory")
    except Exception:  # noqa: BLE001 - no figure rather than no verify
        return None


def _int(value) -> int:
    return 0 if value is None or isinstance(value, Poly) else int(value)


@dataclass(frozen=True)
class Need:
    modules: int
    tensors: int  # bytes of parameters, buffers and activations
    parts: str  # what ``tensors`` is made of, for the report

    @property
    def module_bytes(self) -> int:
        return self.modules * MODULE_BYTES


def estimate(summary, modules: int, *, dtype_bytes: int, train_step: bool) -> Need:
    weights = (_int(summary.total_params) + _int(summary.total_buffers)) * dtype_bytes
    memory = summary.memory
    peak = _int(memory.inference_peak_bytes) if memory is not None else 0
    parts = [f"parameters and buffers {human_bytes(weights)}", f"inference peak {human_bytes(peak)}"]
    tensors = weights + peak
    if train_step and memory is not None:
        grads = _int(summary.trainable_params) * dtype_bytes
        saved = _int(memory.saved_for_backward_bytes)
        tensors += grads + saved
        parts += [f"gradients {human_bytes(grads)}", f"saved for backward {human_bytes(saved)}"]
    return Need(modules, tensors, ", ".join(parts))


def check_build(summary, plan: Plan, *, device: str, dtype_bytes: int, train_step: bool = False, force: bool = False,
                per_layer: Callable[[LayerNode], int] | None = None) -> None:
    """Refuse (E0508) a network that would not fit; ``force`` skips the check. ``per_layer``: see
    :func:`count_modules` (the verifier passes :func:`twin_modules`)."""
    if force:
        return
    modules, culprit, inside = count_modules(plan, per_layer)
    hint = "verify smaller sizes or counts (`--set`), use `nnshape summary` for the analytic numbers, or `--force` to try anyway"
    if modules > MAX_MODULES:
        row = next((r for r in summary.layers if culprit is not None and r.path == getattr(culprit, "path", None)), None)
        what = f"repeat {culprit.count:,}" if isinstance(culprit, RepeatNode) else "this block"
        raise SpecLimitError(
            f"verify would build {modules:,} modules, more than {MAX_MODULES:,}",
            Span(row.line, 1, len(what.split()[0])) if row is not None else None,
            expected=f"at most {MAX_MODULES:,} modules (layers and their containers, every repeated copy)",
            found=f"{modules:,} modules" + (f", {inside:,} of them made by the {what} on line {row.line}" if row is not None else ""),
            hint=hint,
            code="E0508",
        )
    need = estimate(summary, modules, dtype_bytes=dtype_bytes, train_step=train_step)
    host = available_memory()
    if device == "meta":  # meta tensors hold no memory; the modules still do
        checks = [(need.module_bytes + RUN_BYTES, host, f"{modules:,} modules")]
    elif device.startswith("cuda"):
        checks = [(need.tensors, _cuda_room(device), need.parts), (need.module_bytes + RUN_BYTES, host, f"{modules:,} modules")]
    else:
        checks = [(need.tensors + need.module_bytes + RUN_BYTES, host, f"{need.parts}, {modules:,} modules")]
    for wanted, room, parts in checks:
        if room is not None and wanted > room.bytes:
            raise SpecLimitError(
                f"verify would need about {human_bytes(wanted)} on {device}, more than the {human_bytes(room.bytes)} this process can still get",
                _largest_row(summary),
                expected=f"at most {human_bytes(room.bytes)} ({room.what})",
                found=f"{human_bytes(wanted)}: {parts}",
                hint=hint if device == "meta" else hint.replace("use `nnshape summary`", "use `--device meta` (no tensor memory) or `nnshape summary`"),
                code="E0508",
            )


def _largest_row(summary) -> Span | None:
    """Where the largest activation is made: the line to change when memory is short."""
    from .tensor import DTYPE_BYTES

    best, line = -1, None
    for row in summary.layers:
        if row.is_block:
            continue
        size = 1
        for dim in row.output_shape:
            size = size * _int(dim)
        size *= DTYPE_BYTES.get(row.dtype, 4)
        if size > best:
            best, line = size, row.line
    return Span(line, 1) if line else None
