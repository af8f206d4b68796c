"""Golden tests: the full text of every main error kind is pinned, so message quality cannot regress.

Each tests/golden/errors/NAME.nn is a small broken spec; NAME.txt is the exact report.
After an intended change run `python -m pytest tests/test_error_golden.py --update-golden`
and review the diff of the .txt files like any other change.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

import nnshape
from nnshape.source import Source

GOLDEN = Path(__file__).parent / "golden" / "errors"
SPECS = sorted(GOLDEN.glob("*.nn"))


@functools.cache
def report(spec: Path) -> str:
    try:
        source = Source.from_bytes(f"{spec.stem}.nn", spec.read_bytes())
        nnshape.summarize(source)
    except nnshape.NNShapeError as err:
        return str(err) + "\n"
    raise AssertionError(f"{spec.name} did not fail")


def test_there_are_golden_specs():
    assert len(SPECS) >= 20


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_error_text_is_pinned(spec, request):
    text = report(spec)
    expected_file = spec.with_suffix(".txt")
    if request.config.getoption("--update-golden"):
        expected_file.write_text(text)
    assert expected_file.exists(), f"missing {expected_file.name}; run with --update-golden"
    assert text == expected_file.read_text()


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: p.stem)
def test_error_report_shape(spec):
    """Every report: file:line:col, a code, the source line and a caret."""
    lines = report(spec).splitlines()
    assert lines[0].startswith(f"{spec.stem}.nn:") and ": error[E" in lines[0]
    assert lines[1].lstrip()[0].isdigit() and " | " in lines[1]
    assert "^" in lines[2]
