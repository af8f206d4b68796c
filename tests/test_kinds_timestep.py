"""``timesteps`` (nnshape/kinds/timestep.py): diffusers' sinusoidal embedding, value for value."""

from __future__ import annotations

import math

import pytest

from oracle import analyze_with_calls

torch = pytest.importorskip("torch")


def test_timesteps_match_the_diffusers_formula():
    _, observed = analyze_with_calls("input t 1 dtype=int64\ntimesteps 6 flip_sin_to_cos=true freq_shift=0\n", batch=2)
    twin = observed[-1].call.kind.build(observed[-1].call)
    out = twin(torch.tensor([[3], [500]]))
    # diffusers: half = 3 frequencies exp(−ln(10000)·j/(3 − 0)); flipped: cos first
    for row, t in enumerate((3, 500)):
        freqs = [math.exp(-math.log(10000) * j / 3) for j in range(3)]
        expected = [math.cos(t * f) for f in freqs] + [math.sin(t * f) for f in freqs]
        assert out[row].tolist() == pytest.approx(expected, abs=1e-4)
