"""Recurrent kinds (nnshape/kinds/recurrent.py): totals against real torch modules, symbolic
sequence lengths, and the error messages for bad specs.
"""

from __future__ import annotations

import importlib.util
import textwrap

import pytest

import nnshape
from nnshape import NNShapeError, SpecArgumentError, SpecShapeError
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
def test_lstm_two_layer_bidirectional_matches_torch():
    import torch
    import torch.nn as nn

    s = summarize("input 50x128\nlstm 256 num_layers=2 bidirectional=true\n")
    params, macs = torch_counts(nn.LSTM(128, 256, num_layers=2, bidirectional=True, batch_first=True), torch.randn(1, 50, 128))
    assert (params, macs) == (2_367_488, 117_964_800)
    assert s.output_shape == (1, 50, 512)
    assert (s.total_params, s.total_macs) == (params, macs)


# ----------------------------------------------------------------------------- symbolic lengths

SYMBOLIC = {
    "lstm": ("input (L, 12)\nlstm 8 2 bidirectional=true proj_size=3\n", ("L",)),
    "gru": ("input (L, 12)\ngru 8\n", ("L",)),
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
        ("input (L, 16)\nrnn 8 nonlinearity='relu'", nn.RNN(16, 8, nonlinearity="relu", batch_first=True), (x,)),
        ("input (L, 16)\ngru 8 3", nn.GRU(16, 8, 3, batch_first=True), (x,)),
        ("input (L, 16)\nlstm 8 proj_size=2 bias=false", nn.LSTM(16, 8, proj_size=2, bias=False, batch_first=True), (x,)),
    ]
    for text, module, inputs in cases:
        s = summarize(text, batch=2, L=length)
        assert (s.total_params, s.total_macs) == torch_counts(module, *inputs), text


def test_lstm_dropout_with_one_layer_warns():
    s = summarize("input 5x8\nlstm 4 dropout=0.5\n")
    assert any("no effect" in w.message for w in s.warnings)


# ----------------------------------------------------------------------------- errors


def test_batch_first_false_is_refused():
    err = fails("input 5x8\nlstm 4 batch_first=false\n", "batch_first=true", cls=SpecArgumentError)
    assert err.line == 2


def test_recurrent_needs_a_sequence():
    fails("input 8\ngru 4\n", "N×L×D", "1×8", cls=SpecShapeError)


def test_recurrent_input_size_is_checked():
    fails("input 5x8\nrnn 4 input_size=6\n", "input_size=6", "input_size = 8")


def test_proj_size_must_be_smaller_than_hidden():
    fails("input 5x8\nlstm 4 proj_size=4\n", "proj_size must be smaller", cls=SpecArgumentError)


def test_token_ids_need_an_embedding_first():
    fails("input 5x8 dtype=int64\nlstm 4\n", "float", "embedding")
