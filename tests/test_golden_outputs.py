"""Golden outputs, as torchinfo keeps them: the table, JSON and markdown of every example and the
`explain` of two, byte for byte, under tests/golden/outputs/.

A change that alters any printed number, label or layout shows up here as a diff to review. After an
intended change run `python -m pytest tests/test_golden_outputs.py --update-golden` and read the diff
of the files like any other change.
"""

from __future__ import annotations

import os
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
