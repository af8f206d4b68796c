"""A newcomer's mistakes and edges (issue 17, items 5-7): every habit from another tool gets a hint
that leads to the fix (and the fix is checked to work), narrow console encodings get ASCII, errors
are coloured on a terminal, torch's NumPy warning is quiet and install hints name real packages."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import nnshape
from nnshape.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def error_of(text: str) -> nnshape.NNShapeError:
    with pytest.raises(nnshape.NNShapeError) as info:
        nnshape.summarize(text)
    return info.value


def run(*args, env=None, input=None, cwd=ROOT):
    environment = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-m", "nnshape", *map(str, args)], capture_output=True, env=environment, input=input, cwd=cwd, timeout=300)


# ------------------------------------------------------------------ hints for habits (item 5)


def test_batch_written_into_the_input():
    err = error_of("input 1x3x224x224\nconv2d 16 k3\n")
    assert err.code == "E0402"
    assert "per sample" in err.hint and "`input 3x224x224`" in err.hint and "--batch" in err.hint
    assert nnshape.summarize("input 3x224x224\nconv2d 16 k3\n", batch=1).output_shape == (1, 16, 222, 222)
    # a real 5-D input for a 3-D convolution gets no such hint
    assert "per sample" not in (error_of("input 2x3x8x8x8\nconv2d 4 k3\n").hint or "")


@pytest.mark.parametrize("line", ["input 3 x 224 x 224", "input 3,224,224", "input 3, 224, 224", "input 3 224 224"])
def test_shapes_written_another_way(line):
    err = error_of(line + "\nconv2d 16 k3\n")
    assert err.code == "E0112"
    assert "`input 3x224x224`" in err.hint and "`input (3, 224, 224)`" in err.hint
    for fixed in ("input 3x224x224", "input (3, 224, 224)"):
        assert nnshape.summarize(fixed + "\nconv2d 16 k3\n").output_shape == (1, 16, 222, 222)


def test_pytorch_call_syntax():
    err = error_of("input 3x32x32\nconv2d(16, 3, stride=2)\n")
    assert err.code == "E0122" and "`conv2d 16 3 stride=2`" in err.hint
    err = error_of("input 3x32x32\nconv2d(16, 3)\n")
    assert "`conv2d 16 3`" in err.hint and "call syntax" in err.hint
    assert nnshape.summarize("input 3x32x32\nconv2d 16 3 stride=2\n").output_shape == (1, 16, 15, 15)
    spec = "def unit(a, b):\n    conv2d a k1\n    conv2d b k1\n\ninput 3x8x8\n"
    err = error_of(spec + "unit(4, 5)\n")
    assert "`unit 4 5`" in err.hint
    assert nnshape.summarize(spec + "unit 4 5\n").output_shape == (1, 5, 8, 8)


def test_a_stored_tensor_read_as_a_layer():
    head = "input 3x8x8\nfrom input as skip:\n    conv2d 4 k1\n"
    err = error_of(head + "concat:\n    branch: skip\n    branch:\n        conv2d 4 k1\n")
    assert err.code == "E0202" and "`skip` is a stored tensor" in err.hint and "`from skip:`" in err.hint
    fixed = head + "concat:\n    branch:\n        from skip:\n            identity\n    branch:\n        conv2d 4 k1\n"
    assert nnshape.summarize(fixed).output_shape == (1, 8, 8, 8)


@pytest.mark.parametrize(
    "body,needle",
    [
        ("concat:\n    branch:\n        conv2d 4 k1\n    branch:\n        conv2d 4 k3\n", "spatial sizes differ (8×8 vs 6×6)"),
        ("add:\n    branch:\n        conv2d 4 k1\n    branch:\n        conv2d 5 k1\n", "4 and 5 channels"),
        ("add:\n    branch:\n        conv2d 4 k1\n    branch:\n        conv2d 4 k1 s2\n", "spatial sizes differ (8×8 vs 4×4)"),
        ("multiply:\n    branch:\n        conv2d 4 k1\n    branch:\n        conv2d 4 k3\n", "spatial sizes differ"),
    ],
)
def test_merge_mismatches_say_what_to_change(body, needle):
    err = error_of("input 3x8x8\n" + body)
    assert err.code in ("E0411", "E0412") and needle in err.hint


def test_merge_hints_for_features_and_dims():
    err = error_of("input 16\nadd:\n    branch:\n        linear 8\n    branch:\n        linear 4\n")
    assert "8 and 4 features" in err.hint and "`linear 8`" in err.hint
    err = error_of("input 10x16\nconcat dim=1:\n    branch:\n        linear 8\n    branch:\n        linear 4\n")
    assert "`concat dim=2:`" in err.hint
    assert nnshape.summarize("input 10x16\nconcat dim=2:\n    branch:\n        linear 8\n    branch:\n        linear 4\n").output_shape == (1, 10, 12)


def test_warnings_and_errors_inside_a_def_name_the_call():
    spec = "def down(c):\n    conv2d c k3 s2\n\ninput 3x9x9\ndown 4\ndown 4\n"
    warnings = nnshape.summarize(spec).warnings
    assert warnings and all(w.line == 2 for w in warnings)
    assert all("in def `down` (line 1), called at line 6" in w.notes for w in warnings)
    assert "note: in def `down` (line 1), called at line 6" in warnings[0].render()
    nested = "def inner(c):\n    conv2d c k3\ndef outer(c):\n    inner c\n\ninput 3x4x4\nouter 4\nouter 4\n"
    err = error_of(nested)
    assert err.line == 2
    assert err.notes == ("in def `inner` (line 1), called at line 4", "in def `outer` (line 3), called at line 8")


def test_one_warning_for_a_def_called_many_times_lists_the_calls():
    spec = "def odd():\n    conv2d 4 k2 s2\n    upsample size=9\n\ninput 4x9x9\n" + "odd\n" * 4
    warnings = [w for w in nnshape.summarize(spec).warnings if "row" in w.message]
    assert len(warnings) == 1
    assert warnings[0].notes == ("in def `odd` (line 1), called at line 6", "the same in the calls at lines 7, 8, 9")


def test_did_you_mean_a_command():
    result = CliRunner().invoke(main, ["sumary", "x.nn"])
    assert result.exit_code == 2 and "Did you mean 'summary'?" in result.output
    result = CliRunner().invoke(main, ["zzz"])
    assert result.exit_code == 2 and "Commands: check, diff" in result.output
    result = CliRunner().invoke(main, ["\x1b[2Jx"])
    assert "\x1b" not in result.output  # what the user typed is echoed without control characters


# --------------------------------------------------------------- encodings and colour (item 6)


def non_ascii_in_goldens() -> set[str]:
    chars: set[str] = set()
    for path in (ROOT / "tests" / "golden").rglob("*"):
        if path.is_file() and path.suffix in (".txt", ".md"):
            chars |= {ch for ch in path.read_text(encoding="utf-8") if ord(ch) > 127}
    return chars


def test_every_symbol_we_print_has_an_ascii_stand_in():
    from nnshape.terminal import ASCII

    missing = non_ascii_in_goldens() - set(ASCII)
    assert not missing, sorted(missing)
    for ch in "×─│├└…—→Δ·":  # the symbols inside tables: one character each, so columns stay aligned
        assert len(ASCII[ch]) == 1


def table_lines(text: str) -> list[str]:
    lines = text.splitlines()
    return lines[: lines.index("")]


@pytest.mark.parametrize("encoding", ["cp1252", "ascii", "latin-1"])
def test_a_narrow_console_gets_ascii_not_a_crash(encoding):
    result = run("summary", "examples/resnet18.nn", "--footer", "full", env={"PYTHONIOENCODING": encoding})
    assert result.returncode == 0, result.stderr
    assert b"internal error" not in result.stderr
    if encoding == "ascii":  # click writes UTF-8 to a console that says ASCII (a known misconfiguration)
        return
    text = result.stdout.decode(encoding)
    assert "`- repeat 2" in text and "|  `- basic_body 64 1" in text  # tree guides in ASCII
    lines = table_lines(text)
    column = lines[0].index("Output shape")
    assert all(line[column - 3 : column] == "   " for line in lines[2:])  # still aligned
    if encoding == "latin-1":
        assert "1x64x112x112" not in text and "1×64×112×112" in text  # latin-1 has ×: kept


def test_errors_and_explain_on_a_narrow_console():
    env = {"PYTHONIOENCODING": "cp1252"}
    bad = run("summary", "-", env=env, input=b"input 3x2\nconv2d 3 k3\n")
    assert bad.returncode == 1 and b"internal error" not in bad.stderr
    assert "expects a 4-D input" in bad.stderr.decode("cp1252")
    explained = run("explain", "examples/lenet5.nn", env=env)
    assert explained.returncode == 0 and "floor(" in explained.stdout.decode("cp1252")
    diffed = run("diff", "examples/resnet18.nn", "examples/resnet50.nn", env=env)
    assert diffed.returncode == 0 and " > " in diffed.stdout.decode("cp1252")  # `→` as `>`


def test_errors_are_coloured_when_colour_is_on():
    coloured = run("summary", "-", env={"FORCE_COLOR": "1", "NO_COLOR": ""}, input=b"input 3x2\nconv2d 3 k3\n")
    plain = run("summary", "-", env={"NO_COLOR": "1", "FORCE_COLOR": ""}, input=b"input 3x2\nconv2d 3 k3\n")
    assert coloured.returncode == plain.returncode == 1
    assert b"\x1b[" in coloured.stderr and b"\x1b[" not in plain.stderr
    assert ANSI.sub("", coloured.stderr.decode()) == plain.stderr.decode()
    assert b"\x1b[1;31merror[E0402]" in coloured.stderr


def test_colour_keeps_the_report_text():
    from nnshape.terminal import color_diagnostics

    err = error_of("input 3x8x8\nadd:\n    branch:\n        conv2d 4 k1\n    branch:\n        conv2d 5 k1\n")
    text = str(err)
    assert ANSI.sub("", color_diagnostics(text)) == text
    warning = nnshape.summarize("input 3x9x9\nconv2d 4 k2 s2\n").warnings[0].render()
    assert "\x1b[1;33mwarning[W0401]" in color_diagnostics(warning)


def test_numpy_missing_is_not_torch_s_warning_on_every_verify(tmp_path):
    pytest.importorskip("torch")
    fake = tmp_path / "numpy"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise ModuleNotFoundError('No module named numpy', name='numpy')\n")
    env = {"PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    probe = subprocess.run([sys.executable, "-c", "import torch"], capture_output=True, env={**os.environ, **env}, timeout=300)
    if b"Failed to initialize NumPy" not in probe.stderr:
        pytest.skip("this torch does not warn without NumPy")
    result = run("verify", "examples/lenet5.nn", "--device", "meta", env=env)
    assert result.returncode == 0, result.stderr
    assert b"NumPy" not in result.stderr


# ------------------------------------------------------------------ install hints (item 7)


def test_install_hints_name_packages_that_exist(monkeypatch, tmp_path):
    from nnshape import install

    monkeypatch.chdir(ROOT)
    assert install.install_command("torch", "torch") == "pip install torch (or, for this checkout: pip install -e '.[torch]')"
    monkeypatch.chdir(tmp_path)
    assert f"pip install -e '{ROOT}[report]'" in install.install_command("plotly", "report") or str(ROOT) in install.install_command("plotly", "report")
    monkeypatch.setattr(install, "checkout_root", lambda: None)  # an installed copy
    assert install.install_command("torch", "torch") == "pip install torch"
