"""The README's diagram (docs/images/resnet_block.svg) is what `nnshape draw` makes of
docs/images/resnet_block.nn today.

Graphviz's coordinates depend on its version and fonts, so the check compares the picture's
texts (every label, in the document's order), not its bytes. Regenerate with
`nnshape draw docs/images/resnet_block.nn -o docs/images/resnet_block.svg`.
"""

from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path

import pytest

from nnshape.pictures import analyze_for_picture, diagram
from nnshape.pictures.dot import wrap
from nnshape.pictures.graph import build_graph

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "docs" / "images" / "resnet_block.nn"
IMAGE = ROOT / "docs" / "images" / "resnet_block.svg"
REGENERATE = "nnshape draw docs/images/resnet_block.nn -o docs/images/resnet_block.svg"


def texts(svg: str) -> list[str]:
    import html

    return [html.unescape(t) for t in re.findall(r"<text\b[^>]*>([^<]*)</text>", svg)]


def test_readme_shows_the_image():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "](docs/images/resnet_block.svg)" in readme


def test_image_has_the_labels_nnshape_draws_today():
    summary, plan = analyze_for_picture(SPEC)
    graph = build_graph(summary, plan)
    expected = Counter()
    for node in graph.nodes:
        expected.update(wrap(node.title) + list(node.lines))
    expected.update(edge.label for edge in graph.edges)
    expected.update(cluster.title for cluster in graph.clusters)
    assert Counter(texts(IMAGE.read_text(encoding="utf-8"))) == expected, f"stale: run {REGENERATE}"


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed (apt-get install graphviz)")
def test_image_is_what_graphviz_makes_now():
    summary, plan = analyze_for_picture(SPEC)
    fresh = diagram(summary, plan, "svg").decode("utf-8")
    assert texts(fresh) == texts(IMAGE.read_text(encoding="utf-8")), f"stale: run {REGENERATE}"
