"""Every ```nn example in the docs runs, and gives the result the doc states.

The docs (docs/spec-language.md, docs/conventions.md, docs/cookbook.md) show each example as a fenced block whose info string starts with ``nn``:

* ```` ```nn ```` – must analyze without error;
* ```` ```nn error ```` – must raise ``nnshape.NNShapeError``;
* further words ``NAME=VALUE`` bind names like ``--set`` (``batch=`` and ``dtype=`` are the
  options of the same names).

Right after the block (blank lines allowed) the doc states the result on one line::

    → output 1×1×4×4, params 5, MACs 64
    → output 1×16×3×3, params 448, MACs 3,888, warning W0401
    → error E0410

Items are separated by ", " (a comma and a space; thousands separators have no space):
``output`` (the shape as nnshape prints it, batch first), ``params``, ``MACs``, ``buffers``
(0 when absent), ``trainable`` (= params when absent), ``warning CODE...`` (the distinct
warning codes; none when absent). A second line ``→ paths P1 P2 ...`` lists every row's path in
order. Numbers are written as nnshape prints them (``format_count``: ``280,320``,
``512·L^2 + 278,528·L``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import nnshape
from nnshape.symbolic import format_count
from nnshape.tensor import format_shape

DOCS_DIR = Path(__file__).resolve().parent.parent / "docs"
DOCS = ("spec-language.md", "conventions.md", "cookbook.md")
FENCE = re.compile(r"^```(\S*)(.*)$")


def _blocks(doc: str) -> list[tuple[str, list[str], str, list[str]]]:
    """(doc:line, info words, code, result lines) for every ```nn block of one doc."""
    lines = (DOCS_DIR / doc).read_text(encoding="utf-8").split("\n")
    found = []
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        lang, rest = match.group(1), match.group(2).split()
        start = i
        i += 1
        body = []
        while i < len(lines) and lines[i].rstrip() != "```":
            body.append(lines[i])
            i += 1
        i += 1  # the closing fence
        if lang != "nn":
            continue
        j = i
        while j < len(lines) and not lines[j].strip():
            j += 1
        results = []
        while j < len(lines) and lines[j].startswith("→ "):
            results.append(lines[j][2:].strip())
            j += 1
        found.append((f"{doc}:{start + 1}", rest, "\n".join(body) + "\n", results))
    return found


BLOCKS = [block for doc in DOCS for block in _blocks(doc)]


def _value(text: str):
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if re.fullmatch(r"-?\d+\.\d*", text):
        return float(text)
    return text


def _options(words: list[str]) -> tuple[bool, dict]:
    error = "error" in words
    options: dict = {}
    bindings: dict = {}
    for word in words:
        if word == "error":
            continue
        key, sep, value = word.partition("=")
        assert sep, f"unknown info-string word {word!r}"
        if key in ("batch", "dtype"):
            options[key] = _value(value)
        else:
            bindings[key] = _value(value)
    options["bindings"] = bindings
    return error, options


def _parse_result(line: str) -> dict[str, str]:
    items: dict[str, str] = {}
    for item in line.split(", "):
        key, _, value = item.strip().partition(" ")
        assert key not in items, f"{key!r} stated twice in {line!r}"
        items[key] = value.strip()
    return items


def test_the_reference_has_examples():
    assert len(BLOCKS) >= 40
    assert any("error" in words for _, words, _, _ in BLOCKS)


@pytest.mark.parametrize(("line", "words", "code", "results"), BLOCKS, ids=[b[0] for b in BLOCKS])
def test_example(line, words, code, results):
    error, options = _options(words)
    assert results, f"the example at {line} states no result (a `→ ...` line after the block)"
    if error:
        with pytest.raises(nnshape.NNShapeError) as info:
            nnshape.summarize(code, **options)
        stated = _parse_result(results[0])
        assert set(stated) == {"error"}, f"an error example states `→ error CODE`, not {results[0]!r}"
        assert info.value.code == stated["error"], str(info.value)
        return
    summary = nnshape.summarize(code, **options)
    stated = _parse_result(results[0])
    assert {"output", "params", "MACs"} <= set(stated), f"state output, params and MACs: {results[0]!r}"
    unknown = set(stated) - {"output", "params", "MACs", "buffers", "trainable", "warning"}
    assert not unknown, f"unknown result items {sorted(unknown)}"
    actual = {
        "output": format_shape(summary.output_shape),
        "params": format_count(summary.total_params),
        "MACs": format_count(summary.total_macs),
        "buffers": format_count(summary.total_buffers),
        "trainable": format_count(summary.trainable_params),
        "warning": " ".join(sorted({w.code for w in summary.warnings})),
    }
    expected = dict(actual)
    expected["buffers"] = "0"
    expected["trainable"] = stated["params"]
    expected["warning"] = ""
    expected.update(stated)
    expected["warning"] = " ".join(sorted(set(expected["warning"].split())))
    assert actual == expected
    for extra in results[1:]:
        key, _, value = extra.partition(" ")
        assert key == "paths", f"unknown result line {extra!r}"
        assert [row.path for row in summary.layers] == value.split()
