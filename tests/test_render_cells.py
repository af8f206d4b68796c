"""The tree guides of the table (`│  ├─ `), computed in one backward pass over the rows."""

from __future__ import annotations

from collections import namedtuple

from hypothesis import given
from hypothesis import strategies as st

import nnshape
from nnshape.render import render
from nnshape.render.cells import tree_prefixes

Row = namedtuple("Row", "depth")


def guides_by_definition(depths: list[int], index: int) -> str:
    """Level L of row i continues (│ or ├) if a later row has depth L before any shallower row."""

    def continues(level: int) -> bool:
        for later in depths[index + 1:]:
            if later < level:
                return False
            if later == level:
                return True
        return False

    depth = depths[index]
    inner = ["│  " if continues(level) else "   " for level in range(1, depth)]
    last = ["├─ " if continues(depth) else "└─ "] if depth else []
    return "".join(inner + last)


@st.composite
def depth_sequences(draw) -> list[int]:
    """Depths as a summary lists them: start at 0, go at most one level deeper per row."""
    depths = [0]
    for _ in range(draw(st.integers(0, 60))):
        depths.append(draw(st.integers(0, depths[-1] + 1)))
    return depths


@given(depth_sequences())
def test_guides_follow_their_definition(depths):
    rows = [Row(d) for d in depths]
    assert tree_prefixes(rows) == [guides_by_definition(depths, i) for i in range(len(depths))]


def test_guides_in_a_rendered_table():
    text = "input 8\nblock a:\n    relu\n    block b:\n        relu\n        relu\n    relu\nrelu\n"
    lines = render(nnshape.summarize(text), "table", color=False).splitlines()
    layer_cells = [line.split("   ")[0] for line in lines[2:9]]
    assert layer_cells == ["block a", "├─ relu", "├─ block b", "│  ├─ relu", "│  └─ relu", "└─ relu", "relu"]
