"""Golden outputs, as torchinfo keeps them: the table, JSON and markdown of every example and the
`explain` of two, byte for byte, under tests/golden/outputs/.

A change that alters any printed number, label or layout shows up here as a diff to review. After an
intended change run `python -m pytest tests/test_golden_outputs.py --update-golden` and read the diff
of the files like any other change.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from nnshape.cli import main

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = Path(__file__).parent / "golden" / "outputs"
EXAMPLES = sorted((ROOT / "examples").glob("*.nn"))
FORMATS = {"table": "txt", "json": "json", "markdown": "md"}
EXPLAINED = ("lenet5", "resnet18")

CASES = [(spec, fmt) for spec in EXAMPLES for fmt in FORMATS] + [(ROOT / "examples" / f"{n}.nn", "explain") for n in EXPLAINED]


def output(spec: Path, fmt: str) -> str:
    """What the CLI prints when not on a terminal (plain text, no colour), run from the repository
    root so that the source is named `examples/NAME.nn` whatever the checkout's path."""
    rel = str(spec.relative_to(ROOT))
    args = ["explain", rel] if fmt == "explain" else ["summary", rel, "--format", fmt]
    old = os.getcwd()
    os.chdir(ROOT)
    try:
        result = CliRunner().invoke(main, args, catch_exceptions=False)
    finally:
        os.chdir(old)
    assert result.exit_code == 0, result.output
    return result.output


def test_every_example_has_goldens():
    assert len(EXAMPLES) >= 11
    assert len(CASES) == 3 * len(EXAMPLES) + len(EXPLAINED)


@pytest.mark.parametrize("spec,fmt", CASES, ids=[f"{s.stem}-{f}" for s, f in CASES])
def test_output_is_pinned(spec, fmt, request):
    text = output(spec, fmt)
    ext = FORMATS.get(fmt, "explain.txt")
    expected_file = GOLDEN / f"{spec.stem}.{ext}"
    if request.config.getoption("--update-golden"):
        expected_file.write_text(text)
    assert expected_file.exists(), f"missing {expected_file.name}; run with --update-golden"
    assert text == expected_file.read_text()


# options whose output is pinned on one example each: the full footer, tables fitted to a width
PINNED = {
    "resnet50.full.txt": ["summary", "examples/resnet50.nn", "--footer", "full"],
    "resnet50.w80.txt": ["summary", "examples/resnet50.nn", "--width", "80"],
    "gpt2.w60.txt": ["summary", "examples/gpt2.nn", "--width", "60", "--columns", "params%"],
    "resnet.diff.w80.txt": ["diff", "examples/resnet18.nn", "examples/resnet50.nn", "--width", "80"],
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_option_output_is_pinned(name, request):
    text = _cli(PINNED[name])
    expected_file = GOLDEN / name
    if request.config.getoption("--update-golden"):
        expected_file.write_text(text)
    assert expected_file.exists(), f"missing {expected_file.name}; run with --update-golden"
    assert text == expected_file.read_text()


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.stem)
def test_rows_times_repeat_add_up_to_totals(spec):
    """Each row holds one instance's numbers and `repeat` instances exist, so leaf rows × repeat give
    the network totals, and each block's children × their repeat (per block instance) give the block."""
    import nnshape

    s = nnshape.summarize(spec)
    leaves = s.leaves
    assert sum(r.params * r.repeat for r in leaves) == s.total_params
    assert sum(r.macs * r.repeat for r in leaves) == s.total_macs
    assert sum(r.buffers * r.repeat for r in leaves) == s.total_buffers
    rows = s.layers
    for i, row in enumerate(rows):
        if not row.is_block:
            continue
        children = []
        for child in rows[i + 1 :]:
            if child.depth <= row.depth:
                break
            if child.depth == row.depth + 1:
                children.append(child)
        for field in ("params", "macs", "buffers"):
            total = sum(getattr(c, field) * c.repeat for c in children)
            assert total == getattr(row, field) * row.repeat, (row.path, field)


# --------------------------------------------------------------- one `× N` rule in every output
# A row's numbers are one instance's ("each") and `× N` / `repeat` says how many instances exist,
# in the table, markdown, JSON, CSV and diff alike, and each says so in its header. Each format
# is read back here as text and must add up: a block = its children × their N, the network = its
# top-level rows × their N.

REPEAT = re.compile(r"\s+× ([\d,]+)(?:\s+…)?$")


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def _check_sums(rows: list[tuple[int, int, int, int]], total_params: int, total_macs: int, where: str) -> None:
    """rows: (depth, N, params, macs) in table order."""
    assert rows, where
    for field, total in ((2, total_params), (3, total_macs)):
        assert sum(r[field] * r[1] for r in rows if r[0] == 0) == total, where
        for i, row in enumerate(rows):
            children = []
            for child in rows[i + 1 :]:
                if child[0] <= row[0]:
                    break
                if child[0] == row[0] + 1:
                    children.append(child)
            if children:
                assert sum(c[field] * c[1] for c in children) == row[field] * row[1], (where, i)


