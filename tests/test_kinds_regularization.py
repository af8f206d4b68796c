"""Regularization kinds (nnshape/kinds/regularization.py): dropout checks, and droppath dropping
whole samples in training only.
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


def layer(spec: str, batch: int = 1):
    return nnshape.summarize(spec, batch=batch).layers[-1]


# ----------------------------------------------------------------------------- regularization


def test_dropout_checks():
    assert "invalid value for 'p'" in error_of("input 16\ndropout 1.5")
    message = error_of("input 16\ndropout2d")
    assert "N×C×H×W" in message
    assert "use dropout2d" in error_of("input 4x10x10\ndropout3d")
    for kind in ("dropout 0.3", "dropout1d", "alphadropout", "droppath 0.2"):
        spec = "input 4x9\n" + kind
        row = layer(spec)
        assert row.output_shape == (1, 4, 9) and row.params == 0


def test_droppath_drops_whole_samples_in_training_only():
    torch = pytest.importorskip("torch")
    obs = last_call("input 3x4\ndroppath 0.5\n")
    module = obs.call.kind.build(obs.call)
    x = torch.ones(64, 3, 4)
    assert torch.equal(module.eval()(x), x)
    torch.manual_seed(0)
    out = module.train()(x)
    per_sample = out.flatten(1)
    assert set(per_sample.unique().tolist()) == {0.0, 2.0}
    assert all(len(row.unique()) == 1 for row in per_sample)
