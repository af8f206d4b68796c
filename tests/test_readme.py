"""The README shows real output: its sample table and error report are what nnshape prints today."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from nnshape.cli import main

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def shown_after(marker: str) -> list[str]:
    start = README.index(marker) + len(marker)
    return README[start:README.index("```", start)].rstrip("\n").splitlines()


def test_readme_starts_with_the_two_setup_commands():
    block = README.split("```bash\n", 1)[1].split("```", 1)[0].strip().splitlines()
    assert block == ["pip install . && nnshape summary examples/resnet50.nn", "pip install -e '.[test]' torch==2.13.0 && python -m pytest"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert block[1] in ci


def test_readme_summary_sample_is_current(monkeypatch):
    monkeypatch.chdir(ROOT)
    actual = CliRunner().invoke(main, ["summary", "examples/lenet5.nn"]).stdout.splitlines()
    shown = shown_after("$ nnshape summary examples/lenet5.nn\n")
    assert shown == actual


def test_readme_error_sample_is_current(monkeypatch):
    monkeypatch.chdir(ROOT)
    spec = "".join(line + "\n" for line in shown_after("$ cat model.nn\n")[:4])
    result = CliRunner().invoke(main, ["summary", "-"], input=spec)
    shown = shown_after("$ nnshape summary model.nn\n")
    assert result.exit_code == 1
    assert result.stderr.replace("<stdin>", "model.nn").splitlines() == shown
