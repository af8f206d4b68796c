"""`nnshape diff`: alignment by path then order, deltas, formats, --fail-on-change and git:REV:path."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import nnshape
from nnshape.cli import main
from nnshape.compare import align, compare

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
LENET = EXAMPLES / "lenet5.nn"

OLD = "input 3x32x32\nconv2d 8 k3\nrelu\nflatten\nlinear 10\nrelu\n"
# one conv+relu inserted in the middle; the head renamed
NEW = "input 3x32x32\nconv2d 8 k3\nrelu\nconv2d 8 k3 p1\nrelu\nflatten\nlinear 10 name=head\nrelu\n"


def invoke(*args, input=None):
    return CliRunner().invoke(main, ["diff", *map(str, args)], input=input, catch_exceptions=False)


def run(*args, cwd=None, input=None):
    return subprocess.run([sys.executable, "-m", "nnshape", *map(str, args)], capture_output=True, text=True, cwd=cwd, input=input, timeout=120)


def _files(tmp_path, old=OLD, new=NEW):
    a, b = tmp_path / "old.nn", tmp_path / "new.nn"
    a.write_text(old)
    b.write_text(new)
    return a, b


def test_alignment_by_path_then_order():
    old, new = nnshape.summarize(OLD), nnshape.summarize(NEW)
    pairs = [(a.path if a else None, b.path if b else None) for a, b in align(old.layers, new.layers)]
    assert pairs == [("0", "0"), ("1", "1"), (None, "2"), (None, "3"), ("2", "4"), ("3", "head"), ("4", "6")]
    d = compare(old, new)
    assert [r.status for r in d.rows] == ["unchanged", "unchanged", "added", "added", "unchanged", "changed", "unchanged"]
    assert d.rows[5].changes == ("label",)  # name=head: same layer, new name


def test_totals_and_layer_deltas():
    big = LENET.read_text().replace("linear 10 ", "linear 100 ")
    d = compare(nnshape.summarize(LENET), nnshape.summarize(big)).to_dict()
    # linear 84 -> 10 vs 84 -> 100: 90 more outputs, 84·90 weights + 90 biases, 84·90 MACs
    assert d["totals"]["params"] == {"old": 61_706, "new": 61_706 + 7_650, "delta": 7_650, "percent": round(100 * 7_650 / 61_706, 2)}
    assert d["totals"]["macs"]["delta"] == 7_560
    assert d["output_shape"] == {"old": [1, 10], "new": [1, 100], "changed": True}
    changed = [r for r in d["layers"] if r["status"] != "unchanged"]
    assert len(changed) == 1 and changed[0]["path"] == "11"
    assert set(changed[0]["changes"]) >= {"label", "output_shape", "params", "macs"}
    assert changed[0]["params"]["delta"] == 7_650 and changed[0]["macs"]["delta"] == 7_560


def test_published_networks():
    d = compare(nnshape.summarize(EXAMPLES / "resnet18.nn"), nnshape.summarize(EXAMPLES / "resnet50.nn")).to_dict()
    assert d["totals"]["params"]["old"] == 11_689_512 and d["totals"]["params"]["new"] == 25_557_032
    assert d["totals"]["params"]["delta"] == 25_557_032 - 11_689_512
    assert d["totals"]["params"]["percent"] == 118.63
    assert d["totals"]["macs"]["delta"] == 4_089_184_256 - 1_814_073_344


def test_repeat_count_change_is_per_row_total():
    old = "input 16\nrepeat 2:\n    linear 16\n"
    new = "input 16\nrepeat 3:\n    linear 16\n"
    d = compare(nnshape.summarize(old), nnshape.summarize(new))
    data = d.to_dict()
    assert data["totals"]["params"]["delta"] == 272  # one more linear 16 -> 16
    assert d.changed


def test_symbolic_deltas_have_no_percent():
    d = compare(nnshape.summarize("input (L, 8)\nattention heads=2\n"), nnshape.summarize("input (L, 8)\nattention heads=4\n")).to_dict()
    assert d["totals"]["params"]["delta"] == 0
    assert compare(nnshape.summarize("input (L, 8)\nlinear 4\n"), nnshape.summarize("input (L, 8)\nlinear 8\n")).to_dict()["totals"]["macs"] == {
        "old": "32·L", "new": "64·L", "delta": "32·L", "percent": None,
    }


def test_table_markdown_and_json(tmp_path):
    a, b = _files(tmp_path)
    table = invoke(a, b)
    assert table.exit_code == 0
    assert "2 added, 0 removed, 1 changed, 4 unchanged rows" in table.stdout
    assert "+584" in table.stdout and "+518,400" in table.stdout  # conv2d 8→8 k3: 8·8·9+8; 8·8·9·30·30
    assert "flatten" not in table.stdout  # unchanged rows hidden
    assert "flatten" in invoke(a, b, "--all").stdout
    md = invoke(a, b, "--format", "markdown").stdout
    assert md.startswith("### nnshape diff: ")
    assert "| MACs | 266,400 | 784,800 | +518,400 | +194.59% |" in md
    assert "| added | `2` | `conv2d 8 k=3 p=1` |" in md
    data = json.loads(invoke(a, b, "--format", "json").stdout)
    assert data["schema"] == "nnshape.diff/1" and data["counts"] == {"added": 2, "removed": 0, "changed": 1, "unchanged": 4}


def test_removed_layers_and_depth(tmp_path):
    a, b = _files(tmp_path, NEW, OLD)
    data = json.loads(invoke(a, b, "--format", "json").stdout)
    assert [r["status"] for r in data["layers"]].count("removed") == 2
    assert data["totals"]["params"]["delta"] == -584


def test_fail_on_change(tmp_path):
    a, b = _files(tmp_path)
    assert invoke(a, b, "--fail-on-change").exit_code == 1
    same = invoke(a, a, "--fail-on-change")
    assert same.exit_code == 0 and "No change" in same.stdout
    assert invoke(a, a, "--fail-on-change", "--format", "markdown").stdout.endswith("No change in layers, shapes, parameters or MACs.\n")
    quiet = invoke(a, b, "--fail-on-change", "-q")
    assert quiet.exit_code == 1 and quiet.stdout == ""


def test_invalid_spec_and_usage(tmp_path):
    a, _ = _files(tmp_path)
    bad = tmp_path / "bad.nn"
    bad.write_text("input 3x8x8\nconv2d 8 k=3 s=0\n")
    proc = run("diff", a, bad)
    assert proc.returncode == 1 and proc.stdout == "" and proc.stderr.startswith(f"{bad}:2:16: error[E0303]")
    assert CliRunner().invoke(main, ["diff", "-", "-"]).exit_code == 2
    assert CliRunner().invoke(main, ["diff", str(a)]).exit_code == 2
    assert CliRunner().invoke(main, ["diff", str(a), str(a), "--format", "csv"]).exit_code == 2


def test_stdin_and_pipe(tmp_path):
    a, _ = _files(tmp_path)
    proc = run("diff", a, "-", "--format", "json", input=NEW)
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["new"]["source"] == "<stdin>"
    assert "\x1b[" not in run("diff", a, "-", input=NEW).stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_revisions(tmp_path):
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    git = lambda *a: subprocess.run(["git", *a], cwd=tmp_path, env=env, check=True, capture_output=True)  # noqa: E731
    git("init", "-q")
    (tmp_path / "models").mkdir()
    spec = tmp_path / "models" / "net.nn"
    spec.write_text(OLD)
    git("add", ".")
    git("commit", "-q", "-m", "old")
    spec.write_text(NEW)
    proc = run("diff", "git:HEAD:models/net.nn", "models/net.nn", "--format", "json", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["old"]["source"] == "git:HEAD:models/net.nn" and data["counts"]["added"] == 2
    inside = run("diff", "git:HEAD:./net.nn", "net.nn", "--fail-on-change", cwd=tmp_path / "models")
    assert inside.returncode == 1 and "2 added" in inside.stdout
    missing = run("diff", "git:HEAD:models/nope.nn", "models/net.nn", cwd=tmp_path)
    assert missing.returncode == 1 and "git show HEAD:models/nope.nn` failed" in missing.stderr and "Traceback" not in missing.stderr
    badrev = run("diff", "git:no-such-rev:models/net.nn", "models/net.nn", cwd=tmp_path)
    assert badrev.returncode == 1 and "failed" in badrev.stderr
    malformed = run("diff", "git:HEAD", "models/net.nn", cwd=tmp_path)
    assert malformed.returncode == 1 and "expected git:REV:PATH" in malformed.stderr


def test_git_outside_a_repository(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("needs git")
    a, _ = _files(tmp_path)
    proc = run("diff", "git:HEAD:old.nn", a, cwd=tmp_path, )
    assert proc.returncode == 1 and "failed" in proc.stderr and "not a git repository" in proc.stderr.lower()
