"""Transformer layer kinds (nnshape/kinds/transformer.py: encoderlayer, decoderlayer): nn.Transformer's
totals, symbolic sequence lengths, modules built here, and the error messages for bad specs.
"""

from __future__ import annotations

import importlib.util
import textwrap

import pytest

import nnshape
from nnshape import NNShapeError, SpecArgumentError
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


# ----------------------------------------------------------------------------- known totals


@needs_torch
def test_nn_transformer_defaults_match_torch():
    import torch
    import torch.nn as nn

    s = summarize(
        """\
        input src 10x512
        input tgt 20x512
        from src as memory:
            repeat 6:
                encoderlayer 8
            layernorm 512
        from tgt:
            repeat 6:
                decoderlayer 8 memory=memory
            layernorm 512
        """
    )
    torch.manual_seed(0)
    model = nn.Transformer(batch_first=True)
    params, macs = torch_counts(model, torch.randn(1, 10, 512), torch.randn(1, 20, 512))
    assert (params, macs) == (44_140_544, 664_903_680)
    assert s.output_shape == (1, 20, 512)
    assert (s.total_params, s.total_macs) == (params, macs)


# ----------------------------------------------------------------------------- symbolic lengths

SYMBOLIC = {
    "encoderlayer": ("input (L, 16)\nencoderlayer 4 ff=32\n", ("L",)),
    "decoderlayer": ("input tgt (T, 16)\ninput src (S, 16)\ndecoderlayer 4 ff=32 memory=src\n", ("T", "S")),
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
    mem = torch.randn(2, 5, 16)
    cases = [
        (
            "input (L, 16)\nencoderlayer 2 ff=24 norm_first=true bias=false",
            nn.TransformerEncoderLayer(16, 2, 24, norm_first=True, bias=False, batch_first=True),
            (x,),
        ),
        (
            "input tgt (L, 16)\ninput mem 5x16\ndecoderlayer 4 ff=8 memory=mem",
            nn.TransformerDecoderLayer(16, 4, 8, batch_first=True),
            (x, mem),
        ),
    ]
    for text, module, inputs in cases:
        s = summarize(text, batch=2, L=length)
        assert (s.total_params, s.total_macs) == torch_counts(module, *inputs), text


# ----------------------------------------------------------------------------- errors


def test_heads_must_divide_the_embedding():
    fails("input 5x10\nencoderlayer 3\n", "not divisible by nhead=3")


def test_decoder_needs_memory_of_the_same_width():
    fails("input tgt 5x8\ninput src 4x6\ndecoderlayer 2 memory=src\n", "memory's last dim", "linear 8")
    fails("input 5x8\ndecoderlayer 2\n", "needs 'memory'", cls=SpecArgumentError)
