"""Layers with equal arguments on equal inputs share one inference (nnshape.analysis.reuse).

The reuse must be invisible: every summary, warning and error is the same with it off.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from oracle import example_source
from strategies import specs
from test_fuzz import mutated_example, token

import nnshape
from nnshape import registry
from nnshape.analysis import analyze
from nnshape.analysis.reuse import InferenceCache
from nnshape.errors import NNShapeError

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.nn"))
KIND_EXAMPLES = [example for kind in registry.all_kinds() for example in kind.examples]


def outcome(text: str, reuse: bool, **options):
    """The Summary, or the full error report, with inference reuse on or off."""
    saved = InferenceCache.enabled
    InferenceCache.enabled = reuse
    try:
        summary = nnshape.summarize(text, **options)
        # everything but the Source objects, which compare by identity
        warnings = [(w.code, w.message, w.span, w.hint) for w in summary.warnings]
        return summary.to_dict(), summary.layers, warnings
    except NNShapeError as err:
        return ("error", str(err), [str(e) for e in getattr(err, "others", [])])
    finally:
        InferenceCache.enabled = saved


def assert_same_either_way(text: str, **options) -> None:
    with_reuse, without = outcome(text, True, **options), outcome(text, False, **options)
    assert with_reuse == without


def doubled(example: str) -> str:
    """A kind example run on the same input by two branches (the second reuses the first), then
    once more on its own output (reused only when the layer keeps the shape)."""
    if "\n" in example:
        return example + example.split("\n", 1)[1]  # the layers again, after the first run
    shape, layer = (part.strip() for part in example.split("|", 1))
    return f"input {shape}\nadd:\n    branch:\n        {layer}\n    branch:\n        {layer}\n{layer}\n"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_examples_are_the_same_either_way(path):
    text = path.read_text()
    assert_same_either_way(text, explain=True)
    assert_same_either_way(text, batch=3, dtype="float16", amp=True)


@pytest.mark.parametrize("example", KIND_EXAMPLES)
def test_kind_examples_are_the_same_either_way(example):
    assert_same_either_way(example_source(example), explain=True)
    assert_same_either_way(doubled(example))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs())
def test_random_networks_are_the_same_either_way(text):
    assert_same_either_way(text)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(mutated_example())
def test_broken_examples_fail_the_same_either_way(text):
    """Mutated examples (mostly errors, recovered ones too): the same report either way."""
    assert_same_either_way(text)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), database=None)
@given(st.lists(token, max_size=30))
def test_token_soup_is_the_same_either_way(tokens):
    assert_same_either_way("input 3x8x8\nconv2d 4 k3\n" + " ".join(tokens) + "\nrelu\nconv2d 4 k3\n")


def test_a_reused_layer_is_really_shared():
    """Guards the test above: the second of two equal layers takes the first one's inference."""
    seen = []
    analyze(
        *_parsed("input 8\nlinear 8\nlinear 8\n"), on_layer=lambda path, call, result: seen.append(result)
    )
    assert seen[0] is seen[1]


def _parsed(text: str):
    from nnshape.parser import parse
    from nnshape.source import Source

    source = Source("<t>", text)
    return parse(source), source


def test_typed_constants_are_not_confused():
    """1 and 1.0 are equal in Python; as a stride, 1.0 is refused."""
    with pytest.raises(NNShapeError) as err:
        nnshape.summarize("input 8x6x6\nmaxpool2d 2 s=1\nmaxpool2d 2 s=1.0\n")
    assert err.value.span.line == 3


def test_def_parameters_are_part_of_the_key():
    text = "input 8\ndef proj(d):\n    linear d\nproj(4)\nlinear 8\nproj(16)\n"
    summary = nnshape.summarize(text)
    assert [row.output_shape for row in summary.layers if not row.is_block] == [(1, 4), (1, 8), (1, 16)]


def test_the_kind_as_written_starts_the_label():
    text = "input 3x8x8\nadd:\n    branch:\n        conv 4 k3\n    branch:\n        conv2d 4 k3\n"
    assert [row.label for row in nnshape.summarize(text).layers][2::2] == ["conv 4 k=3", "conv2d 4 k=3"]


def test_each_line_keeps_its_own_warning():
    text = "input 3x7x7\nmaxpool2d 2\nadd:\n    branch:\n        maxpool2d 2 s=2\n    branch:\n        maxpool2d 2 s=2\n"
    lines = {span.line for _, _, span, _ in outcome(text, True)[2]}
    assert lines == {2, 5, 7}


def test_errors_point_at_their_own_line_after_a_reused_layer():
    with pytest.raises(NNShapeError) as err:
        nnshape.summarize("input 8\nlinear 8\nlinear 8\nlinear 8 nope=1\n")
    assert err.value.span.line == 4
