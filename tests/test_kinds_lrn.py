"""nnshape/kinds/lrn.py: local response normalization beyond tests/test_registry.py: memory against
torch (the input, the channel-padded squares and the power's base and result), ranks, labels."""

from __future__ import annotations

import pytest

import nnshape

from oracle import check_label_is_spec_text, check_saved_alone, kind_cases

CASES = kind_cases("lrn")


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


def test_lrn_ranks_and_defaults():
    err = fails("input 16\nlrn 5\n", "E0402")
    assert "3 or more" in err.message and "channels" in err.hint
    assert nnshape.summarize("input 96x55x55\nlrn 5 alpha=1e-4 beta=0.75 k=2\n").total_params == 0
    assert nnshape.summarize("input 4x3x5x5\nlrn 2 k2\n").layers[0].label == "lrn 2 k=2"
    assert nnshape.summarize("input 6x10\nlrn 3\n").layers[0].saved_bytes == 0  # the input needs no gradient
