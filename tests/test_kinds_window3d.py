"""Window attention with a window per axis: 2-D windows that are not square (torchvision's Swin
takes a list) and 3-D windows on N×T×H×W×C maps (torchvision's Video Swin). The twin is checked
against ``Reference`` (tests/window_reference.py), written from the semantics of torchvision's
``ShiftedWindowAttention`` / ``ShiftedWindowAttention3d`` (packed qkv, explicit matmuls, the
masks labelled token by token): outputs equal with the weights copied across, and equal
params, buffers and MACs (FlopCounterMode). torchvision itself is checked by
benchmarks/import_zoo.py (swin3d_t/s/b), outside CI."""

from __future__ import annotations

import pytest

import nnshape

from oracle import analyze_with_calls, counting_flags, n_params, check_saved_exact

torch = pytest.importorskip("torch")

from window_reference import Reference  # noqa: E402 - after the skip: it imports torch


def counted(module, x) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with counting_flags(), torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(x)
    return counter.get_total_flops() // 2


def copy_weights(twin, ref):
    c = ref.proj.weight.shape[0]
    w, b = ref.qkv.weight, ref.qkv.bias
    with torch.no_grad():
        for i, p in enumerate("qkv"):
            getattr(twin, f"{p}_proj").weight.copy_(w[i * c:(i + 1) * c])
            getattr(twin, f"{p}_proj").bias.copy_(b[i * c:(i + 1) * c])
        twin.o_proj.weight.copy_(ref.proj.weight)
        twin.o_proj.bias.copy_(ref.proj.bias)
        twin.relative_position_bias_table.copy_(ref.relative_position_bias_table)


def _x(values):
    return "x".join(map(str, values))


CASES = [  # (map T×H×W or H×W, window, shift)
    ((4, 6, 6), (2, 3, 3), (0, 0, 0)),  # 3-D, divides, unshifted
    ((4, 6, 6), (2, 3, 3), (1, 1, 1)),  # shifted on every axis
    ((5, 7, 4), (2, 3, 3), (1, 1, 1)),  # padded on every axis, shifted
    ((3, 6, 5), (4, 3, 2), (2, 1, 1)),  # T shorter than the window: cut to 3, no shift along T
    ((2, 3, 3), (4, 3, 3), (2, 1, 1)),  # every axis covered: one window, no shift, index read in part
    ((4, 2, 7), (2, 3, 3), (1, 1, 1)),  # H cut to 2: the first L×L of the index are not a box (torchvision's)
    ((5, 6), (3, 2), (1, 1)),  # 2-D, not square, padded along H, shifted
    ((6, 5), (3, 5), (1, 2)),  # 2-D: W covered by one window, so W is not shifted
]


@pytest.mark.parametrize("dims, window, shift", CASES)
def test_twin_is_the_reference(dims, window, shift):
    c, heads = 8, 2
    shift_text = f" shift={_x(shift)}" if any(shift) else ""
    spec = f"input {_x(dims)}x{c}\nattention heads={heads} window={_x(window)}{shift_text} rel_pos=true\n"
    _, observed = analyze_with_calls(spec, batch=2)
    call, inf = observed[-1].call, observed[-1].inference
    torch.manual_seed(0)
    ref = Reference(c, window, shift, heads).eval()
    twin = call.kind.build(call).eval()
    copy_weights(twin, ref)
    x = torch.randn(2, *dims, c)
    with torch.no_grad():
        torch.testing.assert_close(twin(x), ref(x), rtol=1e-5, atol=1e-5)
    assert inf.params == n_params(twin) == n_params(ref)
    assert inf.buffers == sum(b.numel() for b in twin.buffers()) == ref.relative_position_index.numel()
    assert inf.macs == counted(twin, x) == counted(ref, x)
    assert tuple(inf.shape) == (2, *dims, c)


def test_square_window_is_unchanged():
    """window=7 is window=7x7, shift=3 is shift=3x3: the same numbers and twin."""
    a = nnshape.summarize("input 14x14x24\nattention heads=3 window=7 shift=3 rel_pos=true\n")
    b = nnshape.summarize("input 14x14x24\nattention heads=3 window=7x7 shift=3x3 rel_pos=true\n")
    assert (a.total_params, a.total_buffers, a.total_macs) == (b.total_params, b.total_buffers, b.total_macs)


