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
