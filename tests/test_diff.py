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
    assert missing.returncode == 1 and "git cat-file -s HEAD:models/nope.nn` failed" in missing.stderr and "Traceback" not in missing.stderr
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


# ------------------------------------------------------------ alignment on structure (issue 17)
INVERTED = """def inv(ch, out, s=1):
    conv2d ch*6 k1 bias=false
    batchnorm2d
    relu6
    conv2d ch*6 k3 s=s p1 groups=ch*6 bias=false
    batchnorm2d
    relu6
    conv2d out k1 bias=false
    batchnorm2d

input 3x64x64
conv2d 32 k3 s2 p1
inv 32 16
inv 16 24 s=2
inv 24 24
inv 24 32 s=2
inv 32 32
inv 32 32
flatten
"""


def test_a_layer_inserted_between_def_calls_is_one_added_row():
    """Index paths of every later call shift (`4.0` becomes `5.0`); the rows still pair by structure."""
    new = INVERTED.replace("inv 24 24\n", "inv 24 24\ndropout2d 0.2\n")
    d = compare(nnshape.summarize(INVERTED), nnshape.summarize(new))
    assert d.counts() == {"added": 1, "removed": 0, "changed": 0, "unchanged": len(nnshape.summarize(INVERTED).layers)}
    assert [r.row.label for r in d.rows if r.status == "added"] == ["dropout2d 0.2"]
    back = compare(nnshape.summarize(new), nnshape.summarize(INVERTED))
    assert back.counts()["removed"] == 1 and back.counts()["added"] == 0 and back.counts()["changed"] == 0


def test_a_changed_call_pairs_with_itself_and_its_body():
    new = INVERTED.replace("inv 24 32 s=2\n", "inv 24 40 s=2\n").replace("inv 32 32\ninv 32 32\n", "inv 40 32\ninv 32 32\n")
    d = compare(nnshape.summarize(INVERTED), nnshape.summarize(new))
    c = d.counts()
    assert c["added"] == 0 and c["removed"] == 0
    changed = [r for r in d.rows if r.status == "changed"]
    assert changed[0].old.label == "inv 24 32 s=2" and changed[0].new.label == "inv 24 40 s=2"
    assert all(r.old.path == r.new.path for r in d.rows)


def test_names_anchor_and_insertions_inside_blocks():
    old = "input 8\nblock a:\n    linear 8\n    relu\nblock b:\n    linear 8\n    relu\n"
    new = "input 8\nblock a:\n    linear 8\n    gelu\n    relu\nblock b:\n    linear 8\n    relu\n"
    d = compare(nnshape.summarize(old), nnshape.summarize(new))
    assert [(r.status, r.row.path) for r in d.rows if r.status != "unchanged"] == [("added", "a.1")]
    # a block renamed and moved is still found by name; unnamed rows by statement
    swapped = "input 8\nblock b:\n    linear 8\n    relu\nblock a:\n    linear 8\n    relu\n"
    pairs = [(a.path if a else None, b.path if b else None) for a, b in align(nnshape.summarize(old).layers, nnshape.summarize(swapped).layers)]
    assert all(x == y for x, y in pairs if x and y)


def test_matching_is_a_longest_common_subsequence():
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from nnshape.compare import LCS_WORK, _matches

    def lcs_length(a, b):
        table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
        for i in range(len(a) - 1, -1, -1):
            for j in range(len(b) - 1, -1, -1):
                table[i][j] = table[i + 1][j + 1] + 1 if a[i] == b[j] else max(table[i + 1][j], table[i][j + 1])
        return table[0][0]

    @settings(max_examples=300, deadline=None)
    @given(st.lists(st.sampled_from("abc"), max_size=20), st.lists(st.sampled_from("abc"), max_size=20))
    def check(a, b):
        pairs = _matches(a, b, [LCS_WORK])
        assert all(a[i] == b[j] for i, j in pairs)
        assert all(p[0] < q[0] and p[1] < q[1] for p, q in zip(pairs, pairs[1:]))
        assert len(pairs) == lcs_length(a, b)

    check()


def test_alignment_work_is_bounded():
    """Two long, very different levels: Myers' search stops at its budget and the rest pairs by
    occurrence, so the steps taken stay bounded whatever the specs."""
    from nnshape import compare as cmp

    a = "input 8\n" + "linear 8\nrelu\n" * 3000
    b = "input 8\n" + "gelu\ndropout 0.1\nlinear 8\n" * 2000
    budget = [cmp.LCS_WORK]
    pairs = cmp._matches([r.kind for r in nnshape.summarize(a).layers], [r.kind for r in nnshape.summarize(b).layers], budget)
    assert pairs and budget[0] >= 0
    d = compare(nnshape.summarize(a), nnshape.summarize(b))
    assert d.counts()["unchanged"] + d.counts()["changed"] + d.counts()["removed"] == 6000
