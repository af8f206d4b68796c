"""nnshape/kinds/quickgelu.py: CLIP's x·σ(1.702·x) beyond tests/test_registry.py: memory against
torch (the input and the sigmoid's output), labels."""

from __future__ import annotations

import pytest

import nnshape

from oracle import check_label_is_spec_text, check_saved_alone, kind_cases

CASES = kind_cases("quickgelu")


def fails(text: str, code: str) -> nnshape.NNShapeError:
    with pytest.raises(nnshape.NNShapeError) as info:
        nnshape.summarize(text)
    assert info.value.code == code, str(info.value)
    return info.value


@pytest.mark.parametrize("name,example", CASES, ids=[f"{k}:{e}" for k, e in CASES])
def test_saved_for_backward_and_views_match_torch(name, example):
    pytest.importorskip("torch")
    check_saved_alone(example, name)


@pytest.mark.parametrize("name,example", [c for c in CASES if "|" in c[1]], ids=[f"{k}:{e}" for k, e in CASES if "|" in e])
def test_row_labels_are_spec_text(name, example):
    check_label_is_spec_text(example)


def test_quickgelu_keeps_the_shape_and_grid():
    s = nnshape.summarize("input 3x8x8\nconv 4 k3\nquickgelu\n")
    assert s.layers[-1].output_shape == (1, 4, 6, 6) and s.layers[-1].receptive_field == s.layers[0].receptive_field
    assert nnshape.summarize("input 10\nquickgelu\n").layers[0].saved_bytes == 0  # the input needs no gradient
