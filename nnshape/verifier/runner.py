"""Run the assembled network once and compare every summary row with what torch measured.

Shapes come from forward hooks, parameters and buffers from each row's module (each tensor
once), MACs from ``FlopCounterMode`` (FLOPs / 2 per module), with the counting flags the
oracle uses: math attention kernel, no ``nn.MultiheadAttention`` fast path, oneDNN off.
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings

from ..errors import NNShapeError, SpecArgumentError, SpecLimitError, SpecShapeError
from ..plan import Plan
from ..summary import LayerRow, Summary
from ..source import Source, Span
from ..symbolic import Poly
from ..tensor import DTYPE_BYTES, format_shape
from ..install import LOAD_HINT, install_command, load_failure
from ..resources import check_build, twin_modules
from .builder import build
from .report import LayerCheck, TrainStep, Values, VerifyReport

INSTALL_HINT = install_command("torch", "torch")


class TorchMissingError(NNShapeError):
    """verify and export need torch, which is an optional dependency."""

    code = "E0601"


def import_torch():
    try:
        import torch
    except (ImportError, OSError) as exc:
        why = load_failure(exc)
        if why is not None:  # installed, but its libraries did not load (an address-space limit, a broken install)
            raise TorchMissingError(f"nnshape verify needs PyTorch, which is installed but could not be loaded ({why})", hint=LOAD_HINT) from None
        raise TorchMissingError(
            "nnshape verify needs PyTorch, which is not installed", hint=f"install it with: {INSTALL_HINT}"
        ) from None
    return torch


@contextlib.contextmanager
def counting_flags(model=None):
    """Make every matmul visible to FlopCounterMode (the same flags as the test oracle).

    With ``model``, its recurrent layers also run without cuDNN: on CUDA, cuDNN runs a whole
    RNN/LSTM/GRU as one opaque kernel that FlopCounterMode counts as 0, where PyTorch's own CUDA
    path runs the same matmuls through the dispatcher (as oneDNN's absence does on the CPU).
    Only those layers: every other layer keeps cuDNN (its kernels are counted as they are).
    """
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel

    fast = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    cudnn = torch.backends.cudnn.enabled
    handles = []

    def off(module, args):
        torch.backends.cudnn.enabled = False

    def back(module, args, out):
        torch.backends.cudnn.enabled = cudnn

    for module in () if model is None else model.modules():
        if isinstance(module, torch.nn.RNNBase):
            handles += [module.register_forward_pre_hook(off), module.register_forward_hook(back)]
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*oneDNN.*")  # torch's note about Intel GPUs
            with sdpa_kernel(SDPBackend.MATH), torch.backends.mkldnn.flags(enabled=False):
                yield
    finally:
        torch.backends.mha.set_fastpath_enabled(fast)
        torch.backends.cudnn.enabled = cudnn
        for handle in handles:
            handle.remove()


def resolve_device(device: str) -> str:
    torch = import_torch()
    device = (device or "auto").lower()
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device not in ("cpu", "cuda", "meta") and not device.startswith("cuda:"):
        raise SpecArgumentError("unknown device", found=repr(device), expected="auto, cpu, cuda or meta", code="E0321")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise SpecArgumentError(
            "--device cuda: no CUDA device is available", hint="use --device cpu, or --device meta for shapes and parameters", code="E0321"
        )
    return device


def check_concrete(summary: Summary) -> None:
    for inp in summary.inputs:
        symbols = sorted({s for d in inp.shape if isinstance(d, Poly) for s in d.symbols})
        if symbols:
            raise SpecShapeError(
                f"verify runs real tensors: input '{inp.name}' has the symbolic size {format_shape(inp.shape)}",
                Span(inp.line, 1, len("input")),
                expected="concrete sizes",
                hint=" ".join(f"`--set {s}=...`" for s in symbols) + " (or a `let` in the spec)",
                code="E0404",
            )


def id_bound(plan: Plan) -> int:
    """Token ids are drawn below every embedding's size (so any id input is in range of what it feeds)."""
    bounds: list[int] = []
    for node, _ in plan.walk():
        if node.call.kind.accepts == "int":
            size = node.call.args.as_dict().get("num_embeddings")
            if isinstance(size, int):
                bounds.append(size)
    return max(1, min(bounds)) if bounds else 2


def make_inputs(plan: Plan, device: str, dtype):
    import torch

    high = id_bound(plan)
    tensors = []
    for _, info in plan.inputs:
        declared = getattr(torch, info.dtype)
        shape = tuple(int(d) for d in info.shape)
        if declared.is_floating_point:
            tensors.append(torch.randn(shape, dtype=dtype or declared, device=device))
        elif declared == torch.bool:
            tensors.append(torch.randint(0, 2, shape, device=device).bool())
        else:
            tensors.append(torch.randint(0, high, shape, dtype=declared, device=device))
    return tensors


def _int(value) -> int | None:
    return None if isinstance(value, Poly) else int(value)


def analytic_values(row: LayerRow, dtype_name: str | None) -> Values:
    dtype = dtype_name if dtype_name and row.dtype.startswith(("float", "bfloat")) else row.dtype
    return Values(tuple(row.output_shape), _int(row.params), _int(row.buffers), _int(row.macs), dtype)


def compare(a: Values, t: Values | None) -> tuple[str, ...]:
    if t is None:
        return ()
    out = []
    if t.shape is not None and tuple(a.shape) != tuple(t.shape):
        out.append("shape")
    if a.params != t.params:
        out.append("params")
    if a.buffers != t.buffers:
        out.append("buffers")
    if t.macs is not None and a.macs != t.macs:
        out.append("macs")
    if t.dtype is not None and a.dtype != t.dtype:
        out.append("dtype")
    return tuple(out)


def _numel(tensors) -> int:
    return sum(t.numel() for t in tensors)


def first_owners(summary: Summary, modules: list) -> dict[int, str]:
    """Each parameter and buffer (by id) -> the row that owns it: the deepest row of the first
    subtree (in row order) whose modules hold it. A tensor is counted where it is made, as the
    summary counts a shared weight once: a tied or reused layer's module, or the copies of a
    shared repeat's later passes, hold the lender's tensors too, in rows after the lender's."""
    owners: dict[int, str] = {}
    for row, module in zip(summary.layers, modules):
        if module is None:
            continue
        for tensor in [*module.parameters(), *module.buffers()]:
            owner = owners.get(id(tensor))
            if owner is None or row.path.startswith(owner + "."):
                owners[id(tensor)] = row.path
    return owners


def _owned(tensors, owners: dict[int, str], path: str) -> int:
    """Elements of ``tensors`` owned by the row at ``path`` or by a row inside it."""
    total = 0
    for t in tensors:
        owner = owners.get(id(t))
        if owner is None or owner == path or owner.startswith(path + "."):
            total += t.numel()
    return total


def _macs(flops: int):
    return flops // 2 if flops % 2 == 0 else flops / 2


def run(
    summary: Summary,
    plan: Plan,
    *,
    device: str = "auto",
    dtype: str | None = None,
    train_step: bool = False,
    progress=None,
    seed: int = 0,
    force: bool = False,
) -> VerifyReport:
    """Build and run the network; ``progress(stage, total)`` returns a callable advancing by n.
    Before building, nnshape.resources refuses a network too large to build (``force``: try anyway)."""
    try:
        return _run(summary, plan, device=device, dtype=dtype, train_step=train_step, progress=progress, seed=seed, force=force)
    except NNShapeError as err:  # name the spec file in errors found while building
        raise err.with_source(Source(summary.source, summary.source_text)) from None


def _run(summary: Summary, plan: Plan, *, device: str, dtype: str | None, train_step: bool, progress, seed: int, force: bool = False) -> VerifyReport:
    if device in ("cpu", "meta"):  # first what needs no torch (one module per layer: a lower bound), since under
        # a tight address-space limit torch itself may not load (a CUDA build under prlimit --as=2.5G)
        check_build(summary, plan, device=device, dtype_bytes=DTYPE_BYTES[dtype or "float32"], train_step=train_step, force=force)
    torch = import_torch()
    from torch.utils.flop_counter import FlopCounterMode

    started = time.perf_counter()
    device = resolve_device(device)
    check_concrete(summary)
    torch_dtype = getattr(torch, dtype) if dtype else None
    check_build(summary, plan, device=device, dtype_bytes=DTYPE_BYTES[dtype or "float32"], train_step=train_step, force=force,
                per_layer=twin_modules())
    torch.manual_seed(seed)

    build_step = progress("building", _layer_count(plan)) if progress else None
    built = build(summary, plan, device=device, dtype=torch_dtype, progress=build_step)
    model = built.model
    model.eval()
    names = {module: name for name, module in model.named_modules()}
    root_name = type(model).__name__

    outputs: dict[int, tuple] = {}
    active: list[str] = []
    handles = []
    leaves = [m for row, m in zip(summary.layers, built.row_modules) if m is not None and not row.is_block]
    run_step = progress("running", len(leaves)) if progress else None
    module_paths = {}
    for row, module in zip(summary.layers, built.row_modules):
        if module is None or id(module) in module_paths:
            continue
        module_paths[id(module)] = row.path

        def pre(mod, args, path=row.path, leaf=not row.is_block):
            if leaf:
                active.append(path)

        def post(mod, args, out, leaf=not row.is_block):
            if id(mod) not in outputs and hasattr(out, "shape"):
                outputs[id(mod)] = (tuple(out.shape), str(out.dtype).removeprefix("torch."))
            if leaf:
                active.pop()
                if run_step is not None:
                    run_step(1)

        handles.append(module.register_forward_pre_hook(pre))
        handles.append(module.register_forward_hook(post))
    uncounted = _uncounted_hooks(model, built.unseen, names, handles)

    error = None
    failed_at = None
    out = None
    counter = FlopCounterMode(display=False)
    try:
        with counting_flags(model), torch.no_grad(), counter:
            out = model(*make_inputs(plan, device, torch_dtype))
    except Exception as exc:  # noqa: BLE001 - torch disagreed badly enough to raise: report it on the layer
        failed_at = active[-1] if active else None
        error = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
    finally:
        for handle in handles:
            handle.remove()
    flops = {name: sum(ops.values()) for name, ops in counter.get_flop_counts().items()}

    checks = []
    owners = first_owners(summary, built.row_modules)
    for row, module in zip(summary.layers, built.row_modules):
        expected = analytic_values(row, dtype)
        if module is not None and uncounted.get(names[module]):
            expected = _minus_macs(expected, uncounted[names[module]])
        if module is None:
            checks.append(_check(row, expected, None, (), "no module was built for this row"))
            continue
        got = outputs.get(id(module))
        fq = f"{root_name}.{names[module]}"
        measured = Values(
            got[0] if got else None,
            _owned(module.parameters(), owners, row.path),
            _owned(module.buffers(), owners, row.path),
            _macs(flops.get(fq, 0)) if got else None,
            got[1] if got else None,
        )
        problem = None
        if failed_at == row.path:
            problem = error
        elif got is None and error is None:
            problem = "torch never ran this layer"
        checks.append(_check(row, expected, measured, compare(expected, measured), problem))

    total_expected = Values(
        tuple(summary.output_shape), _int(summary.total_params), _int(summary.total_buffers), _int(summary.total_macs),
        dtype if dtype and summary.output_dtype.startswith(("float", "bfloat")) else summary.output_dtype,
    )
    if uncounted.get(""):
        total_expected = _minus_macs(total_expected, uncounted[""])
    outs = out if isinstance(out, tuple) else (out,)  # `output a, b`: the network returns a tuple
    first = outs[0] if outs else None
    total_measured = Values(
        tuple(first.shape) if first is not None else None,
        _numel(model.parameters()),
        _numel(model.buffers()),
        _macs(counter.get_total_flops()) if out is not None else None,
        str(first.dtype).removeprefix("torch.") if first is not None else None,
    )
    totals = LayerCheck("", "network", "network totals", 0, 0, True, 1, total_expected, total_measured,
                        compare(total_expected, total_measured), error if failed_at is None else None)
    output_checks = _output_checks(summary, outs if out is not None else None, dtype) if len(summary.outputs) > 1 else ()
    step = None
    if train_step and error is None:
        memory = summary.memory
        analytic = _int(memory.saved_for_backward_bytes) if memory is not None and (dtype or "float32") == memory.dtype else None
        step = run_train_step(model, plan, device, torch_dtype, analytic)
    return VerifyReport(
        source=summary.source,
        device=device,
        batch=summary.batch,
        dtype=dtype or "float32",
        torch_version=torch.__version__,
        layers=tuple(checks),
        totals=totals,
        outputs=output_checks,
        error=error if failed_at is None else None,
        train_step=step,
        seconds=time.perf_counter() - started,
    )


def _uncounted_hooks(model, unseen_by_twin: dict, names: dict, handles: list) -> dict[str, int]:
    """Like with like: a layer whose MACs hold an analytic part FlopCounterMode cannot see (a
    state-space scan, ``Inference.counted_macs``) is compared on what FlopCounterMode counts. Each
    run of such a twin adds its unseen MACs to its own module name and every enclosing one (the
    root is ``""``, the network totals); the returned dict fills while the model runs."""
    unseen: dict[str, int] = {}
    for module in model.modules():
        extra = unseen_by_twin.get(id(module))
        if not extra:
            continue
        name = names[module]
        parts = name.split(".") if name else []
        chain = [".".join(parts[:i]) for i in range(len(parts) + 1)]

        def add(mod, args, out, chain=chain, extra=_int(extra)):
            for prefix in chain:
                unseen[prefix] = unseen.get(prefix, 0) + extra

        handles.append(module.register_forward_hook(add))
    return unseen


def _minus_macs(values: Values, unseen: int) -> Values:
    return Values(values.shape, values.params, values.buffers, None if values.macs is None else values.macs - unseen, values.dtype)


def _output_checks(summary: Summary, outs, dtype: str | None) -> tuple[LayerCheck, ...]:
    """Each output of `output a, b` against the tuple the network returned (shape and dtype)."""
    checks = []
    for i, o in enumerate(summary.outputs):
        want = Values(tuple(o.shape), None, None, None, dtype if dtype and o.dtype.startswith(("float", "bfloat")) else o.dtype)
        got = None
        if outs is not None:
            t = outs[i] if i < len(outs) else None
            got = Values(tuple(t.shape) if t is not None else None, None, None, None,
                         str(t.dtype).removeprefix("torch.") if t is not None else None)
        checks.append(LayerCheck(f"output {o.name}", "output", f"output {o.name}", 0, 0, False, 1, want, got, compare(want, got)))
    return tuple(checks)


def _check(row: LayerRow, expected: Values, measured, mismatches, error) -> LayerCheck:
    return LayerCheck(row.path, row.kind, row.label, row.line, row.depth, row.is_block, row.repeat, expected, measured, mismatches, error)


def _layer_count(plan: Plan) -> int:
    return sum(times for _, times in plan.walk())


class RssPeak:
    """The peak growth of this process's resident memory while the block runs, sampled every
    half millisecond from /proc/self/statm (Linux). PyTorch keeps no allocator statistics on the
    CPU, so this is the measurement there: it includes everything the step allocates."""

    def __init__(self):
        self.peak: int | None = None

    @staticmethod
    def rss() -> int | None:
        try:
            with open("/proc/self/statm") as statm:
                return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            return None

    def __enter__(self):
        import threading

        self.start = self.rss()
        self.high = self.start
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)
        if self.start is not None:
            self.thread.start()
        return self

    def sample(self) -> None:
        while not self.stop.wait(0.0005):
            now = self.rss()
            if now is not None and now > self.high:
                self.high = now

    def __exit__(self, *exc) -> None:
        self.stop.set()
        if self.start is not None:
            self.thread.join()
            now = self.rss()
            self.peak = max(self.high, now or 0) - self.start
        return None


