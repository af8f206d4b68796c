"""Recurrent, attention and transformer kinds: whole-model totals against real torch modules,
symbolic sequence lengths, and the error messages for bad specs."""

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
    "lstm": ("input (L, 12)\nlstm 8 2 bidirectional=true proj_size=3\n", ("L",)),
    "gru": ("input (L, 12)\ngru 8\n", ("L",)),
    "mha": ("input (L, 16)\nmha 4 causal=true\n", ("L",)),
    "mha_cross": ("input tgt (T, 16)\ninput src (S, 6)\nmha 4 kv=src add_bias_kv=true\n", ("T", "S")),
    "attention": ("input (L, 32)\nattention 8 kv_heads=2 rope=true\n", ("L",)),
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
        ("input (L, 16)\nrnn 8 nonlinearity='relu'", nn.RNN(16, 8, nonlinearity="relu", batch_first=True), (x,)),
        ("input (L, 16)\ngru 8 3", nn.GRU(16, 8, 3, batch_first=True), (x,)),
        ("input (L, 16)\nlstm 8 proj_size=2 bias=false", nn.LSTM(16, 8, proj_size=2, bias=False, batch_first=True), (x,)),
        ("input (L, 16)\nmha 4 bias=false", nn.MultiheadAttention(16, 4, bias=False, batch_first=True), (x, x, x)),
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


def test_heads_must_divide_the_embedding():
    fails("input 5x10\nmha 4\n", "not divisible by num_heads=4")
    fails("input 5x10\nencoderlayer 3\n", "not divisible by nhead=3")


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


def test_decoder_needs_memory_of_the_same_width():
    fails("input tgt 5x8\ninput src 4x6\ndecoderlayer 2 memory=src\n", "memory's last dim", "linear 8")
    fails("input 5x8\ndecoderlayer 2\n", "needs 'memory'", cls=SpecArgumentError)
