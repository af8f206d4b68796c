"""Torch as the oracle: run a kind's twin and measure what FlopCounterMode and the module report.

MACs = FlopCounterMode FLOPs / 2, with the math attention kernel, the nn.MultiheadAttention fast
path off and oneDNN off (so recurrent layers decompose into counted matmuls).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from nnshape.analysis import analyze
from nnshape.parser import parse
from nnshape.source import Source


def example_source(example: str) -> str:
    """`"3x32x32 | conv 16 k3"` -> a two-line spec; a full spec (with newlines) passes through."""
    if "\n" in example:
        return example
    shape, line = example.split("|", 1)
    return f"input {shape.strip()}\n{line.strip()}\n"


@dataclass
class Observed:
    path: str
    call: object
    inference: object


def analyze_with_calls(text: str, batch: int = 2):
    observed: list[Observed] = []
    source = Source("<example>", text)
    summary = analyze(parse(source), source, batch=batch, on_layer=lambda p, c, i: observed.append(Observed(p, c, i)))
    return summary, observed


@contextlib.contextmanager
def counting_flags():
    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel

    fast = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        with sdpa_kernel(SDPBackend.MATH), torch.backends.mkldnn.flags(enabled=False):
            yield
    finally:
        torch.backends.mha.set_fastpath_enabled(fast)


def random_tensor(info, high: int = 2):
    import torch

    dtype = getattr(torch, info.dtype)
    if dtype.is_floating_point:
        return torch.randn(*info.shape, dtype=dtype)
    return torch.randint(0, high, tuple(info.shape), dtype=dtype)


def run_twin(obs: Observed, id_high: int = 2):
    """Build the twin of one observed layer, run it, and return (output, params, trainable, buffers, macs)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    call = obs.call
    module = call.kind.build(call)
    module.train(False)
    inputs = [random_tensor(call.x, id_high)] + [random_tensor(t, id_high) for t in call.extra_inputs]
    with counting_flags(), torch.no_grad():
        counter = FlopCounterMode(display=False)
        with counter:
            out = module(*inputs)
    params = sum(p.numel() for p in module.parameters())
    trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    buffers = sum(b.numel() for b in module.buffers())
    flops = counter.get_total_flops()
    return out, params, trainable, buffers, flops


def check_saved_exact(text: str, batch: int, *, all_trained: bool = False) -> None:
    """A whole spec's training step on CPU: the bytes saved for the backward (saved_tensors_hooks)
    equal the analytic figure; with ``all_trained``, every parameter also gets a gradient."""
    from nnshape.verifier import verify

    step = verify(text, device="cpu", train_step=True, batch=batch).train_step
    assert step.error is None
    assert not (all_trained and step.no_grad), step.no_grad
    assert step.analytic_saved_bytes == step.saved_for_backward_bytes


def check_saved_alone(example: str, kind_name: str) -> None:
    """One layer of ``example`` alone, on an input that needs a gradient: the bytes of the distinct
    storages torch's saved_tensors_hooks sees (the module's parameters aside) equal the kind's
    memory rule (``Kind.saved``), and
    the output shares the input's storage exactly when the kind says it is a view (``is_view``)."""
    import torch

    from nnshape.tensor import DTYPE_BYTES

    _, observed = analyze_with_calls(example_source(example), batch=2)
    (obs,) = [o for o in observed if o.call.kind.name == kind_name]
    call, result = obs.call, obs.inference
    x = random_tensor(call.x, 2)
    if x.is_floating_point():
        x.requires_grad_(True)
    storages: dict[int, int] = {}

    def pack(t):
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    module = call.kind.build(call)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        y = module(x)
    for p in module.parameters():  # weights are not activations: a linear saves its weight too
        storages.pop(p.untyped_storage().data_ptr(), None)
    shares = y.untyped_storage().data_ptr() == x.untyped_storage().data_ptr()
    assert shares == call.kind.is_view, f"{kind_name}: is_view is {call.kind.is_view}, torch shares storage: {shares}"
    if not x.requires_grad:
        return
    rule = call.kind.saved(call, result)
    expected = {}
    if rule.input:
        expected[x.untyped_storage().data_ptr()] = x.untyped_storage().nbytes()
    if rule.output:
        expected[y.untyped_storage().data_ptr()] = y.untyped_storage().nbytes()
    analytic = sum(expected.values()) + rule.floats * DTYPE_BYTES[call.x.dtype] + rule.fixed
    assert sum(storages.values()) == analytic, (storages, rule)
    assert set(expected) <= set(storages)


def check_label_is_spec_text(example: str) -> None:
    """A row's label (the statement with resolved values: `pad (1, 2, 0, -1) 'reflect'`) analyzes
    to the same layer again."""
    import nnshape

    shape = example.split("|", 1)[0].strip()
    row = nnshape.summarize(example_source(example)).layers[-1]
    again = nnshape.summarize(f"input {shape}\n{row.label}\n").layers[-1]
    assert (again.label, again.output_shape) == (row.label, row.output_shape)


def kind_cases(*names: str) -> list[tuple[str, str]]:
    """(kind, example) for every example of the named kinds: a parametrize list."""
    from nnshape import registry

    return [(name, example) for name in names for example in registry.get(name).examples]


def n_params(module) -> int:
    """A torch module's parameter count (each tensor once)."""
    return sum(p.numel() for p in module.parameters())


def forward_counted(module, *inputs):
    """(output, FlopCounterMode MACs) of one forward without gradients."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        out = module(*inputs)
    return out, counter.get_total_flops() // 2
