"""Swin V2's window attention (``attention window=S cosine=true cpb=HIDDEN``) against a reference
written here with torchvision's ShiftedWindowAttentionV2 semantics (a packed qkv linear whose k bias
is zeroed in forward, scaled cosine scores with a clamped logit scale, the continuous position
bias MLP over log-spaced offsets, pad/roll/mask as Swin V1; torchvision itself cannot be installed
beside this torch: the zoo run in docs/importers.md covers it), and HF's Swinv2Layer: outputs
with the weights copied across, parameters, buffers, FlopCounterMode MACs, saved-for-backward
bytes, explain text and the errors."""

from __future__ import annotations

import pytest

import nnshape

from oracle import analyze_with_calls, counting_flags, forward_counted, n_params, check_saved_exact
from torch_nets import ShiftedWindowAttentionV2

torch = pytest.importorskip("torch")


def copy_into(twin, ref):
    """The reference's weights into the twin (the packed qkv split into q, k, v)."""
    c, (wh, ww) = ref.proj.in_features, ref.window_size
    state = {"logit_scale": ref.logit_scale, "o_proj.weight": ref.proj.weight,
             "cpb_mlp.0.weight": ref.cpb_mlp[0].weight, "cpb_mlp.0.bias": ref.cpb_mlp[0].bias,
             "cpb_mlp.2.weight": ref.cpb_mlp[2].weight,
             "relative_coords_table": ref.relative_coords_table,
             "relative_position_index": ref.relative_position_index.view(wh * ww, -1)}
    for i, p in enumerate("qkv"):
        state[f"{p}_proj.weight"] = ref.qkv.weight[i * c:(i + 1) * c]
        if ref.qkv.bias is not None:
            state[f"{p}_proj.bias"] = ref.qkv.bias[i * c:(i + 1) * c]
    if ref.proj.bias is not None:
        state["o_proj.bias"] = ref.proj.bias
    twin.load_state_dict(state)


def last(text: str, batch: int):
    _, observed = analyze_with_calls(text, batch=batch)
    return observed[-1].call, observed[-1].inference


CASES = [  # (H, W, C, heads, window (h, w), shift (h, w), hidden, qkv_bias, proj_bias, batch)
    (16, 16, 24, 3, (8, 8), (0, 0), 512, True, True, 2),  # swin_v2_t's first stage, narrower
    (16, 16, 24, 3, (8, 8), (4, 4), 64, True, True, 1),  # shifted
    (7, 7, 32, 4, (8, 8), (4, 4), 32, True, True, 2),  # the last stage: padded to 8×8, one window, no shift
    (10, 13, 16, 2, (4, 4), (2, 2), 16, False, True, 2),  # padded both ways, shifted, no qkv bias
    (12, 8, 16, 4, (4, 4), (2, 2), 16, True, False, 1),
    (9, 10, 16, 2, (4, 3), (2, 1), 16, True, True, 2),  # a window and a shift per axis (torchvision takes lists)
]


def spelled(pair):
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}x{pair[1]}"


