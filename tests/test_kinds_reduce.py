"""nnshape/kinds/reduce.py: mean, sum and amax beyond tests/test_registry.py: memory against torch,
dims and their errors, dtypes, receptive fields, labels."""

from __future__ import annotations

import pytest

import nnshape
from nnshape.registry import GLOBAL, Field

from oracle import check_label_is_spec_text, check_saved_alone, kind_cases

CASES = kind_cases("mean", "sum", "amax")


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


def test_reductions():
    assert nnshape.summarize("input 64x7x7\nmean (2, 3)\n").output_shape == (1, 64)
    assert nnshape.summarize("input 64x7x7\nsum (-1, 1) true\n").output_shape == (1, 1, 7, 1)
    fails("input 64x7x7\nmean (0, 2)\n", "E0417")
    fails("input 64x7x7\nmean (2, -2)\n", "E0303")
    fails("input 64x7x7\nmean 4\n", "E0403")
    fails("input ids 7 dtype=int64\nmean 1\n", "E0413")
    s = nnshape.summarize("input ids 7x3 dtype=int32\nsum 1\namax 1\n")
    assert [r.dtype for r in s.layers] == ["int64", "int64"]
    s = nnshape.summarize("input 7x3\nsum 1\n", dtype="float16")
    assert s.layers[0].dtype == "float32"  # the tensor's dtype; --dtype sets only the bytes
    assert str(nnshape.summarize("input (L, 64)\nmean 1\n").output_shape) == "(1, 64)"


def test_receptive_field_rules():
    def last_field(text):
        return nnshape.summarize(text).layers[-1].receptive_field

    base = "input 3x16x16\nconv 8 k3\n"
    assert last_field(base + "mean (2, 3)\n") == GLOBAL
    assert last_field(base + "amax (-1, -2) true\n") == GLOBAL
    assert last_field(base + "sum 1 keepdim=true\n") == (Field(3, 1, 0),) * 2
    assert last_field(base + "mean 2\n") is None  # one spatial dim gone: no grid
    assert last_field(base + "sum 1\n") is None  # the channels gone: H would read as channels
