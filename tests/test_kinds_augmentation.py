"""Augmentation kinds (nnshape/kinds/augmentation.py): flips, crops and resizes as torchvision
sizes them (its documented resize rule), error messages.
"""

from __future__ import annotations

import pytest

import nnshape
from nnshape.errors import NNShapeError, SpecShapeError


def out(spec: str, batch: int = 1, **bindings):
    return nnshape.summarize(spec, batch=batch, **bindings).output_shape


def error_of(spec: str, cls=NNShapeError, **bindings) -> NNShapeError:
    with pytest.raises(cls) as info:
        nnshape.summarize(spec, **bindings)
    return info.value


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
