"""Shape kinds (nnshape/kinds/shape.py): flatten, reshape, permute, select, upsample: worked
examples, PyTorch's numbers, error messages.
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


def test_upsample_float_rule_against_torch():
    torch = pytest.importorskip("torch")
    for n in range(1, 20):
        for scale in (0.3, 0.7, 1.1, 1.5, 2.5, 1 / 3):
            want = torch.nn.Upsample(scale_factor=scale)(torch.zeros(1, 1, n)).shape[-1] if int(n * scale) >= 1 else None
            if want:
                assert out(f"input 1x{n}\nupsample scale={scale!r}")[-1] == want, (n, scale)
