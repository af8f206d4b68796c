"""Pooling, shape and augmentation kinds: worked examples, PyTorch's numbers, error messages.

Pinned sizes come from the lecture notes (4x4 -> 2x2 pooling), from running the PyTorch modules
(torch 2.x, noted where used) or from torchvision's documented resize rule.
"""

from __future__ import annotations

import pytest

import nnshape
from nnshape.errors import NNShapeError, SpecArgumentError, SpecShapeError
from nnshape.symbolic import Poly


def out(spec: str, batch: int = 1, **bindings):
    return nnshape.summarize(spec, batch=batch, **bindings).output_shape


def error_of(spec: str, cls=NNShapeError, **bindings) -> NNShapeError:
    with pytest.raises(cls) as info:
        nnshape.summarize(spec, **bindings)
    return info.value


L = Poly.symbol("L")

# ----------------------------------------------------------------------------- pooling


@pytest.mark.parametrize("kind", ["maxpool", "maxpool2d", "avgpool2d"])
def test_lecture_pooling_4x4_to_2x2(kind):
    summary = nnshape.summarize(f"input 1x4x4\n{kind} 2 s2")
    assert summary.output_shape == (1, 1, 2, 2)
    assert summary.total_params == 0 and summary.total_macs == 0


def test_stride_defaults_to_kernel_size():
    assert out("input 3x8x8\nmaxpool2d 2") == (1, 3, 4, 4)
    assert out("input 3x9x9\navgpool2d 3") == (1, 3, 3, 3)


# (length, kernel, stride, padding) -> output length, printed by nn.MaxPool1d / nn.AvgPool1d (torch 2.13)
TORCH_POOL_1D = [
    ((5, 2, 2, 0), 2, 3),
    ((6, 3, 2, 0), 2, 3),
    ((7, 3, 2, 1), 4, 4),
    ((10, 3, 3, 1), 4, 4),
    ((4, 2, 2, 0), 2, 2),
    ((13, 3, 2, 1), 7, 7),
    ((224, 3, 2, 0), 111, 112),
    ((112, 3, 2, 1), 56, 57),
    ((5, 3, 3, 1), 2, 2),  # ceil would give 3, but the last window would start in the right padding
]


@pytest.mark.parametrize("kind", ["maxpool1d", "avgpool1d"])
@pytest.mark.parametrize("case,floor,ceil", TORCH_POOL_1D)
def test_ceil_mode_matches_torch(kind, case, floor, ceil):
    n, k, s, p = case
    assert out(f"input 1x{n}\n{kind} {k} s={s} p={p}")[-1] == floor
    assert out(f"input 1x{n}\n{kind} {k} s={s} p={p} ceil_mode=true")[-1] == ceil


def test_ceil_mode_2d_matches_torch():
    # nn.MaxPool2d(3, 2, ceil_mode=True) on 13x14 -> 6x7; floor -> 6x6; AvgPool2d(3, 2, 1, ceil) on 6x7 -> 4x4
    assert out("input 1x13x14\nmaxpool2d 3 s2 ceil_mode=true") == (1, 1, 6, 7)
    assert out("input 1x13x14\nmaxpool2d 3 s2") == (1, 1, 6, 6)
    assert out("input 1x6x7\navgpool2d 3 s2 p1 ceil_mode=true") == (1, 1, 4, 4)


def test_floor_dropping_rows_warns():
    summary = nnshape.summarize("input 3x7x7\nmaxpool2d 2")
    assert summary.output_shape == (1, 3, 3, 3)
    assert any("floor drops 1" in w.message for w in summary.warnings)


def test_kernel_larger_than_input_is_an_error():
    err = error_of("input 3x4x4\nmaxpool2d 5", SpecShapeError)
    assert err.code == "E0405"
    assert "does not fit along H" in err.message and "1×3×4×4" in err.found


def test_padding_more_than_half_the_kernel_is_an_error():
    # nn.MaxPool2d(3, padding=2): "pad should be at most half of effective kernel size"
    err = error_of("input 3x8x8\nmaxpool2d 3 p2", SpecArgumentError)
    assert "at most half the kernel size" in err.message
    assert "kernel_size // 2 = 1" in err.expected
    # k=4, p=2 is allowed (torch gives 8 -> 5)
    assert out("input 1x8x8\navgpool2d 4 p2") == (1, 1, 3, 3)


def test_avgpool1d_has_no_divisor_override_and_maxpool_has_no_count_include_pad():
    assert "divisor_override" in error_of("input 3x8\navgpool1d 2 divisor_override=2").message
    assert "count_include_pad" in error_of("input 3x8x8\nmaxpool2d 2 count_include_pad=false").message


def test_pool_rank_errors_hint():
    err = error_of("input 8x13\nmaxpool2d 2")
    assert err.code == "E0402" and "unflatten" in err.hint
    err = error_of("input 2x8x8x8\nmaxpool2d 2")
    assert "maxpool3d" in err.hint


