"""Sequence kinds (nnshape/kinds/sequence.py): positional encodings against the lecture notes'
table and PyTorch's tutorial, posemb, clstoken and embedding: error messages and counts.
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