def test_swin3d_t_first_block_counts():
    """swin3d_t's first attention at 16×224×224 (8×56×56×96 after the 2×4×4 patches): the table
    (15·13·13 = 2,535 rows × 3 heads) and the 392×392 index, as torchvision's
    ShiftedWindowAttention3d registers them; 7·8·8 windows of 392 tokens; T = 8 is not shifted."""
    s = nnshape.summarize("input 8x56x56x96\nattention heads=3 window=8x7x7 shift=4x3x3 rel_pos=true\n")
    tokens = 8 * 56 * 56
    assert s.total_params == 4 * 96 * 96 + 4 * 96 + 2535 * 3
    assert s.total_buffers == 392 * 392
    assert s.total_macs == 4 * tokens * 96 * 96 + 2 * 64 * 3 * 392 * 392 * 32
    assert dict(s.layers[-1].details)["window"] == "8×7×7, shift 0×3×3"


SAVED = [
    "input 4x6x6x8\nlinear 8\nattention heads=2 window=2x3x3 rel_pos=true\n",
    "input 4x6x6x8\nlinear 8\nattention heads=2 window=2x3x3 shift=1 rel_pos=true\n",
    "input 5x7x4x8\nlinear 8\nattention heads=2 window=2x3x3 shift=1x1x1\n",
    "input 2x3x6x8\nlinear 8\nattention heads=2 window=4x3x6 shift=2x1x3 rel_pos=true\n",
    "input 2x6x3x8\nlinear 8\nattention heads=2 window=2x3x3\n",
    "input 5x6x8\nlinear 8\nattention heads=2 window=3x2 shift=1 rel_pos=true\n",
    "input 6x6x8\nlinear 8\nattention heads=2 window=1\n",
]


@pytest.mark.parametrize("text", SAVED)
@pytest.mark.parametrize("batch", [1, 2])
def test_saved_for_backward_is_exact(text, batch):
    check_saved_exact(text, batch)


@pytest.mark.parametrize("text, code", [
    ("input 4x8x8x16\nattention heads=2 window=2x2x2x2\n", "E0303"),  # 4 axes
    ("input 4x8x8x16\nattention heads=2 window=2x4x4 shift=1x1\n", "E0303"),  # shift axes ≠ window axes
    ("input 4x8x8x16\nattention heads=2 window=2x4x4 shift=1x4x1\n", "E0303"),  # shift ≥ window on an axis
    ("input 4x8x8x16\nattention heads=2 window=0x4x4\n", "E0303"),
    ("input 8x8x16\nattention heads=2 window=2x4x4\n", "E0402"),  # a 3-D window on an N×H×W×C map
    ("input 4x8x8x16\nattention heads=2 window=4x4\n", "E0402"),  # a 2-D window on an N×T×H×W×C map
    ("input 4x8x8x16\nattention heads=2 grid=4\n", "E0402"),
])
def test_errors_are_located(text, code):
    with pytest.raises(nnshape.NNShapeError) as err:
        nnshape.summarize(text)
    assert err.value.code == code, str(err.value)
    assert err.value.diagnostic.span is not None and err.value.diagnostic.span.line == text.count("\n")


@pytest.mark.parametrize("window, shift, line", [
    ((8, 7, 7), (0, 0, 0), "attention heads=2 window=8x7x7 rel_pos=true"),
    ((8, 7, 7), (4, 3, 3), "attention heads=2 window=8x7x7 shift=4x3x3 rel_pos=true"),
    ((2, 3, 3), (1, 1, 1), "attention heads=2 window=2x3x3 shift=1 rel_pos=true"),
    ((7, 7), (3, 3), "attention heads=2 window=7 shift=3 rel_pos=true"),
    ((7, 5), (3, 2), "attention heads=2 window=7x5 shift=3x2 rel_pos=true"),
])
def test_importer_writes_the_window_per_axis(window, shift, line):
    """torchvision's ShiftedWindowAttention / ShiftedWindowAttention3d attributes -> the spec line."""
    from nnshape.importers.torch_map import _swin_attention

    assert _swin_attention(Reference(8, window, shift, 2), None) == [line]