@pytest.mark.parametrize("h, w, c, heads, window, shift, hidden, qkv_bias, proj_bias, batch", CASES)
def test_twin_is_swin_v2_attention(h, w, c, heads, window, shift, hidden, qkv_bias, proj_bias, batch):
    torch.manual_seed(0)
    ref = ShiftedWindowAttentionV2(c, window, shift, heads, qkv_bias, proj_bias, hidden).eval()
    with torch.no_grad():  # away from the defaults, so every weight matters (the k bias too: it must not)
        for p in ref.parameters():
            p.normal_(0, 0.5)
        ref.logit_scale.fill_(5.0)  # above log 100: the clamp matters
        ref.logit_scale[0] = 0.3
    line = f"attention heads={heads} window={spelled(window)}" + (f" shift={spelled(shift)}" if any(shift) else "")
    line += f" cosine=true cpb={hidden}" + ("" if qkv_bias else " qkv_bias=false") + ("" if proj_bias else " o_bias=false")
    call, inf = last(f"input {h}x{w}x{c}\n{line}\n", batch)
    twin = call.kind.build(call).eval()
    copy_into(twin, ref)
    x = torch.randn(batch, h, w, c)
    with counting_flags():
        ours, our_macs = forward_counted(twin, x)
        theirs, their_macs = forward_counted(ref, x)
    assert ours.shape == theirs.shape == (batch, h, w, c)
    torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)
    assert inf.params == n_params(ref) == n_params(twin)
    assert inf.buffers == sum(b.numel() for b in ref.buffers()) == sum(b.numel() for b in twin.buffers())
    assert inf.macs == our_macs == their_macs
    (wh, ww), offsets = window, (2 * window[0] - 1) * (2 * window[1] - 1)
    assert inf.buffers == (wh * ww) ** 2 + 2 * offsets
    assert inf.params == 4 * c * c + 3 * c * qkv_bias + c * proj_bias + heads + 3 * hidden + hidden * heads


def test_k_bias_gets_no_say_but_a_zero_gradient():
    """As torchvision's zeroed slice of qkv.bias: changing the k bias changes nothing, and a backward
    gives it a zero gradient (not none: `verify --train-step` reports no dead parameter)."""
    call, _ = last("input 8x8x16\nattention heads=2 window=4 cosine=true cpb=16\n", 2)
    twin = call.kind.build(call).eval()
    x = torch.randn(2, 8, 8, 16)
    before = twin(x)
    with torch.no_grad():
        twin.k_proj.bias.normal_()
    after = twin(x)
    assert torch.equal(before, after)
    after.sum().backward()
    assert twin.k_proj.bias.grad is not None and not twin.k_proj.bias.grad.any()
    assert twin.q_proj.bias.grad.any() and twin.logit_scale.grad.any() and twin.cpb_mlp[0].weight.grad.any()


def test_post_norm_block_is_hf_swinv2_layer():
    """A shifted Swin V2 block (HF's Swinv2Layer: post-norm, q and v biases, no k bias) on a 16×16
    map: parameters, buffers and MACs, with `k_bias=false`."""
    from transformers import Swinv2Config
    from transformers.models.swinv2.modeling_swinv2 import Swinv2Layer

    config = Swinv2Config(embed_dim=32, window_size=8)
    hf = Swinv2Layer(config, dim=32, input_resolution=(16, 16), num_heads=2, shift_size=4).eval()
    spec = """input 16x16x32
residual:
    attention heads=2 window=8 shift=4 cosine=true cpb=512 k_bias=false
    layernorm
residual:
    linear 128
    gelu
    linear 32
    layernorm
"""
    s = nnshape.summarize(spec)
    assert s.total_params == n_params(hf)
    assert s.total_buffers == sum(b.numel() for b in hf.buffers())
    with counting_flags():
        _, macs = forward_counted(hf, torch.randn(1, 256, 32), (16, 16))
    assert s.total_macs == macs


SAVED = [
    "input 16x16x24\nlinear 24\nattention heads=3 window=8 cosine=true cpb=64\n",
    "input 12x12x24\nlinear 24\nattention heads=3 window=8 shift=4 cosine=true cpb=64\n",
    "input 8x8x16\nlinear 16\nattention heads=2 window=4 shift=2 cosine=true\n",
    "input 8x8x16\nlinear 16\nattention heads=4 kv_heads=2 grid=4 cpb=32\n",
    "input 8x8x16\nlinear 16\nattention heads=4 window=4 cosine=true cpb=32 dropout=0.1\n",
    "input 8x8x16\nlinear 16\nattention heads=4 kv_heads=2 window=8 cosine=true\n",
    "input 7x9x16\nlinear 16\nattention heads=4 window=4 shift=2 cosine=true cpb=16 k_bias=false\n",
    "input 9x10x16\nlinear 16\nattention heads=2 window=4x3 shift=2x1 cosine=true cpb=16\n",
    "input 3x7x7x16\nlinear 16\nattention heads=2 window=2x4x4 shift=1x2x2 cosine=true rel_pos=true\n",
]


