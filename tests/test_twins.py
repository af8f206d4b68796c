"""nnshape/twins.py (the one home of nnshape's torch modules) and nnshape/twinspec.py (a twin as data).

export copies classes out of twins.py as text, so the file keeps a few rules: it imports only
torch and nn, its helpers are top-level without decorators, and no top-level name looks like the
exported file's local variables (`name_<digits>`).
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import math
import re
from pathlib import Path

import pytest

import nnshape
from nnshape.twinspec import NotLiteral, Twin, literal

TWINS = Path(nnshape.__file__).parent / "twins.py"
HAS_TORCH = importlib.util.find_spec("torch") is not None


def top_level():
    return ast.parse(TWINS.read_text(encoding="utf-8")).body


def test_twins_imports_only_torch_and_nn():
    imports = [node for node in top_level() if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert [ast.unparse(node) for node in imports] == ["import torch", "from torch import nn"]
    nested = [node for node in ast.walk(ast.parse(TWINS.read_text())) if isinstance(node, (ast.Import, ast.ImportFrom))]
    assert len(nested) == len(imports), "no imports inside functions: the exported file could not follow them"


def test_twins_top_level_names_are_plain():
    for node in top_level():
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            assert not node.decorator_list, f"{node.name}: no decorators (export copies the definition's text)"
            assert not re.search(r"_\d+$", node.name), f"{node.name}: names ending in _<digits> are the exported file's locals"
        else:
            assert isinstance(node, (ast.Import, ast.ImportFrom, ast.Expr)), f"line {node.lineno}: only imports, functions and classes"


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_source_text_is_what_inspect_sees():
    """export reads definitions with ast (no torch); they are exactly inspect.getsource's text."""
    from nnshape import twins

    text = TWINS.read_text(encoding="utf-8")
    for node in top_level():
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            assert ast.get_source_segment(text, node) == inspect.getsource(getattr(twins, node.name)).rstrip("\n")


def test_twin_names_its_class_and_module():
    t = Twin.nn("Linear", in_features=4, out_features=2, bias=True)
    assert (t.name, t.is_own, t.source()) == ("Linear", False, "nn.Linear(in_features=4, out_features=2, bias=True)")
    wrapped = Twin.own("SequenceOnly", inner=Twin.nn("GRU", input_size=3, hidden_size=5))
    assert wrapped.source() == "SequenceOnly(inner=nn.GRU(input_size=3, hidden_size=5))"
    assert wrapped.own_names() == ["SequenceOnly"]
    for bad in ("os.system", "torch.nn.Linear; import os", "nnshape.twins.", "torch.nn.a.b"):
        with pytest.raises(ValueError):
            Twin(bad, {})
    with pytest.raises(ValueError):
        Twin.nn("Linear", **{"a=1, b": 2})


@pytest.mark.parametrize(
    "value",
    [None, True, 0, -7, 2**63 - 1, 1.5, -0.0, 1e-300, float("inf"), float("-inf"), "", "a'b\"c", '"""', "\\", "\n\x1b]0;x\x07",
     "é×", (), (1,), (1, (2, "x")), [1, 2], ("same", None)],
)
def test_literals_evaluate_back_to_the_value(value):
    text = literal(value)
    assert eval(text, {"__builtins__": {"float": float}}) == value  # noqa: S307 - literals only
    assert "\n" not in text


def test_nan_and_non_literals():
    assert math.isnan(eval(literal(float("nan")), {"__builtins__": {"float": float}}))  # noqa: S307
    from nnshape.symbolic import Poly

    for value in [object(), {1: 2}, Poly.symbol("L"), (1, Poly.symbol("L"))]:
        with pytest.raises(NotLiteral):
            literal(value)


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
def test_build_calls_the_constructor():
    import torch

    module = Twin.own("SequenceOnly", inner=Twin.nn("GRU", input_size=3, hidden_size=5, batch_first=True)).build()
    assert type(module).__module__ == "nnshape.twins" and isinstance(module.inner, torch.nn.GRU)
    assert tuple(module(torch.zeros(2, 4, 3)).shape) == (2, 4, 5)