def _table_rows(text: str, first: int = 0) -> tuple[list[str], list[tuple[int, int, int, int]]]:
    lines = text.splitlines()[first:]
    header = lines[0]
    start = header.index("Output shape")
    out = []
    for line in lines[2 : lines.index("", 2)]:
        layer = line[:start].rstrip()
        label = layer.lstrip("│├└─ ")
        depth = (len(layer) - len(label)) // 3
        repeat = REPEAT.search(label)
        shape, params, macs = line[start:].split()[:3]
        out.append((depth, _number(repeat.group(1)) if repeat else 1, _number(params), _number(macs)))
    return [header], out


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.stem)
def test_every_format_follows_the_each_rule(spec):
    import csv
    import io
    import json

    s = nnshape_summarize(spec)
    has_repeats = any(r.repeat > 1 for r in s.layers)
    # table
    headers, rows = _table_rows(output(spec, "table"))
    assert ("Params (each)" in headers[0] and "MACs (each)" in headers[0]) == has_repeats
    _check_sums(rows, s.total_params, s.total_macs, "table")
    # markdown
    md = output(spec, "markdown").splitlines()
    assert ("| Params (each) | MACs (each) |" in md[0]) == has_repeats
    md_rows = []
    for line in md[2 : md.index("")]:
        layer, shape, params, macs = [c.strip() for c in line.strip("|").split(" | ")]
        depth = layer.count("&nbsp;") // 3
        repeat = REPEAT.search(layer.replace("&nbsp;", "").strip("`"))
        md_rows.append((depth, _number(repeat.group(1)) if repeat else 1, _number(params), _number(macs)))
    _check_sums(md_rows, s.total_params, s.total_macs, "markdown")
    # JSON
    data = json.loads(output(spec, "json"))
    assert data["row_numbers"] == "each"
    _check_sums([(r["depth"], r["repeat"], r["params"], r["macs"]) for r in data["layers"]], data["total_params"], data["total_macs"], "json")
    # CSV
    table = list(csv.DictReader(io.StringIO(_cli(["summary", str(spec.relative_to(ROOT)), "--format", "csv"]))))
    _check_sums([(int(r["depth"]), int(r["repeat"]), int(r["params"]), int(r["macs"])) for r in table], s.total_params, s.total_macs, "csv")
    # diff (against itself, every row listed): the same numbers, the same header
    rel = str(spec.relative_to(ROOT))
    diff_text = _cli(["diff", rel, rel, "--all"])
    assert diff_text.startswith("No change")
    diff_data = json.loads(_cli(["diff", rel, rel, "--format", "json"]))
    assert diff_data["row_numbers"] == "each"
    _check_sums(
        [(r["new"]["depth"], r["new"]["repeat"], r["new"]["params"], r["new"]["macs"]) for r in diff_data["layers"]],
        s.total_params, s.total_macs, "diff json",
    )


def test_diff_rows_follow_the_each_rule():
    """A layer added inside `repeat 3:` is one added row, `× 3`, with one instance's Δ (each); the
    totals move by 3 of them; the JSON's sides add up to each network's totals."""
    import json

    old = "input 16\nrepeat 3:\n    linear 16\n    relu\nlinear 4\n"
    new = "input 16\nrepeat 3:\n    linear 16\n    relu\n    linear 16\nlinear 4\n"
    a, b = nnshape_summarize(old), nnshape_summarize(new)
    from nnshape.compare import compare, to_markdown, to_table

    d = compare(a, b)
    data = json.loads("".join(d.json_chunks()))
    added = [r for r in data["layers"] if r["status"] == "added"]
    assert len(added) == 1 and added[0]["new"]["repeat"] == 3 and added[0]["params"]["delta"] == 272
    assert data["totals"]["params"]["delta"] == 3 * 272
    for side, summary in (("old", a), ("new", b)):
        rows = [r[side] for r in data["layers"] if r[side] is not None]
        _check_sums([(r["depth"], r["repeat"], r["params"], r["macs"]) for r in rows], summary.total_params, summary.total_macs, side)
    table = to_table(d)
    assert "Params (each)" in table and "Δ params (each)" in table
    line = next(line for line in table.splitlines() if line.startswith("+"))
    assert "linear 16 × 3" in line and line.split()[-2:] == ["+272", "+256"]
    assert "| Params (each) | Δ params (each) | Δ MACs (each) |" in to_markdown(d)


def nnshape_summarize(spec):
    import nnshape

    return nnshape.summarize(spec)


def _cli(args: list[str]) -> str:
    old = os.getcwd()
    os.chdir(ROOT)
    try:
        result = CliRunner().invoke(main, args, catch_exceptions=False)
    finally:
        os.chdir(old)
    return result.output
