"""nnshape/kinds/multiscale.py (poolattention, tokenpool, posemb3d) against an MViT written the
way torchvision's video MViT is (tests/mvit_nets.py): outputs equal with the weights copied
across, and the parameters, buffers and MACs (FlopCounterMode / 2) of the reference module; v1
(conv pooling, absolute positions) and v2 (decomposed relative positions, residual pooling),
with and without strides; memory against torch's saved tensors; the located errors."""

from __future__ import annotations

import pytest

import nnshape

from oracle import analyze_with_calls, check_label_is_spec_text, check_saved_alone, forward_counted, kind_cases, n_params

def _x(values) -> str:
    return "x".join(map(str, values))


CASES = kind_cases("poolattention", "tokenpool", "posemb3d")


def fails(text: str, code: str) -> nnshape.NNShapeError:
    with pytest.raises(nnshape.NNShapeError) as info:
        nnshape.summarize(text)
    assert info.value.code == code, str(info.value)
    return info.value


# (id, thw, dim, dim_out, heads, kernel_q, kernel_kv, stride_q, stride_kv, reference keywords)
SETTINGS = [
    ("v1-kv-stride", (2, 4, 4), 8, 8, 2, [], [3, 3, 3], [], [1, 2, 2], {}),
    ("v1-q-stride", (2, 4, 4), 8, 8, 2, [3, 3, 3], [3, 3, 3], [1, 2, 2], [1, 1, 1], {}),
    ("v1-no-pool", (2, 3, 3), 8, 8, 2, [], [], [], [], {}),
    ("v2-no-stride", (2, 4, 4), 8, 16, 2, [3, 3, 3], [3, 3, 3], [1, 1, 1], [1, 1, 1],
     {"rel_pos_embed": True, "residual_pool": True, "residual_with_cls_embed": False}),
    ("v2-stride", (2, 4, 4), 8, 16, 2, [3, 3, 3], [3, 3, 3], [1, 2, 2], [1, 2, 2],
     {"rel_pos_embed": True, "residual_pool": True, "residual_with_cls_embed": False}),
    ("v2-odd-grid", (3, 5, 7), 12, 12, 3, [3, 3, 3], [3, 3, 3], [1, 2, 2], [2, 2, 3],
     {"rel_pos_embed": True, "residual_pool": True, "residual_with_cls_embed": True}),
    ("max-pool", (2, 4, 4), 8, 8, 1, [1, 3, 3], [1, 3, 3], [1, 2, 2], [1, 2, 2], {"pool": "max"}),
    ("avg-pool", (3, 4, 4), 8, 8, 2, [3, 3, 3], [3, 3, 3], [1, 1, 1], [1, 2, 2], {"pool": "avg", "residual_pool": True}),
]


@pytest.mark.parametrize("setting", SETTINGS, ids=[s[0] for s in SETTINGS])
def test_poolattention_equals_the_reference(setting):
    torch = pytest.importorskip("torch")
    import mvit_nets
    from mvit_nets import copy_weights, spec_line

    _, thw, dim, dim_out, heads, kq, kkv, sq, skv, ref_kw = setting
    torch.manual_seed(0)
    ref = mvit_nets.MultiscaleAttention(list(thw), dim, dim_out, heads, kq, kkv, sq, skv, **ref_kw).eval()
    length = 1 + thw[0] * thw[1] * thw[2]
    text = f"input {length}x{dim}\n{spec_line(thw, dim_out, heads, kq, kkv, sq, skv, ref_kw)}\n"
    summary, observed = analyze_with_calls(text, batch=2)
    twin = observed[0].call.kind.build(observed[0].call).eval()
    copy_weights(ref, twin)
    x = torch.randn(2, length, dim)
    (want, q_thw), macs = forward_counted(ref, x, thw)
    got = twin(x)
    assert got.shape == want.shape == tuple(summary.output_shape)
    assert torch.allclose(got, want, atol=1e-6, rtol=0), (got - want).abs().max()
    assert summary.total_params == n_params(ref) == n_params(twin)
    assert summary.total_buffers == 0 == sum(b.numel() for b in ref.buffers())
    assert summary.total_macs == macs
    assert f"→ {_x(q_thw)}" in dict(summary.layers[0].details)["grid"]


