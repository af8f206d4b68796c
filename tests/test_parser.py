"""nnshape.parser's entry points outside a spec: parse_expression reads one expression with the
spec's grammar (what `--set NAME=VALUE` and `check --output SHAPE` take)."""

from __future__ import annotations

import pytest

from nnshape.errors import SpecSyntaxError
from nnshape.parser import parse_expression
from nnshape.source import Source
from nnshape.syntax import Binary, Dims, Name, TupleExpr, expr_text


def expr(text: str):
    return parse_expression(Source("<t>", text))


def test_one_expression():
    assert isinstance(expr("L * 2"), Binary) and expr_text(expr("L * 2")) == "L*2"
    assert isinstance(expr("3x224x224"), Dims)
    assert isinstance(expr("(L, 768)"), TupleExpr)
    assert expr("gelu") == Name("gelu", expr("gelu").span)


def test_not_one_line_is_none():
    assert expr("1\n2") is None
    assert expr("# only a comment") is None


def test_not_an_expression_is_a_located_error():
    with pytest.raises(SpecSyntaxError) as info:
        expr("2 3")
    assert info.value.code == "E0121" and info.value.span.col == 3
