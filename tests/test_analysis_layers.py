"""nnshape.analysis.layers: a line whose kind comes from a string parameter (`act` with
act='hardswish'), one MobileNet-V3 def for every variant of its block."""

from __future__ import annotations

import pytest

import nnshape
from nnshape.errors import NNShapeError


def error(text: str) -> NNShapeError:
    with pytest.raises(NNShapeError) as info:
        nnshape.summarize(text)
    return info.value


def test_a_string_parameter_names_the_kind_of_a_line():
    text = "def unit(c, act='relu'):\n    linear c\n    act\ninput 8\nunit 4\nunit 4 act='hardswish'\nunit 4 act='GELU'\n"
    s = nnshape.summarize(text)
    assert [r.kind for r in s.layers if not r.is_block and r.kind != "linear"] == ["relu", "hardswish", "gelu"]
    assert [r.label for r in s.layers if r.kind == "hardswish"] == ["hardswish"]


def test_the_line_takes_arguments_and_can_name_a_def():
    text = "def twice(c):\n    linear c\n    linear c\ndef f(c, norm='layernorm', body='twice'):\n    body c\n    norm eps=1e-3\ninput 8\nf 6\n"
    s = nnshape.summarize(text)
    assert s.output_shape == (1, 6) and s.total_params == 8 * 6 + 6 + 6 * 6 + 6 + 12


def test_kinds_and_defs_win_over_a_constant_of_the_same_name():
    s = nnshape.summarize("let relu = 3\ninput 8\nrelu\n")
    assert s.layers[0].kind == "relu"


def test_errors():
    assert error("def f(act='rleu'):\n    act\ninput 4\nf\n").code == "E0212"
    assert error("let c = 64\ninput 4\nc\n").code == "E0212"
    assert error("input 4\nnothing\n").code == "E0202"


def test_against_torch():
    pytest.importorskip("torch")
    from nnshape.verifier import verify

    text = "def unit(c, act='relu'):\n    conv c k3 p1\n    act\ninput 3x8x8\nunit 4\nunit 4 act='hardswish'\nunit 4 act='leakyrelu'\n"
    assert verify(text, device="cpu").ok