def test_adaptive_pools():
    assert out("input 512x13x13\nadaptiveavgpool2d 7") == (1, 512, 7, 7)
    assert out("input 8x13x11\nadaptivemaxpool2d (none, 3)") == (1, 8, 13, 3)
    assert out("input 8x3x4\nadaptiveavgpool2d (6, 8)") == (1, 8, 6, 8)  # bigger than the input is fine
    assert out("input 4x6x8x8\nadaptivemaxpool3d (none, 4, 3)") == (1, 4, 6, 4, 3)
    assert out("input (3, L)\nadaptiveavgpool1d 4") == (1, 3, 4)
    assert out("input (3, L, 8)\nadaptiveavgpool2d (none, 2)") == (1, 3, L, 2)
    err = error_of("input 8x13x11\nadaptiveavgpool2d (1, 2, 3)", SpecArgumentError)
    assert "output_size" in err.message


def test_gap_is_rank_generic():
    assert out("input 512x7x7\ngap") == (1, 512, 1, 1)
    assert out("input 8x10\ngap") == (1, 8, 1)
    assert out("input 4x3x5x6\ngap", batch=2) == (2, 4, 1, 1, 1)
    assert error_of("input 10\ngap").code == "E0402"


def test_symbolic_pooling():
    assert out("input (3, L)\nmaxpool1d 3 s1 p1") == (1, 3, L)
    err = error_of("input (3, L)\nmaxpool1d 2")
    assert err.code == "E0404" and "L" in err.message
    assert out("input (3, L)\nmaxpool1d 2", L=9) == (1, 3, 4)


# ----------------------------------------------------------------------------- shape


def test_flatten_default_and_ranges():
    assert out("input 16x5x5\nflatten") == (1, 400)
    assert out("input 3x4x5x6\nflatten 2", batch=2) == (2, 3, 120)
    assert out("input 3x4x5x6\nflatten 1 -2") == (1, 60, 6)
    assert out("input (L, 8)\nflatten") == (1, 8 * L)
    assert "start_dim comes after end_dim" in error_of("input 4x6\nflatten 2 1").message
    assert "batch" in error_of("input 4x6\nflatten 0").message


def test_unflatten_and_reshape_infer_minus_one():
    assert out("input 400\nunflatten 1 16x5x5") == (1, 16, 5, 5)
    assert out("input 3x12x5\nunflatten 2 (2, -1)") == (1, 3, 2, 6, 5)
    assert out("input 400\nreshape 16x5x5") == (1, 16, 5, 5)
    assert out("input 16x5x5\nreshape 16 -1", batch=4) == (4, 16, 25)
    assert out("input 2x3x4\nview (4, -1)") == (1, 4, 6)
    assert out("input (L, 8)\nreshape (-1, 2, 4)") == (1, L, 2, 4)


def test_reshape_count_mismatch_shows_both_counts():
    err = error_of("input 16x5x5\nreshape 10x10x5", SpecShapeError)
    assert "400" in err.message and "10×10×5" in err.message
    assert "500" in err.found and "400" in err.expected
    err = error_of("input 16x5x5\nreshape (3, -1)")
    assert "not a multiple of 3" in err.found
    assert "at most one -1" in error_of("input 4x6\nunflatten 1 (-1, -1)").message
    assert error_of("input (L, 8)\nreshape (-1, 3)").code == "E0404"


def test_permute_transpose_select():
    assert out("input 3x32x32\npermute 0 2 3 1") == (1, 32, 32, 3)
    assert out("input 3x4x5\npermute (0, -1, 1, 2)") == (1, 5, 3, 4)
    assert out("input 5x7\ntranspose 1 2") == (1, 7, 5)
    assert out("input 197x768\nselect 1 0", batch=3) == (3, 768)
    assert out("input 3x4x5\nselect -1 -5") == (1, 3, 4)


def test_bad_permute():
    err = error_of("input 4x6\npermute 0 1 1", SpecArgumentError)
    assert "permutation of all 3 dims" in err.message
    err = error_of("input 3x8x8\npermute 1 2 0")
    assert "permute 0 2 3 1" in err.hint  # forgot the batch dim
    assert "batch" in error_of("input 4x6\npermute 1 0 2").message


def test_batch_dim_cannot_be_selected_or_swapped():
    err = error_of("input 197x768\nselect 0 0")
    assert "batch" in err.message and "select 1 0" in err.hint
    assert err.code == "E0417"
    assert "batch" in error_of("input 4x6\ntranspose 0 1").message
    assert "batch" in error_of("input 4x6\nunflatten 0 (1, -1)").message
    err = error_of("input 4x6\nselect 1 4")
    assert err.code == "E0416" and "[-4, 3]" in err.expected


def test_shape_kinds_keep_integer_ids():
    summary = nnshape.summarize("input ids 12 dtype=int64\nreshape 3x4\npermute 0 2 1\nflatten\nidentity")
    assert summary.output_shape == (1, 12) and summary.output_dtype == "int64"


