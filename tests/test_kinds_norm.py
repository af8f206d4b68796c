"""Norm kinds (nnshape/kinds/norm.py): counts against PyTorch modules built here, twins by rank,
argument errors, symbolic sequences.
"""

from __future__ import annotations

import pytest

import nnshape
from nnshape.errors import NNShapeError
from nnshape.symbolic import Poly

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


L = Poly.symbol("L")

# ----------------------------------------------------------------------------- norms against torch


@pytest.mark.parametrize("n,shape", [(1, (2, 6)), (1, (2, 6, 5)), (2, (2, 6, 4, 4)), (3, (2, 6, 3, 3, 3))])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("track", [True, False])
def test_batchnorm_counts_match_torch(n, shape, affine, track):
    torch = pytest.importorskip("torch")
    per_sample = "x".join(map(str, shape[1:]))
    for kind in (f"batchnorm{n}d", "bn"):
        obs = last_call(f"input {per_sample}\n{kind} affine={str(affine).lower()} track_running_stats={str(track).lower()}\n")
        ref = getattr(torch.nn, f"BatchNorm{n}d")(6, affine=affine, track_running_stats=track)
        assert obs.inference.params == sum(p.numel() for p in ref.parameters())
        assert obs.inference.buffers == sum(b.numel() for b in ref.buffers())
        assert type(obs.call.kind.build(obs.call)) is type(ref)


@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("affine,track", [(False, False), (True, False), (False, True), (True, True)])
def test_instancenorm_counts_match_torch(n, affine, track):
    torch = pytest.importorskip("torch")
    per_sample = "x".join(["5"] + ["4"] * n)
    spec = f"input {per_sample}\ninstancenorm{n}d affine={str(affine).lower()} track={str(track).lower()}\n"
    obs = last_call(spec)
    ref = getattr(torch.nn, f"InstanceNorm{n}d")(5, affine=affine, track_running_stats=track)
    assert obs.inference.params == sum(p.numel() for p in ref.parameters())
    assert obs.inference.buffers == sum(b.numel() for b in ref.buffers())


def test_instancenorm_defaults_like_pytorch():
    row = layer("input 4x8x8\ninstancenorm2d")
    assert (row.params, row.buffers) == (0, 0)
    assert "more than one spatial element" in error_of("input 4x1x1\ninstancenorm2d")


def test_other_norm_counts_match_torch():
    torch = pytest.importorskip("torch")
    cases = [
        ("input 10x32\nlayernorm", torch.nn.LayerNorm(32)),
        ("input 3x4x5\nlayernorm 4x5 bias=false", torch.nn.LayerNorm((4, 5), bias=False)),
        ("input 3x4x5\nln elementwise_affine=false", torch.nn.LayerNorm(5, elementwise_affine=False)),
        ("input 8x4x4\ngroupnorm 4", torch.nn.GroupNorm(4, 8)),
        ("input 8x4x4\ngn 2 affine=false", torch.nn.GroupNorm(2, 8, affine=False)),
        ("input 10x32\nrmsnorm", torch.nn.RMSNorm(32)),
        ("input 3x4x5\nrmsnorm 4x5", torch.nn.RMSNorm((4, 5))),
    ]
    for spec, ref in cases:
        row = layer(spec)
        assert row.params == sum(p.numel() for p in ref.parameters()), spec
        assert row.buffers == sum(b.numel() for b in ref.buffers()), spec
        assert row.macs == 0


def test_batchnorm_picks_the_twin_by_rank_and_explains_wrong_ranks():
    message = error_of("input 3x8x8\nbatchnorm1d")
    assert "batchnorm2d" in message and "1×3×8×8" in message
    message = error_of("input 16\ninstancenorm2d")
    assert "layernorm" in message


def test_norm_argument_errors():
    message = error_of("input 3x8x8\nbn 4")
    assert "num_features=4" in message and "3" in message
    message = error_of("input 6x4x4\ngroupnorm 4")
    assert "does not divide" in message and "1, 2, 3, 6" in message
    assert "num_channels=5" in error_of("input 6x4x4\ngroupnorm 3 num_channels=5")
    message = error_of("input 10x32\nlayernorm 16")
    assert "trailing dims" in message and "32" in message
    assert "trailing dims" in error_of("input 4x5\nlayernorm 1x4x5")


def test_layernorm_on_a_symbolic_sequence():
    row = nnshape.summarize("input (L, 64)\nlayernorm 64").layers[-1]
    assert row.params == 128 and row.output_shape == (1, L, 64)
