"""Pooling kinds (nnshape/kinds/pooling.py): worked examples, PyTorch's numbers, error messages.

Pinned sizes come from the lecture notes (4x4 -> 2x2 pooling) and from running the PyTorch modules
(torch 2.x, noted where used).
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


@pytest.mark.parametrize(
    "grid, kernel, padding",
    [((2, 4, 4), (3, 3, 3), (1, 1, 1)), ((2, 4, 4), (2, 3, 3), (1, 1, 1)), ((1, 4, 4), (1, 5, 3), (0, 2, 1)),
     ((3, 5, 5), (3, 3, 3), (0, 0, 0)), ((1, 1, 1), (1, 1, 1), (0, 0, 0))],
)
def test_avgpool3d_accepts_what_torch_accepts(grid, kernel, padding):
    """avg_pool3d refuses an input smaller than its kernel along any axis even when padding would
    make room (PyTorch's shape check, meta device included); max_pool3d and the 2-D pools do not."""
    torch = pytest.importorskip("torch")
    spec = f"input 2x{'x'.join(map(str, grid))}\navgpool3d k={kernel} s=1 p={padding}"
    try:
        want = tuple(torch.nn.functional.avg_pool3d(torch.empty(1, 2, *grid, device="meta"), kernel, 1, padding).shape)
    except RuntimeError:
        want = None
    if want is None:
        err = error_of(spec, SpecShapeError)
        assert err.code == "E0405" and "at least as large as the kernel" in err.message
        assert err.line == 2 and "kernel_size" in err.found
    else:
        assert out(spec) == want
    # the same window as a max pool is always fine when padding makes room
    assert out(spec.replace("avgpool3d", "maxpool3d"))[:2] == (1, 2)


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
