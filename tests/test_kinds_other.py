"""`scale` (nnshape/kinds/other.py): per-channel or last-dim weights, and the batch dim refused.
"""

from __future__ import annotations

import pytest

import nnshape
from nnshape.errors import NNShapeError

from oracle import analyze_with_calls


def error_of(spec: str, **bindings) -> str:
    with pytest.raises(NNShapeError) as info:
        nnshape.summarize(spec, **bindings)
    return str(info.value)


def last_call(spec: str, batch: int = 2):
    _, observed = analyze_with_calls(spec, batch=batch)
    return observed[-1]


# ----------------------------------------------------------------------------- scale


def test_scale_broadcasts_over_channels():
    torch = pytest.importorskip("torch")
    obs = last_call("input 3x8x8\nscale dim=1 init=0.5\n")
    assert obs.inference.params == 3
    module = obs.call.kind.build(obs.call)
    assert tuple(module.weight.shape) == (3, 1, 1)
    with torch.no_grad():
        module.weight.copy_(torch.tensor([1.0, 2.0, 3.0]).view(3, 1, 1))
    x = torch.ones(2, 3, 8, 8)
    assert torch.equal(module(x)[:, :, 0, 0], torch.tensor([[1.0, 2.0, 3.0]] * 2))
    last = last_call("input 3x8x8\nlayerscale init=1e-5\n")
    assert last.inference.params == 8
    assert tuple(last.call.kind.build(last.call).weight.shape) == (8,)


def test_scale_rejects_the_batch_dim():
    message = error_of("input 16\nscale dim=0")
    assert "batch" in message
    assert "out of range" in error_of("input 16\nscale dim=2")