@pytest.mark.parametrize("text", SAVED)
@pytest.mark.parametrize("batch", [1, 2])
def test_saved_for_backward_is_exact(text, batch):
    check_saved_exact(text, batch, all_trained=True)


def test_cosine_goes_with_a_3d_window():
    """Scaled cosine attention is no 2-D matter: on Video Swin's windows it adds its H scales (the
    position-bias MLP, which reads 2-D offsets, is E0342 there)."""
    plain = nnshape.summarize("input 4x8x8x16\nattention heads=2 window=2x4x4 rel_pos=true\n")
    cosine = nnshape.summarize("input 4x8x8x16\nattention heads=2 window=2x4x4 rel_pos=true cosine=true\n")
    assert cosine.total_params == plain.total_params + 2
    assert (cosine.total_macs, cosine.total_buffers) == (plain.total_macs, plain.total_buffers)


def test_explain_names_the_v2_terms():
    from nnshape.analysis import analyze
    from nnshape.parser import parse
    from nnshape.source import Source

    source = Source("<test>", "input 16x16x24\nattention heads=3 window=8 cosine=true cpb=512\n")
    lines = analyze(parse(source), source, batch=1, explain=True).leaves[0].explain
    text = "\n".join(lines)
    assert "cos(q, k) · exp(min(logit_scale, log 100))" in text and "16·sigmoid(MLP 2 → 512 → H" in text
    assert "+ 3 (logit_scale H×1×1) + 3·512 + 512·3 (CPB MLP 2→512→H) = 5,475" in text  # = the counted params
    assert "buffers = L·L + (2·8−1)²·2 = 64·64 + 225·2 = 4,546" in text
    assert "+ 225·5·512 (CPB MLP, once per forward) = 1,952,256" in text


@pytest.mark.parametrize("text, code", [
    ("input 6x16\nattention heads=2 cosine=true\n", "E0342"),
    ("input 6x16\nattention heads=2 cpb=512\n", "E0342"),
    ("input 8x8x16\nattention heads=2 window=4 rel_pos=true cpb=64\n", "E0342"),
    ("input 8x8x16\nattention heads=2 window=1 cpb=64\n", "E0303"),
    ("input 8x8x16\nattention heads=2 window=4 cpb=0\n", "E0303"),
    ("input 8x8x16\nattention heads=2 window=4 cosine=maybe\n", "E0303"),
    ("input 8x8x16\nattention heads=2 window=4x1 cpb=16\n", "E0303"),
    ("input 4x8x8x16\nattention heads=2 window=2x4x4 cpb=16\n", "E0342"),
])
def test_errors_are_located(text, code):
    with pytest.raises(nnshape.NNShapeError) as err:
        nnshape.summarize(text)
    assert err.value.code == code, str(err.value)
    assert err.value.diagnostic.span is not None and err.value.diagnostic.span.line == text.count("\n")


def test_import_refuses_another_position_bias_mlp():
    """A Swin V2 attention whose MLP is not Linear(2, D) → ReLU → Linear(D, heads, bias=False) is not
    written approximately: E0723 with the module path and the reason."""
    from nnshape.importers.errors import ImportFailure

    module = ShiftedWindowAttentionV2(16, [4, 4], [0, 0], 2, hidden=8)
    module.cpb_mlp[2] = torch.nn.Linear(8, 2, bias=True)
    with pytest.raises(ImportFailure) as info:
        nnshape.import_torch(torch.nn.Sequential(module), torch.randn(2, 8, 8, 16))
    assert info.value.code == "E0723"
    assert "0: " in info.value.message and "position-bias MLP of another make" in info.value.message
