"""The language of issue 14 (names, control) together with weight sharing (issue 13: labels,
tie=, reuse, repeat N shared:, output a, b): both syntaxes on one line or one block, counted
as torch counts them (each network that runs is built and checked by verify)."""

from __future__ import annotations

import pytest

import nnshape
from nnshape.errors import NNShapeError


def verified(text: str, bindings: dict | None = None):
    """The analysis, after checking that torch agrees on every row and the totals."""
    pytest.importorskip("torch")
    from nnshape.verifier import verify

    report = verify(text, device="cpu", bindings=bindings)
    bad = [(c.path, c.label, c.mismatches, c.error) for c in report.layers if c.mismatches or c.error]
    assert report.ok, (bad, report.error)
    return nnshape.summarize(text, bindings=bindings)


def _layers(node):
    """Every LayerNode of a plan, in order."""
    from nnshape.plan import LayerNode

    if isinstance(node, LayerNode):
        yield node
        return
    for attr in ("children", "iterations", "branches"):
        for child in getattr(node, attr, None) or ():
            yield from _layers(child)
    for attr in ("body", "shortcut", "product"):
        child = getattr(node, attr, None)
        if child is not None:
            yield from _layers(child)


def test_a_label_and_as_on_one_line():
    s = verified("input 32\nenc: linear 16 as h\nrelu\nfrom h\nlinear 4\noutput h\n")
    assert [r.path for r in s.layers] == ["enc", "1", "2", "3"]
    assert s.output_shape == (1, 16)


def test_a_labelled_def_call_with_as():
    s = verified(
        "def mlp(c):\n    linear c\n    gelu\n"
        "input 8x32\nff: mlp 32 as h\nlinear 32\nadd:\n    branch: identity\n    branch: from h\n"
    )
    assert s.layers[0].path == "ff" and s.layers[0].label.startswith("ff: mlp 32")
    assert s.output_shape == (1, 8, 32)


def test_reuse_as_stores_its_own_output_and_not_the_targets_name():
    from nnshape.verifier import analyze_spec

    text = "input 32\nenc: linear 32 as h\nrelu\nreuse enc as h2\nadd:\n    branch: from h\n    branch: from h2\n"
    s = verified(text)
    assert s.total_params == 32 * 32 + 32  # counted once
    _, plan = analyze_spec(text)
    aliases = [n.alias for n in _layers(plan.root)]
    assert aliases[:3] == ["h", None, "h2"]  # the reused layer stores h2, not h again


def test_reuse_as_of_a_def_call():
    text = (
        "def blk(c):\n    linear c\n    relu\n"
        "input 16\nb: blk 16 as a\nreuse b as c\nconcat:\n    branch: from a\n    branch: from c\n"
    )
    s = verified(text)
    assert s.output_shape == (1, 32) and s.total_params == 16 * 16 + 16


def test_a_shared_repeat_with_an_index():
    s = verified(
        "input 8x32\n"
        "repeat 4 shared as i:\n"
        "    residual:\n"
        "        linear 32\n"
        "        dropout 0.1 * i\n"
    )
    assert s.total_params == 32 * 32 + 32  # one set of weights for the four passes
    assert s.total_macs == 4 * 8 * 32 * 32
    assert s.layers[0].label == "repeat 4 shared as i"


def test_if_chooses_a_tie():
    spec = (
        "input ids 12 dtype=int64\n"
        "wte: embedding 100 16\n"
        "layernorm\n"
        "if tied:\n"
        "    linear 100 bias=false tie=wte\n"
        "else:\n"
        "    linear 100 bias=false\n"
    )
    tied = verified(spec, {"tied": True})
    untied = verified(spec, {"tied": False})
    assert untied.total_params - tied.total_params == 100 * 16
    assert tied.total_macs == untied.total_macs


def test_several_outputs_of_stored_names():
    s = verified("input 8x16\nlinear 32 as hidden\nrelu\nlinear 10 as logits\noutput logits, hidden\n")
    assert [(o.name, o.shape) for o in s.outputs] == [("logits", (1, 8, 10)), ("hidden", (1, 8, 32))]


def test_a_name_stored_inside_a_def_is_not_an_output():
    with pytest.raises(NNShapeError) as info:
        nnshape.summarize("def f():\n    linear 4 as inner\ninput 8\nf\noutput inner\n")
    assert info.value.code == "E0204"


def test_label_a_line_whose_kind_comes_from_a_string_parameter():
    s = verified("def blk(act='relu'):\n    linear 16\n    a: act\ninput 16\nb: blk act='gelu'\nreuse b\n")
    assert [r.label for r in s.layers if r.kind == "gelu"] == ["a: gelu", "a: gelu"]
    assert s.total_params == 16 * 16 + 16


@pytest.mark.parametrize("line", ["h: linear 4", "linear 4 name=h"])
def test_reading_a_rows_name_as_a_tensor_says_to_store_it(line):
    with pytest.raises(NNShapeError) as info:
        nnshape.summarize(f"input 8\n{line}\nrelu\nconcat:\n    branch: from h\n    branch: identity\n")
    err = info.value
    assert err.code == "E0204" and (err.span.line, err.span.col) == (5, 18)
    assert err.hint == "'h' names a row (line 2), not a tensor: end that line with `as h` to store its output"
