"""Tables that fit the terminal (issue 17, item 1) and the compact footer (item 2).

Widths are checked the way a terminal would show them: the text is printed through a rich Console
of that width, which wraps any line that is too long; a fitted table must come out unchanged.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

import nnshape
from nnshape.cli import main
from nnshape.render import render
from nnshape.render.fit import Column, fit

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.nn"))
WIDTHS = (60, 80, 120)
NUMBER = re.compile(r"\d[\d,]*")


def through_rich(text: str, width: int) -> str:
    """What a terminal of ``width`` columns shows: rich wraps every line longer than that."""
    from rich.console import Console
    from rich.text import Text

    buffer = io.StringIO()
    Console(file=buffer, width=width, color_system=None, legacy_windows=False).print(Text(text), end="")
    return buffer.getvalue()


def body(text: str) -> list[str]:
    """The table's rows (between the rule under the header and the first blank line)."""
    lines = text.splitlines()
    rule = next(i for i, line in enumerate(lines) if line.startswith("─"))
    return lines[rule + 1 : lines.index("")]


def numbers_right_of_labels(line: str, layer_width: int) -> list[str]:
    return NUMBER.findall(line[layer_width:])


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.stem)
def test_tables_fit_and_keep_every_number(spec, width):
    s = nnshape.summarize(spec)
    wide = render(s, "table", color=False)
    fitted = render(s, "table", color=False, width=width)
    assert through_rich(fitted, width) == fitted  # nothing wraps at this width
    assert max(len(line) for line in fitted.splitlines()) <= width
    wide_rows, fitted_rows = body(wide), body(fitted)
    fitted_rows, notes = fitted_rows[: len(wide_rows)], " ".join(fitted_rows[len(wide_rows) :])
    assert not notes or (notes.startswith(("Labels shortened", "Left out")) and "--wide" in notes)
    wide_layer = wide.splitlines()[0].index("Output shape")
    fitted_layer = fitted.splitlines()[0].index("Output shape")
    for old, new in zip(wide_rows, fitted_rows):
        # the shape, params and MACs of every row are there whole (never cut, never wrapped)
        assert numbers_right_of_labels(new, fitted_layer) == numbers_right_of_labels(old, wide_layer)
        # a shortened label is the start of the original and says so with an ellipsis
        label = new[:fitted_layer].rstrip()
        if "…" in label.replace("  …", "").replace(" …", ""):
            shown = label.split("…")[0].lstrip("│├└─ ")
            assert shown.strip() and shown.strip() in old[:wide_layer]


def test_labels_are_shortened_before_columns_go():
    s = nnshape.summarize(ROOT / "examples" / "resnet50.nn")
    natural = render(s, "table", color=False, columns=("params%",))
    assert max(map(len, natural.splitlines()[:3])) > 100
    at_100 = render(s, "table", color=False, width=100, columns=("params%",))
    assert "% params" in at_100.splitlines()[0] and "Left out" not in at_100  # shorter labels were enough
    at_60 = render(s, "table", color=False, width=60, columns=("params%", "kernel"))
    assert "Kernel" not in at_60.splitlines()[0]
    assert "Left out to fit 60 columns: Kernel / stride" in at_60.replace("\n", " ")
    assert "--wide" in at_60


def test_tree_guides_narrow_only_when_labels_must_be_cut():
    s = nnshape.summarize(ROOT / "examples" / "resnet18.nn")
    assert "│  ├─ " in render(s, "table", color=False, width=120)
    narrow = render(s, "table", color=False, width=60)
    assert "│ ├ " in narrow and "│  ├─ " not in narrow
    assert "×2" in narrow  # the repeat count stays, closer to its label


def test_a_number_is_never_cut_even_when_nothing_else_fits():
    cols = [Column("layer", "Layer", [("", "a long label here", "  × 12,000")], shrink=True), Column("n", "Count", ["123,456,789,012"], right=True)]
    fitted = fit(cols, 20)
    line = fitted.rows()[0]
    assert "123,456,789,012" in line and "× 12,000" in line  # wider than asked, rather than cut


