"""``weight_norm=DIM`` on linear and the convolutions (nnshape/kinds/_weight_norm.py) against torch:
HF wav2vec2's positional convolution (the layer the option exists for), torch's own weight_norm on
every dim of each weight, the saved-for-backward rule byte for byte, and the errors."""

from __future__ import annotations

import pytest

import nnshape

from oracle import analyze_with_calls, counting_flags

torch = pytest.importorskip("torch")


def last(text: str):
    _, observed = analyze_with_calls(text)
    return observed[-1].call, observed[-1].inference


def test_wav2vec2_positional_conv_is_hfs():
    """HF's Wav2Vec2PositionalConvEmbedding: conv1d with weight_norm over dim 2 (g: one per kernel
    tap), even kernel (its extra output column removed by HF's padding layer), then GELU."""
    transformers = pytest.importorskip("transformers")
    from torch.utils.flop_counter import FlopCounterMode
    from transformers.models.wav2vec2.modeling_wav2vec2 import Wav2Vec2PositionalConvEmbedding

    config = transformers.Wav2Vec2Config(hidden_size=32, num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=4)
    hf = Wav2Vec2PositionalConvEmbedding(config).eval()
    names = [name for name, _ in hf.named_parameters()]
    assert "conv.parametrizations.weight.original0" in names  # the parametrised form, as the twin holds it
    text = "input 32x50\nconv1d 32 k16 p8 groups=4 weight_norm=2\nslice 2 0 50\ngelu\n"
    s = nnshape.summarize(text, batch=2)
    assert s.total_params == sum(p.numel() for p in hf.parameters())
    x = torch.randn(2, 50, 32)  # HF takes N×L×D and transposes
    with counting_flags(), torch.no_grad(), FlopCounterMode(display=False) as counter:
        out = hf(x)
    assert tuple(out.shape) == (2, 50, 32) and tuple(s.output_shape) == (2, 32, 50)
    assert s.total_macs == counter.get_total_flops() // 2


@pytest.mark.parametrize("text,weight", [
    ("input 8x20\nconv1d 12 k5 groups=2 weight_norm={d}\n", (12, 4, 5)),
    ("input 8x9x9\nconv2d 12 k3 weight_norm={d}\n", (12, 8, 3, 3)),
    ("input 8x5x5\nconvtranspose2d 12 k3 weight_norm={d}\n", (8, 12, 3, 3)),
    ("input 7x8\nlinear 12 weight_norm={d}\n", (12, 8)),
])
def test_every_dim_adds_its_g(text, weight):
    """params + weight.shape[DIM]; MACs unchanged; the twin is torch's parametrisation."""
    from torch.utils.flop_counter import FlopCounterMode

    plain_call, plain = last(text.replace(" weight_norm={d}", ""))
    for d in range(len(weight)):
        call, inf = last(text.format(d=d))
        module = call.kind.build(call)
        assert tuple(module.parametrizations.weight.original1.shape) == weight
        assert inf.params == plain.params + weight[d] == sum(p.numel() for p in module.parameters())
        x = torch.randn(*call.x.shape)
        with counting_flags(), torch.no_grad(), FlopCounterMode(display=False) as counter:
            module(x)
        assert inf.macs == plain.macs == counter.get_total_flops() // 2


SAVED = [  # a layer before each, so the input needs a gradient as inside a network
    "input 8x20\nconv1d 8 k1\nconv1d 12 k5 groups=2 weight_norm=0\n",
    "input 8x20\nconv1d 8 k1\nconv1d 12 k6 p3 groups=4 weight_norm=1\n",
    "input 8x20\nconv1d 8 k1\nconv1d 12 k6 p3 groups=4 weight_norm=2\n",
    "input 8x9x9\nconv2d 8 k1\nconv2d 12 k3 weight_norm=2\n",
    "input 8x5x5\nconv2d 8 k1\nconvtranspose2d 12 k3 s2 weight_norm=1\n",
    "input 8x5x5\nconv2d 8 k1\nconvtranspose2d 12 k3 weight_norm=3\n",
    "input 7x8\nlinear 8\nlinear 12 weight_norm=0\n",
    "input 7x8\nlinear 8\nlinear 12 bias=false weight_norm=1\n",
]


@pytest.mark.parametrize("text", SAVED)
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_saved_for_backward_is_exact(text, dtype):
    """The computed weight, and the float32 norms of torch's fused kernel (DIM first or last) or
    the composite path's transposed copy of v and g-sized tensors, as saved_tensors_hooks sees them."""
    from nnshape.verifier import verify

    summary = nnshape.summarize(text, batch=2, dtype=dtype)
    step = verify(summary, device="cpu", train_step=True, dtype=dtype).train_step
    assert step.error is None
    assert step.analytic_saved_bytes == step.saved_for_backward_bytes


def test_details_and_explain():
    s = nnshape.summarize("input 768x50\nconv1d 768 k128 p64 groups=16 weight_norm=2\n")
    row = s.leaves[-1]
    assert dict(row.details)["weight_norm"] == "dim 2"
    assert row.params == 768 * 48 * 128 + 768 + 128  # wav2vec2-base's pos_conv_embed.conv: 4,719,488
    explained = nnshape.summarize("input 10x5\nlinear 6 weight_norm=0\n", explain=True).leaves[-1].explain
    assert "params = 5·6 + 6 + 6 (g) = 42" in explained


@pytest.mark.parametrize("text,code", [
    ("input 8x20\nconv1d 8 k3 weight_norm=3\n", "E0403"),
    ("input 7x8\nlinear 12 weight_norm=2\n", "E0403"),
    ("input 7x8\nlinear 12 weight_norm=-1\n", "E0303"),
    ("input 7x8\nlinear 12 weight_norm=true\n", "E0303"),
    ("input 10 dtype=int64\nwte: embedding 100 16\nlinear 100 bias=false tie=wte weight_norm=0\n", "E0343"),
    ("input 10 dtype=int64\nembedding 100 16\nhead: linear 100 weight_norm=0\nlinear 16\nlinear 100 tie=head\n", "E0343"),
])
def test_errors_are_located(text, code):
    with pytest.raises(nnshape.NNShapeError) as err:
        nnshape.summarize(text)
    assert err.value.code == code
    assert "weight_norm" in str(err.value)