def run_train_step(model, plan: Plan, device: str, dtype, analytic=None) -> TrainStep:
    """Forward, backward and one SGD step in training mode; which parameters got no gradient.

    Saved-for-backward bytes: every distinct storage that ``saved_tensors_hooks`` sees during the
    network's forward (a view counts its whole storage, once); ``saved_for_backward_bytes``
    leaves out the parameters' and buffers' storages, which is what nnshape estimates.
    """
    import torch

    model.train()
    cuda = device.startswith("cuda")
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    storages: dict[int, int] = {}
    # parameters and buffers are counted in the model's state, not as saved activations
    state = {t.untyped_storage().data_ptr() for t in [*model.parameters(), *model.buffers()] if t.device.type != "meta"}

    def pack(t):
        if t.device.type != "meta":
            storage = t.untyped_storage()
            storages[storage.data_ptr()] = storage.nbytes()
        return t

    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    rss = RssPeak()
    try:
        with rss:
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):  # the network's forward only, not the loss
                out = model(*make_inputs(plan, device, dtype))
            outs = [t for t in (out if isinstance(out, tuple) else (out,)) if t.is_floating_point()]
            if not any(t.requires_grad for t in outs):
                return TrainStep(tuple(n for n, _ in trainable), None, None, "not measured",
                                 "the output does not depend on any trainable parameter" if trainable else None,
                                 analytic_saved_bytes=analytic)
            loss = sum(t.float().pow(2).mean() for t in outs if t.requires_grad)
            loss.backward()
            if trainable:
                torch.optim.SGD([p for _, p in trainable], lr=1e-3).step()
    except Exception as exc:  # noqa: BLE001 - any torch failure is reported, not raised
        return TrainStep((), None, None, "not measured", f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}",
                         analytic_saved_bytes=analytic)
    finally:
        model.eval()
    no_grad = tuple(name for name, p in trainable if p.grad is None)
    if device == "meta":
        return TrainStep(no_grad, None, None, "not measured on meta", analytic_saved_bytes=analytic)
    saved = sum(storages.values())
    activations = sum(n for ptr, n in storages.items() if ptr not in state)
    if cuda:
        torch.cuda.synchronize()
        return TrainStep(no_grad, torch.cuda.max_memory_allocated(), saved, "CUDA peak allocated during the step",
                         saved_for_backward_bytes=activations, analytic_saved_bytes=analytic)
    if rss.peak is not None:
        return TrainStep(no_grad, rss.peak, saved, "growth of the process's resident memory during the step (CPU, sampled)",
                         saved_for_backward_bytes=activations, analytic_saved_bytes=analytic)
    return TrainStep(no_grad, None, saved, "not measured on this CPU platform (saved-for-backward bytes shown instead)",
                     saved_for_backward_bytes=activations, analytic_saved_bytes=analytic)