def test_colour_output_fits_too():
    s = nnshape.summarize(ROOT / "examples" / "resnet50.nn")
    coloured = render(s, "table", color=True, width=80)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", coloured)
    assert plain == render(s, "table", color=False, width=80)


def test_cli_width_and_wide():
    spec = str(ROOT / "examples" / "resnet50.nn")
    narrow = CliRunner().invoke(main, ["summary", spec, "--width", "80"]).output
    assert max(map(len, narrow.splitlines())) <= 80
    wide = CliRunner().invoke(main, ["summary", spec, "--width", "80", "--wide"]).output
    assert max(map(len, wide.splitlines())) > 80
    piped = CliRunner().invoke(main, ["summary", spec]).output  # not a terminal: whole lines
    assert piped == wide
    assert CliRunner().invoke(main, ["summary", spec, "--width", "10"]).exit_code == 2
    diff = CliRunner().invoke(main, ["diff", spec, str(ROOT / "examples" / "resnet18.nn"), "--width", "80"]).output
    assert max(map(len, diff.splitlines())) <= 80


def test_terminal_width_is_what_rich_reports(monkeypatch):
    from nnshape.render.table import terminal_width

    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setenv("COLUMNS", "73")
    assert terminal_width(Tty()) == 73
    assert terminal_width(io.StringIO()) is None  # a pipe: no limit


# ------------------------------------------------------------------ the footer (item 2)


def footer(text: str) -> list[str]:
    lines = text.splitlines()
    return lines[lines.index("") + 1 :]


@pytest.mark.parametrize("options", [(), ("--amp",), ("--dtype", "bfloat16", "--amp", "--optimizer", "adamw"), ("--dtype", "float64", "--optimizer", "momentum")])
def test_compact_footer_is_short_and_aligned(options):
    for spec in EXAMPLES:
        out = CliRunner().invoke(main, ["summary", str(spec), *options]).output
        lines = footer(out)
        assert 6 <= len(lines) <= 8, lines
        assert max(map(len, lines)) <= 80, lines
        starts = {len(line) - len(line.split(":", 1)[1].lstrip()) for line in lines}
        assert len(starts) == 1 and starts.pop() <= 24  # every value in one column, near the labels
        assert lines[-1].startswith("More:") and "--footer full" in lines[-1] and "nnshape layers --conventions" in lines[-1]


@pytest.mark.parametrize("options", [(), ("--amp",), ("--dtype", "bfloat16", "--amp", "--optimizer", "adamw")])
def test_full_footer_is_aligned_and_keeps_labels_short(options):
    out = CliRunner().invoke(main, ["summary", str(ROOT / "examples" / "gpt2.nn"), "--footer", "full", *options]).output
    lines = [line for line in footer(out) if not line.startswith(" ")]  # continuation lines start blank
    starts = {len(line) - len(line.split(":", 1)[1].lstrip()) for line in lines}
    assert len(starts) == 1 and starts.pop() <= 28
    assert any("Conventions:" in line for line in lines)
    if "--amp" in options:
        assert "fp32 master" in out


def test_full_footer_wraps_to_the_width_without_splitting_numbers():
    out = CliRunner().invoke(main, ["summary", str(ROOT / "examples" / "resnet50.nn"), "--footer", "full", "--width", "60"]).output
    lines = footer(out)
    assert max(map(len, lines)) <= 60
    assert not any(re.match(r"\s+(kB|MB|GB|B)\b", line) for line in lines)  # a unit never starts a line
    text = " ".join(line.strip() for line in lines)
    assert "495.25 MB" in text and "25,557,032 (25.56 M)" in text  # no number split from its unit


def test_layers_conventions():
    out = CliRunner().invoke(main, ["layers", "--conventions"]).output
    assert "FLOPs = 2 × MACs" in out and "docs/conventions.md" in out and "(each)" in out
