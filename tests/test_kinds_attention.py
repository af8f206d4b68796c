"""Attention kinds (nnshape/kinds/attention.py: mha, attention): counts against real torch modules,
symbolic sequence lengths, and the error messages for bad specs.
"""

from __future__ import annotations

import importlib.util
import textwrap

import pytest

import nnshape
from nnshape import NNShapeError
from nnshape.symbolic import Poly

HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")


def summarize(text: str, **kw):
    return nnshape.summarize(textwrap.dedent(text), **kw)


def torch_counts(module, *inputs):
    """(params, MACs) of a real module as torch reports them (FlopCounterMode FLOPs / 2)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from oracle import counting_flags

    module.train(False)
    with counting_flags(), torch.no_grad():
        counter = FlopCounterMode(display=False)
        with counter:
            module(*inputs)
    return sum(p.numel() for p in module.parameters()), counter.get_total_flops() // 2


def fails(text: str, *needles: str, cls=NNShapeError, **kw) -> NNShapeError:
    with pytest.raises(cls) as info:
        summarize(text, **kw)
    report = str(info.value)
    for needle in needles:
        assert needle in report, report
    return info.value


# ----------------------------------------------------------------------------- symbolic lengths

SYMBOLIC = {
    "mha": ("input (L, 16)\nmha 4 causal=true\n", ("L",)),
    "mha_cross": ("input tgt (T, 16)\ninput src (S, 6)\nmha 4 kv=src add_bias_kv=true\n", ("T", "S")),
    "attention": ("input (L, 32)\nattention 8 kv_heads=2 rope=true\n", ("L",)),
}


@pytest.mark.parametrize("name", SYMBOLIC)
def test_symbolic_lengths_give_polynomials_that_agree_with_concrete_ones(name):
    text, symbols = SYMBOLIC[name]
    s = summarize(text)
    assert isinstance(s.total_macs, Poly) and set(s.total_macs.symbols) == set(symbols)
    values = {sym: 3 + 4 * i for i, sym in enumerate(symbols)}
    concrete = summarize(text, **values)
    assert s.total_macs.substitute(values) == concrete.total_macs
    assert s.total_params == concrete.total_params  # parameters never depend on a length
    assert s.output_shape[2] == concrete.output_shape[2]


@needs_torch
@pytest.mark.parametrize("length", [1, 7])
def test_layers_match_modules_built_here(length):
    """Each kind against a torch module constructed directly (not through the kind's twin)."""
    import torch
    import torch.nn as nn

    x = torch.randn(2, length, 16)
    cases = [
        ("input (L, 16)\nmha 4 bias=false", nn.MultiheadAttention(16, 4, bias=False, batch_first=True), (x, x, x)),
    ]
    for text, module, inputs in cases:
        s = summarize(text, batch=2, L=length)
        assert (s.total_params, s.total_macs) == torch_counts(module, *inputs), text


def test_attention_without_gqa_costs_what_mha_costs():
    a = summarize("input 9x32\nattention 4\n")
    b = summarize("input 9x32\nmha 4\n")
    assert (a.total_params, a.total_macs) == (b.total_params, b.total_macs)


def test_grouped_query_attention_by_hand():
    # D=32, H=8, Hkv=2, hd=4, L=10: q 32·32, k/v 32·8 each, o 32·32, biases 32+8+8+32
    s = summarize("input 10x32\nattention 8 kv_heads=2\n")
    assert s.total_params == 32 * 32 + 2 * 32 * 8 + 32 * 32 + (32 + 8 + 8 + 32)
    assert s.total_macs == 10 * 32 * 32 + 2 * 10 * 32 * 8 + 2 * 8 * 10 * 10 * 4 + 10 * 32 * 32
    assert ("scores", "1×8×10×10") in s.layers[0].details


def test_causal_and_rope_change_no_count():
    plain = summarize("input 6x16\nattention 2\n")
    both = summarize("input 6x16\nattention 2 causal=true rope=true\n")
    assert (plain.total_params, plain.total_macs) == (both.total_params, both.total_macs)


# ----------------------------------------------------------------------------- errors


def test_heads_must_divide_the_embedding():
    fails("input 5x10\nmha 4\n", "not divisible by num_heads=4")


def test_mha_kdim_is_checked_against_kv():
    fails("input tgt 5x8\ninput src 4x6\nmha 2 kv=src kdim=8\n", "kdim=8", "kdim = 6")


def test_kv_must_be_a_sequence():
    fails("input tgt 5x8\ninput img 3x4x4\nmha 2 kv=img\n", "kv as an N×L×D sequence", "1×3×4×4")


def test_kv_names_a_known_tensor():
    fails("input 5x8\nmha 2 kv=nothing\n", "nothing")


def test_kv_heads_must_divide_heads():
    fails("input 5x24\nattention 6 kv_heads=4\n", "num_heads=6 is not a multiple of kv_heads=4")


def test_rope_needs_an_even_head_dim():
    fails("input 5x12\nattention 4 rope=true\n", "even head_dim", "head_dim=3")