def test_upsample_sizes():
    assert out("input 3x8x8\nupsample scale=2") == (1, 3, 16, 16)
    # nn.Upsample(scale_factor=1.1, mode='nearest-exact') on 7x10 -> 7x11; scale 0.3 on 10x10 -> 3x3
    assert out("input 1x7x10\nupsample scale=1.1 mode='nearest-exact'") == (1, 1, 7, 11)
    assert out("input 1x10x10\nupsample scale=0.3") == (1, 1, 3, 3)
    assert out("input 2x5x6\nupsample size=(9, 4) mode=bicubic") == (1, 2, 9, 4)
    assert out("input (3, L)\nupsample scale=2 mode=linear") == (1, 3, 2 * L)


def test_upsample_errors():
    assert "needs a 3-D input" in error_of("input 3x4x6\nupsample scale=2 mode=linear").message
    assert "exactly one of size and scale_factor" in error_of("input 3x4x6\nupsample scale=2 size=3").message
    assert "exactly one of size and scale_factor" in error_of("input 3x4x6\nupsample").message
    assert "align_corners" in error_of("input 3x4x6\nupsample scale=2 align_corners=true").message
    assert "empty" in error_of("input 3x4x6\nupsample scale=0.1").message
    assert error_of("input (3, L)\nupsample scale=1.5").code == "E0404"


# ----------------------------------------------------------------------------- augmentation


def test_flips_keep_the_shape_and_dtype():
    summary = nnshape.summarize("input img 3x8x9 dtype=uint8\nhflip\nvflip")
    assert summary.output_shape == (1, 3, 8, 9) and summary.output_dtype == "uint8"


def test_random_crop():
    assert out("input 3x32x32\nrandomcrop 32 4") == (1, 3, 32, 32)
    assert out("input 3x40x50\nrandomcrop (24, 30)") == (1, 3, 24, 30)
    assert out("input 3x20x12\nrandomcrop 16 pad_if_needed=true") == (1, 3, 16, 16)
    err = error_of("input 3x28x30\nrandomcrop 32 padding=(2, 1)", SpecShapeError)
    assert "larger than the padded input 30×34" in err.message
    assert "padding takes 1, 2 or 4 values" in error_of("input 3x8x8\nrandomcrop 6 (1, 2, 3)").message


def test_center_crop_pads_a_small_input_with_a_warning():
    summary = nnshape.summarize("input 3x5x6\ncentercrop 8")
    assert summary.output_shape == (1, 3, 8, 8)
    assert any("pads it with zeros" in w.message for w in summary.warnings)


def test_random_resized_crop_ignores_the_input_size():
    assert out("input 3x256x320\nrandomresizedcrop 224") == (1, 3, 224, 224)
    assert out("input 3x9x9\nrandomresizedcrop (12, 40)") == (1, 3, 12, 40)


def test_resize_smaller_edge_like_torchvision():
    # torchvision: short edge -> size, long edge -> int(size * long / short); 375x500 -> 256x341
    assert out("input 3x375x500\nresize 256") == (1, 3, 256, 341)
    assert out("input 3x500x375\nresize 224") == (1, 3, 298, 224)
    assert out("input 3x100x300\nresize 50 max_size=120") == (1, 3, 40, 120)
    assert out("input 3x7x9\nresize (4, 12)") == (1, 3, 4, 12)
    assert "max_size" in error_of("input 3x8x8\nresize 8 max_size=5").message


def test_pca_color_needs_rgb():
    summary = nnshape.summarize("input 3x224x224\npcacolor")
    assert summary.output_shape == (1, 3, 224, 224) and summary.total_params == 0
    assert "3 (RGB) channels" in error_of("input 4x8x8\npcacolor").message


# ----------------------------------------------------------------------------- torch cross-checks


TORCH_SWEEP = [
    ("maxpool1d 3 s=2 p=1 ceil_mode=true", lambda nn: nn.MaxPool1d(3, 2, 1, ceil_mode=True)),
    ("avgpool1d 2 s=3 ceil_mode=true", lambda nn: nn.AvgPool1d(2, 3, ceil_mode=True)),
    ("avgpool1d 3 s=2 p=1 ceil_mode=true", lambda nn: nn.AvgPool1d(3, 2, 1, ceil_mode=True)),
    ("maxpool1d 2 s=2 d=2 ceil_mode=true", lambda nn: nn.MaxPool1d(2, 2, dilation=2, ceil_mode=True)),
]


@pytest.mark.parametrize("line,make", TORCH_SWEEP, ids=[line for line, _ in TORCH_SWEEP])
def test_ceil_mode_sweep_against_torch(line, make):
    torch = pytest.importorskip("torch")
    module = make(torch.nn)
    for n in range(3, 30):
        assert out(f"input 1x{n}\n{line}")[-1] == module(torch.zeros(1, 1, n)).shape[-1], n


def test_upsample_float_rule_against_torch():
    torch = pytest.importorskip("torch")
    for n in range(1, 20):
        for scale in (0.3, 0.7, 1.1, 1.5, 2.5, 1 / 3):
            want = torch.nn.Upsample(scale_factor=scale)(torch.zeros(1, 1, n)).shape[-1] if int(n * scale) >= 1 else None
            if want:
                assert out(f"input 1x{n}\nupsample scale={scale!r}")[-1] == want, (n, scale)
