"""The Python API mirrors the commands (issue 17, item 8): a Summary prints as the table, rich and
notebooks render it, and nnshape.export / check / diff return what the commands print."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

import nnshape
from nnshape.cli import main

ROOT = Path(__file__).resolve().parent.parent
LENET = ROOT / "examples" / "lenet5.nn"
RESNET18 = ROOT / "examples" / "resnet18.nn"
RESNET50 = ROOT / "examples" / "resnet50.nn"


def cli(*args) -> str:
    old = os.getcwd()
    os.chdir(ROOT)
    try:
        return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False).stdout
    finally:
        os.chdir(old)


def test_print_a_summary_shows_the_table():
    s = nnshape.summarize(LENET)
    assert str(s) == cli("summary", LENET)
    assert repr(s).startswith("<Summary ") and "61,706 params" in repr(s) and len(repr(s)) < 200


def test_rich_renders_the_table_at_the_console_width():
    from rich.console import Console

    console = Console(file=io.StringIO(), width=60, record=True, color_system="truecolor")
    console.print(nnshape.summarize(RESNET18))
    text = console.export_text()
    assert "basic_body" in text and "Params:" in text
    assert max(len(line) for line in text.splitlines()) <= 60


def test_notebooks_get_an_escaped_html_table():
    s = nnshape.summarize(LENET)
    html = s._repr_html_()
    assert html.startswith('<div class="nnshape-summary">') and "<script" not in html
    assert html.count("<tr>") >= len(s.layers) and "61,706" in html
    hostile = replace(s, layers=(s.layers[0]._replace(label="<script>alert(1)</script>"),) + s.layers[1:])
    assert "<script>" not in hostile._repr_html_() and "&lt;script&gt;" in hostile._repr_html_()


def test_html_of_a_huge_network_is_bounded():
    from nnshape.render.html import MAX_HTML_ROWS

    s = nnshape.summarize("input 8\n" + "relu\n" * (MAX_HTML_ROWS + 10))
    html = s._repr_html_()
    assert html.count("<tr>") <= MAX_HTML_ROWS + 10 and "10 more rows" in html


def test_export_is_the_command(tmp_path):
    text = nnshape.export(LENET, tmp_path / "model.py", class_name="LeNet")
    assert text == cli("export", LENET, "--class-name", "LeNet")
    assert (tmp_path / "model.py").read_text() == text
    with pytest.raises(nnshape.NNShapeError):
        nnshape.export("input 3x4\nconv2d 4 k3\n")


def test_check_returns_the_result_and_raises_for_a_bad_spec():
    ok = nnshape.check(LENET, max_params="100k", output=10)
    assert ok.ok and [c.limit for c in ok.checks] == ["output", "max-params"]
    over = nnshape.check(LENET, max_params=50_000, max_macs="1M")
    assert not over.ok and [c.ok for c in over.checks] == [False, True]
    data = json.loads(cli("check", LENET, "--max-params", "50000", "--max-macs", "1M", "--format", "json"))["results"][0]
    mine = over.to_dict()
    assert mine["ok"] == data["ok"] and [c["actual"] for c in mine["checks"]] == [c["actual"] for c in data["checks"]]
    assert nnshape.check(nnshape.summarize(LENET), output=(10,)).ok
    with pytest.raises(nnshape.NNShapeError):
        nnshape.check("input 3x4\nconv2d 4 k3\n", max_params=1)
    with pytest.raises(ValueError):
        nnshape.check(LENET, max_params="lots")


def test_diff_is_the_command():
    d = nnshape.diff(RESNET18, RESNET50)
    assert d.changed and d.counts() == json.loads(cli("diff", RESNET18, RESNET50, "--format", "json"))["counts"]
    assert d.to_dict()["totals"]["params"]["delta"] == 25_557_032 - 11_689_512
    assert str(d) == cli("diff", RESNET18, RESNET50)
    assert not nnshape.diff(LENET, nnshape.summarize(LENET)).changed
    assert repr(d).startswith("<Diff ")


def test_the_api_functions_import_no_torch_and_no_rich():
    code = (
        "import sys, nnshape\n"
        f"s = nnshape.summarize({str(LENET)!r})\n"
        "str(s); s._repr_html_()\n"
        f"nnshape.diff(s, s); nnshape.check(s, max_params=1); nnshape.export(s)\n"
        "print('torch' in sys.modules, 'rich' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False"]
