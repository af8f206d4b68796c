"""nnshape.analysis.binding: one binder for layer lines and def calls, each with its own rules.

The shared match (positional, key=value, compact k3, each once, defaults) is pinned through both
callees, with the differences that are part of the language: a kind's unknown key is recovered
(more errors are reported), a def's stops the analysis; a kind's label shows a compact argument's
key, a def call's shows its value alone.
"""

from __future__ import annotations

import pytest

import nnshape
from nnshape import SpecArgumentError, SpecNameError


def labels(text: str) -> list[str]:
    return [row.label for row in nnshape.summarize(text).layers]


def error(text: str) -> nnshape.NNShapeError:
    with pytest.raises(nnshape.NNShapeError) as info:
        nnshape.summarize(text)
    return info.value


def test_a_layer_label_shows_values_in_the_order_written():
    assert labels("input 3x8x8\nconv2d 4 s=1 k3 padding=1\n") == ["conv2d 4 s=1 k=3 padding=1"]


def test_a_def_call_label_shows_a_compact_argument_as_its_value():
    text = "input 8\ndef proj(d, k=1):\n    linear d\nproj 4 k3\nproj 4 k=2\n"
    assert labels(text)[0::2] == ["proj 4 3", "proj 4 k=2"]


def test_a_bound_name_is_not_read_as_the_compact_form():
    text = "input 3x8x8\nlet k3 = 5\nconv2d 4 k3\n"  # k3 is a constant: the kernel size 5
    assert labels(text) == ["conv2d 4 5"]


def test_a_variadic_positional_takes_the_rest():
    assert labels("input 2x3x4\npermute 0 2 1 3\n") == ["permute (0, 2, 1, 3)"]  # a dim list is labelled as a tuple


def test_given_twice():
    kind = error("input 8\nlinear 4 out_features=4\n")
    assert isinstance(kind, SpecArgumentError) and kind.code == "E0311"
    assert "linear: 'out_features' is given twice" in kind.message and kind.hint
    call = error("input 8\ndef f(d):\n    linear d\nf 4 d=4\n")
    assert call.code == "E0311" and call.message == "f(): 'd' is given twice" and call.hint is None


def test_too_many_positional():
    assert "linear: too many positional arguments" in error("input 8\nlinear 4 5\n").message
    assert error("input 8\ndef f(d):\n    linear d\nf 4 5\n").message == "f() takes 1 argument(s)"


def test_an_unknown_key_of_a_kind_is_recovered_of_a_def_is_not():
    kind = error("input 8\nlinear 4 nope=1\nrelu oops=2\n")
    assert isinstance(kind, SpecNameError) and kind.code == "E0207"
    assert [e.line for e in [kind] + kind.others] == [2, 3]  # both reported
    call = error("input 8\ndef f(d):\n    linear d\nf 4 nope=1\nrelu oops=2\n")
    assert call.code == "E0207" and call.line == 4 and not call.others


def test_a_def_key_matches_its_parameter_in_any_case():
    assert labels("input 8\ndef f(D):\n    linear D\nf d=4\n")[0] == "f D=4"


def test_missing_arguments_name_the_parameter():
    assert error("input 8\nlinear\n").message == "linear needs 'out_features'"
    assert error("input 8\ndef f(d):\n    linear d\nf\n").message == "f() needs 'd'"
