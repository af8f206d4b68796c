"""nnshape.plan: the recorded structure walks in network order, with the copies the builder makes."""

from __future__ import annotations

from pathlib import Path

import pytest

from nnshape.analysis import analyze_with_plan
from nnshape.parser import parse
from nnshape.source import Source

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.nn"))

NESTED = """input x 3x8x8
input y 4x6x6
conv2d 4 k3
residual:
    conv2d 4 k3 p1
shortcut:
    relu
repeat 3:
    conv2d 4 k3 p1
repeat 2:
    conv2d 4 k1 p1
concat:
    branch:
        relu
    branch:
        identity
from y as z:
    relu
"""


def plan_of(text: str):
    source = Source("<t>", text)
    return analyze_with_plan(parse(source), source)


@pytest.mark.parametrize("text", [NESTED] + [p.read_text() for p in EXAMPLES], ids=["nested"] + [p.stem for p in EXAMPLES])
def test_walk_visits_the_leaf_rows_in_order_with_their_repeat_counts(text):
    summary, plan = plan_of(text)
    leaves = [row for row in summary.layers if not row.is_block]
    walked = list(plan.walk())
    assert [node.path for node, _ in walked] == [row.path for row in leaves]
    assert [times for _, times in walked] == [row.repeat for row in leaves]


def test_a_collapsed_repeat_counts_its_last_iteration_for_the_passes_left():
    _, plan = plan_of("input 8\nrepeat 4:\n    linear 8\n    relu\n")
    assert [(node.path, times) for node, times in plan.walk()] == [("0.0.0", 4), ("0.0.1", 4)]