@pytest.mark.parametrize("stride", [[1, 2, 2], [2, 2, 2]])
def test_tokenpool_equals_the_reference_skip(stride):
    torch = pytest.importorskip("torch")
    import mvit_nets

    kernel = [s + 1 if s > 1 else s for s in stride]
    padding = [k // 2 for k in kernel]
    ref = mvit_nets.Pool(torch.nn.MaxPool3d(kernel, stride=stride, padding=padding))
    thw = (4, 4, 6)
    x = torch.randn(2, 1 + 96, 8)
    text = f"input 97x8\ntokenpool {_x(kernel)} s={_x(stride)} p={_x(padding)} thw={_x(thw)}\n"
    summary, observed = analyze_with_calls(text, batch=2)
    (want, out_thw), macs = forward_counted(ref, x, thw)
    got = observed[0].call.kind.build(observed[0].call)(x)
    assert torch.equal(got, want) and tuple(summary.output_shape) == tuple(want.shape)
    assert summary.total_params == summary.total_macs == macs == 0
    assert f"→ {_x(out_thw)}" in dict(summary.layers[0].details)["grid"]


@pytest.mark.parametrize("rel_pos", [False, True], ids=["v1-absolute", "v2-relative"])
def test_class_token_and_positions_equal_the_reference(rel_pos):
    torch = pytest.importorskip("torch")
    import mvit_nets

    torch.manual_seed(1)
    ref = mvit_nets.PositionalEncoding(6, (3, 4), 2, rel_pos)
    text = "input 24x6\nclstoken\n" + ("" if rel_pos else "posemb3d thw=2x3x4\n")
    summary, observed = analyze_with_calls(text, batch=2)
    token, *positions = [o.call.kind.build(o.call) for o in observed]
    with torch.no_grad():
        token.token.copy_(ref.class_token.view(1, 1, -1))
        for twin in positions:
            twin.spatial.copy_(ref.spatial_pos)
            twin.temporal.copy_(ref.temporal_pos)
            twin.cls.copy_(ref.class_pos)
    x = torch.randn(2, 24, 6)
    want, macs = forward_counted(ref, x.clone())
    got = token(x)
    for twin in positions:
        got = twin(got)
    assert torch.equal(got, want)
    assert summary.total_params == n_params(ref) and summary.total_macs == macs == 0


@pytest.mark.parametrize("v2", [False, True], ids=["v1", "v2"])
def test_a_block_written_in_the_language_counts_as_the_reference(v2):
    """MultiscaleBlock as spec lines: norm1, attention beside the (pooled, projected) skip, the
    MLP beside its own skip; v1 widens after attention (the MLP's skip projected), v2 in it."""
    torch = pytest.importorskip("torch")
    import mvit_nets

    ref = mvit_nets.MultiscaleBlock([2, 4, 4], 2, 8, 16, [3, 3, 3], [3, 3, 3], [1, 2, 2], [1, 2, 2], v2=v2)
    attn = ("poolattention 2 thw=2x4x4 dim_out={} kernel_q=3 stride_q=1x2x2 kernel_kv=3 stride_kv=1x2x2 eps=1e-6"
            .format(16 if v2 else 8) + (" rel_pos=true residual_pool=true residual_cls=false" if v2 else ""))
    skip = "tokenpool 1x3x3 s=1x2x2 p=0x1x1 thw=2x4x4"
    if v2:
        text = f"""input 33x8
layernorm eps=1e-6
residual:
    {attn}
shortcut:
    linear 16
    {skip}
residual:
    layernorm eps=1e-6
    linear 64
    gelu
    linear 16
"""
    else:
        text = f"""input 33x8
residual:
    layernorm eps=1e-6
    {attn}
shortcut:
    {skip}
layernorm eps=1e-6
residual:
    linear 32
    gelu
    linear 16
shortcut:
    linear 16
"""
    summary = nnshape.summarize(text, batch=2)
    want, macs = forward_counted(ref, torch.randn(2, 33, 8), (2, 4, 4))
    assert tuple(summary.output_shape) == tuple(want[0].shape) and want[1] == (2, 2, 2)
    assert summary.total_params == n_params(ref)
    assert summary.total_macs == macs


@pytest.mark.parametrize("name,example", CASES, ids=[f"{k}:{e}" for k, e in CASES])
def test_saved_for_backward_and_views_match_torch(name, example):
    pytest.importorskip("torch")
    check_saved_alone(example, name)


@pytest.mark.parametrize("name,example", CASES, ids=[f"{k}:{e}" for k, e in CASES])
def test_row_labels_are_spec_text(name, example):
    check_label_is_spec_text(example)


def test_the_grid_must_match_the_sequence():
    err = fails("input 65x16\npoolattention 2 thw=4x4x5\n", "E0480")
    assert "1 + 4·4·5 = 81" in err.expected and "65" in err.found
    fails("input 65x16\ntokenpool 3 thw=8x8\n", "E0303")  # three sizes
    fails("input 64x16\nposemb3d thw=4x4x4\n", "E0480")  # no class token
    fails("input 65\nposemb3d thw=4x4x4\n", "E0402")
    fails("input (L, 16)\npoolattention 2 thw=4x4x4\n", "E0404")


def test_arguments_are_checked():
    fails("input 65x16\npoolattention 3 thw=4x4x4\n", "E0407")  # 16 not divisible by 3
    fails("input 65x16\npoolattention 2 thw=4x4x4 rel_pos=true stride_q=1x8x8 stride_kv=1x8x8\n", "E0481")
    fails("input 33x8\npoolattention 2 thw=2x4x4 kernel_kv=3 pool='avg'\n", "E0405")  # avg_pool3d: kernel ≤ grid
    fails("input 65x16\npoolattention 2 thw=4x4x4 pool='sum'\n", "E0303")
    fails("input 65x8\ntokenpool 3 p=2 thw=4x4x4\n", "E0303")


def test_rows_say_the_grid_they_leave():
    s = nnshape.summarize("input 25089x96\n"  # 1 + 8·56·56 tokens: mvit_v2_s's first block
                          "poolattention 1 thw=8x56x56 dim_out=192 kernel_kv=3 stride_kv=1x8x8 kernel_q=3 stride_q=1x2x2\n")
    details = dict(s.layers[0].details)
    assert details["grid"] == "8x56x56 → 8x28x28" and details["kv grid"] == "8x7x7"
    assert s.output_shape[-2:] == (1 + 8 * 28 * 28, 192)
