"""Norm, regularization, sequence and `scale` kinds: error messages, worked examples, torch counts.

Pinned numbers come from PyTorch modules built directly here or from the lecture notes' table.
"""

from __future__ import annotations

import math

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

# ----------------------------------------------------------------------------- positional encoding

# The lecture notes' table: d = 3, positions 0..3 (odd d: the 3rd column is sin(pos/10000^(2/3))).
LECTURE_PE = [
    [0.0, 1.0, 0.0],
    [0.841471, 0.540302, 0.002154],
    [0.909297, -0.416147, 0.004309],
    [0.141120, -0.989992, 0.006463],
]


def posenc_twin(length: int, dim: int):
    obs = last_call(f"input {length}x{dim}\nposenc\n", batch=1)
    return obs.call.kind.build(obs.call)


def test_posenc_reproduces_the_lecture_table():
    torch = pytest.importorskip("torch")
    module = posenc_twin(4, 3).eval()
    out = module(torch.zeros(1, 4, 3))
    assert torch.allclose(out[0], torch.tensor(LECTURE_PE), atol=1e-6)


def test_posenc_matches_the_pytorch_tutorial_for_even_d():
    torch = pytest.importorskip("torch")
    length, d = 50, 16
    # the table of the PyTorch "Language Modeling with nn.Transformer" tutorial
    position = torch.arange(length).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, d, 2) * (-math.log(10000.0) / d))
    pe = torch.zeros(length, d)
    pe[:, 0::2] = torch.sin(position * div_term)
    pe[:, 1::2] = torch.cos(position * div_term)
    x = torch.randn(2, length, d)
    out = posenc_twin(length, d).eval()(x)
    assert torch.allclose(out, x + pe, atol=1e-5)


def test_posenc_has_no_params_or_buffers_and_checks_max_len():
    row = layer("input 8x5\nposenc max_len=8")
    assert (row.params, row.buffers, row.macs) == (0, 0, 0)
    message = error_of("input 9x5\nposenc max_len=8")
    assert "L=9" in message and "max_len=8" in message


def test_symbolic_sequence_length():
    s = nnshape.summarize("input ids (L) dtype=int64\nembedding 100 16\nclstoken\nposenc\nlayernorm")
    assert s.output_shape == (1, L + 1, 16)
    assert s.total_params == 100 * 16 + 16 + 2 * 16
    assert nnshape.summarize("input (L, 16)\nposenc max_len=512").output_shape == (1, L, 16)
    # posemb needs the value of L for its L ≤ max_len check ...
    assert "needs the value of L" in error_of("input (L, 16)\nposemb 64")
    # ... and gets it from a binding
    assert nnshape.summarize("input (L, 16)\nposemb 64", L=64).total_params == 64 * 16


# ----------------------------------------------------------------------------- posemb / clstoken / embedding


def test_posemb_length_error_states_both():
    message = error_of("input 10x16\nposemb 8")
    assert "L=10" in message and "max_len=8" in message
    row = layer("input 8x16\nposemb 10")
    assert row.params == 10 * 16


def test_clstoken_prepends():
    torch = pytest.importorskip("torch")
    obs = last_call("input 196x32\nclstoken\n", batch=2)
    assert obs.inference.shape == (2, 197, 32) and obs.inference.params == 32
    module = obs.call.kind.build(obs.call)
    x = torch.randn(2, 196, 32)
    out = module(x)
    assert torch.equal(out[:, 1:], x) and torch.equal(out[0, 0], out[1, 0])


def test_embedding_needs_integer_ids():
    message = error_of("input 128\nembedding 1000 64")
    assert "dtype=int64" in message and "float32" in message
    message = error_of("input ids 128 dtype=int16\nembedding 1000 64")  # torch takes only int64/int32
    assert "embedding reads token ids: declare `input ids 128 dtype=int64`" in message
    assert "int16" in message
    row = layer("input ids 128 dtype=int64\nembedding 1000 64")
    assert row.output_shape == (1, 128, 64) and row.params == 64000 and row.dtype == "float32"
    assert "padding_idx" in error_of("input ids 4 dtype=int64\nembedding 10 4 padding_idx=10")


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
