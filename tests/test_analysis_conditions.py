"""nnshape.analysis.conditions: `if` / `elif` / `else` decided on constants at analysis time;
and the expressions conditions are made of (nnshape.values: comparisons, `and`/`or`/`not`,
min max round floor ceil abs)."""

from __future__ import annotations

import pytest

import nnshape
from nnshape.errors import NNShapeError
from nnshape.parser import parse_expression
from nnshape.source import Source
from nnshape.values import Evaluator


def summary(text: str, **kw):
    return nnshape.summarize(text, **kw)


def error(text: str, **kw) -> NNShapeError:
    with pytest.raises(NNShapeError) as info:
        nnshape.summarize(text, **kw)
    return info.value


def value(text: str, **names):
    return Evaluator(lambda n: names[n], lambda: list(names)).eval(parse_expression(Source("<t>", text)))


IF = """\
input 16
if s == 1:
    linear 8
elif s == 2:
    linear 4
    relu
else:
    bogus 3 nothing=here
"""


def test_the_first_true_arm_runs_in_place():
    one = summary(IF, s=1)
    assert one.output_shape == (1, 8) and [r.path for r in one.layers] == ["0"]
    two = summary(IF, s=2)
    assert two.output_shape == (1, 4) and [r.path for r in two.layers] == ["0", "1"]


def test_arms_not_taken_are_not_analyzed():
    assert summary(IF, s=1).total_params == 16 * 8 + 8  # `bogus` is never looked at
    assert error(IF, s=3).code == "E0202"  # the else arm, taken, is


def test_no_arm_taken_is_nothing():
    s = summary("input 16\nif false:\n    linear 8\nrelu\n")
    assert s.output_shape == (1, 16) and [r.label for r in s.layers] == ["relu"]


def test_let_inside_if_is_visible_after_it():
    s = summary("let c = 4\nif c > 2:\n    let c = 10\nelse:\n    let c = 1\ninput 16\nlinear c\n")
    assert s.output_shape == (1, 10)


def test_a_binding_overrides_a_let_in_a_top_level_if():
    s = summary("if true:\n    let n = 4\ninput 16\nlinear n\n", n=6)
    assert s.output_shape == (1, 6)


def test_conditions_on_def_parameters_and_sizes():
    text = """\
def unit(c, s=1):
    if s == 1 and in[1] == c:
        residual:
            conv c k3 p1
    else:
        conv c k3 s=s p1
input 8x8x8
unit 8
unit 16 s=2
unit 16
"""
    s = summary(text)
    assert s.output_shape == (1, 16, 4, 4)
    assert [r.kind for r in s.layers if r.depth == 1] == ["residual", "conv2d", "residual"]


def test_bare_boolean_names():
    assert summary("let se = true\ninput 16\nif se:\n    linear 2\n").output_shape == (1, 2)
    assert summary("input 16\nif not se:\n    linear 2\n", se=False).output_shape == (1, 2)


def test_condition_errors():
    err = error("input 16\nif S > 1:\n    linear 4\n")
    assert err.code == "E0210" and "--set S=" in err.hint and err.span.line == 2
    err = error("let width = 2\ninput 16\nif widht > 1:\n    linear 4\n")
    assert err.code == "E0210" and "width" in err.hint
    assert error("let c = 64\ninput 16\nif c:\n    linear 8\n").code == "E0360"
    assert error("input 16\nif 1 and true:\n    relu\n").code == "E0360"
    assert error("input 16\nelse:\n    relu\n").code == "E0150"
    assert error("input 16\nif true\n    relu\n").code == "E0111"
    assert error("input 16\nif 'a' < 'b':\n    relu\n").code == "E0304"


def test_a_condition_on_a_symbolic_size_names_the_set():
    err = error("input (L, 8)\nif in[1] > 4:\n    relu\n")
    assert err.code == "E0302" and "--set L=" in err.hint


def test_elif_chains_and_inline_bodies():
    text = "input 16\nif n < 0: relu\nelif n < 5: gelu\nelif n < 10: silu\nelse: tanh\n"
    assert [summary(text, n=n).layers[0].kind for n in (-1, 2, 7, 20)] == ["relu", "gelu", "silu", "tanh"]


@pytest.mark.parametrize("text,expected", [
    ("1 < 2 <= 2", True), ("1 < 2 < 2", False), ("3 == 3.0", True), ("true == 1", False),
    ("'relu' != 'gelu'", True), ("(1, 2) == (1, 2)", True), ("not 1 > 2 and 2 > 1", True),
    ("false or 1 == 1", True), ("1 + 1 == 2 and not false", True),
    ("max(8, 3)", 8), ("min((4, 2, 9))", 2), ("round(2.5)", 2), ("round(3.5)", 4), ("round(2.675, 2)", 2.67),
    ("floor(-2.5)", -3), ("ceil(7 / 2)", 4), ("abs(-3)", 3), ("max(8, round(96 * 0.75 / 8) * 8)", 72),
])
def test_expression_values(text, expected):
    assert value(text) == expected and type(value(text)) is type(expected)


def test_or_and_short_circuit_as_python():
    assert value("n == 0 or 12 // n > 1", n=0) is True
    assert value("n != 0 and 12 // n > 1", n=0) is False


def test_function_errors():
    assert error("input 16\nlinear max()\n").code == "E0362"
    assert error("input 16\nlinear max(3)\n").code == "E0362"
    assert error("input 16\nlinear floor(1, 2)\n").code == "E0362"
    assert error("input 16\nlinear abs('a')\n").code == "E0304"
    assert error("input (L, 4)\nlinear max(in[1], 2)\n").code == "E0302"


def test_unused_set_warns_with_the_name_meant():
    s = summary("input (S, 8)\nlinear 4\n", s=30)
    assert [w.code for w in s.warnings] == ["W0211"] and "`S`" in s.warnings[0].hint
    assert not summary("input (S, 8)\nlinear 4\n", S=30).warnings
    # a name read only in an arm not taken is still the spec's own
    assert not summary("input 8\nif false:\n    linear k\n", k=3).warnings
