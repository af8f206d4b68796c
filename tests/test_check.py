"""`nnshape check`: limits in human units, the budget file, exit statuses, and GitHub annotations."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from nnshape.budget import BudgetError, load_budget, parse_bytes, parse_count, parse_shape
from nnshape.cli import main
from nnshape.globmatch import Glob
from nnshape.symbolic import Poly

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
LENET = EXAMPLES / "lenet5.nn"  # 61,706 params, 416,520 MACs, output 10 (from the oracle tests)


def invoke(*args, input=None):
    return CliRunner().invoke(main, ["check", *map(str, args)], input=input, catch_exceptions=False)


def run(*args, input=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "nnshape", *map(str, args)], input=input, capture_output=True, text=True, cwd=cwd, timeout=120)


# ------------------------------------------------------------------ units
@pytest.mark.parametrize(
    "text, value",
    [("30M", 30_000_000), ("5G", 5_000_000_000), ("1.5k", 1500), ("1.5K", 1500), ("2T", 2 * 10**12), ("25557032", 25_557_032),
     ("25_557_032", 25_557_032), ("25,557,032", 25_557_032), ("0", 0), (" 7 M ", 7_000_000), (12, 12)],
)
def test_parse_count(text, value):
    assert parse_count(text) == value


@pytest.mark.parametrize("text", ["30Q", "M", "", "1.5", "1.2345k", "-3", "30MB", True, "1e6"])
def test_parse_count_rejects(text):
    with pytest.raises(BudgetError):
        parse_count(text)


def test_parse_bytes():
    assert parse_bytes("2GB") == 2_000_000_000
    assert parse_bytes("512MB") == 512_000_000
    assert parse_bytes("1kB") == 1000
    assert parse_bytes("1GiB") == 2**30
    assert parse_bytes("100") == 100
    assert parse_bytes("3B") == 3
    with pytest.raises(BudgetError):
        parse_bytes("2 parsecs")


def test_parse_shape():
    assert parse_shape("1000") == (1000,)
    assert parse_shape("128x768") == (128, 768)
    assert parse_shape("128×768") == (128, 768)
    assert parse_shape("(L, 768)") == (Poly.symbol("L"), 768)
    assert parse_shape("(L, 768)", {"L": 128}) == (128, 768)
    assert parse_shape([3, 32, 32]) == (3, 32, 32)
    for bad in ("", "1.5", "(3, 'a')", "3 x"):
        with pytest.raises(BudgetError):
            parse_shape(bad)


def test_glob():
    assert Glob("models/*.nn").match("models/a.nn")
    assert not Glob("models/*.nn").match("models/sub/a.nn")
    assert Glob("models/**/*.nn").match("models/sub/a.nn")
    assert Glob("models/**/*.nn").match("models/a.nn")
    assert Glob("**").match("x/y/z.nn")
    assert Glob("m?del[0-9].nn").match("model3.nn")


# ------------------------------------------------------------------ limits from options
def test_all_limits_met():
    result = invoke(LENET, "--output", "10", "--max-params", "62k", "--min-params", "61706", "--max-macs", "0.5M")
    assert result.exit_code == 0, result.output
    assert "ok   " in result.stdout and "4 limits met" in result.stdout


def test_each_failure_names_spec_limit_actual_and_value():
    result = invoke(LENET, "--max-params", "60k", "--max-macs", "400k", "--min-params", "1M", "--output", "1000")
    assert result.exit_code == 1
    fails = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert len(fails) == 4
    for line in fails:
        assert str(LENET) in line
    params = next(l for l in fails if "max-params" in l)
    assert "61,706" in params and "60,000 (60k)" in params and "--max-params" in params
    assert any("min-params" in l and "1,000,000 (1M)" in l and "below" in l for l in fails)
    assert any("max-macs" in l and "416,520" in l and "400,000 (400k)" in l for l in fails)
    out = next(l for l in fails if "output" in l)
    assert "differs from the expected 1000" in out and "10 (per sample" in out


def test_output_is_batch_excluded_and_symbolic_as_written():
    assert invoke(LENET, "--output", "10", "--batch", "8").exit_code == 0
    assert invoke(LENET, "--output", "8x10", "--batch", "8").exit_code == 1
    spec = "input (L, 64)\nlinear 32\n"
    assert invoke("-", "--output", "(L, 32)", input=spec).exit_code == 0
    assert invoke("-", "--output", "(L, 32)", "--set", "L=7", input=spec).exit_code == 0
    assert invoke("-", "--output", "7x32", "--set", "L=7", input=spec).exit_code == 0
    assert invoke("-", "--output", "7x32", input=spec).exit_code == 1  # L is not 7 unless bound


def test_symbolic_counts_cannot_be_checked_without_binding():
    spec = "input (L, 64)\nattention heads=4\n"  # MACs grow with L
    result = invoke("-", "--max-macs", "1G", input=spec)
    assert result.exit_code == 1 and "depends on L" in result.stdout and "--set" in result.stdout
    assert invoke("-", "--max-macs", "1G", "--set", "L=16", input=spec).exit_code == 0


def test_trainable_only():
    spec = "input 8\nlinear 8 trainable=false\nlinear 2\n"  # 72 frozen + 18 trainable
    assert invoke("-", "--max-params", "50", input=spec).exit_code == 1
    result = invoke("-", "--max-params", "50", "--trainable-only", input=spec)
    assert result.exit_code == 0, result.output


def test_max_memory():
    assert CliRunner().invoke(main, ["check", str(LENET), "--max-memory", "2GB"]).exit_code == 0
    result = CliRunner().invoke(main, ["check", str(LENET), "--max-memory", "1kB"])
    assert result.exit_code == 1 and "training memory" in result.output and "exceeds the limit max-memory" in result.output
    result = CliRunner().invoke(main, ["check", str(LENET), "--max-memory", "1kB", "--memory-for", "inference"])
    assert result.exit_code == 1 and "inference peak memory" in result.output


def test_max_memory_from_budget_file(tmp_path):
    path = tmp_path / "b.toml"
    path.write_text(f'["**/{LENET.name}"]\nmax-memory = "1kB"\n')
    result = CliRunner().invoke(main, ["check", str(LENET), "--budget", str(path)])
    assert result.exit_code == 1 and "max-memory" in result.output


@pytest.mark.parametrize("args", [["--max-params", "30Q"], ["--output", "1.5"], [], ["--annotate", "github", "--format", "json"], ["--budget", "/nonexistent.toml"]])
def test_usage_errors(args):
    spec = [] if args == [] else [str(LENET)]
    result = CliRunner().invoke(main, ["check", *spec, *args])
    assert result.exit_code == 2, result.output


def test_invalid_spec_fails_and_others_still_checked(tmp_path):
    bad = tmp_path / "bad.nn"
    bad.write_text("input 3x8x8\nconv2d 8 k=3 s=0\n")
    result = invoke(bad, LENET, tmp_path / "missing.nn")
    assert result.exit_code == 1
    assert f"FAIL {bad}: invalid spec: error[E0303] at 2:16" in result.stdout
    assert f"ok   {LENET}" in result.stdout
    assert "cannot read spec" in result.stderr
    assert "2 of 3 specs failed" in result.stdout


def test_quiet_prints_only_failures(tmp_path):
    assert invoke(LENET, "-q").stdout == ""
    result = invoke(LENET, "-q", "--max-params", "1k")
    assert result.exit_code == 1 and result.stdout.startswith("FAIL")


def test_globs_not_expanded_by_the_shell():
    result = invoke(str(EXAMPLES / "res*.nn"))
    assert result.exit_code == 0
    assert "resnet18.nn" in result.stdout and "resnet50.nn" in result.stdout and "all 2 specs passed" in result.stdout


def test_json_output():
    data = json.loads(invoke(LENET, EXAMPLES / "seed_fc.nn", "--max-params", "10k", "--format", "json").stdout)
    assert data["schema"] == "nnshape.check/1" and data["ok"] is False and data["failed"] == 1
    lenet = data["results"][0]
    assert lenet["checks"][0] == {
        "limit": "max-params", "ok": False, "expected": 10000, "actual": 61706, "limit_text": "10k", "origin": "--max-params",
        "message": lenet["checks"][0]["message"],
    }
    assert data["results"][1]["ok"] is True


# ------------------------------------------------------------------ budget file
def _project(tmp_path: Path) -> Path:
    (tmp_path / "models" / "big").mkdir(parents=True)
    (tmp_path / "models" / "lenet.nn").write_text(LENET.read_text())
    (tmp_path / "models" / "fc.nn").write_text((EXAMPLES / "seed_fc.nn").read_text())
    (tmp_path / "models" / "big" / "seq.nn").write_text("input (L, 64)\nlinear 32\n")
    (tmp_path / "nnshape.toml").write_text(
        '["models/*.nn"]\nmax-params = "100k"\n\n'
        '["models/lenet.nn"]\noutput = "10"\nmax_macs = 500_000\n\n'
        '["models/**/seq.nn"]\noutput = [ "L", 32 ]\nset = { L = 16 }\nmax-macs = "40k"\n'
    )
    return tmp_path


def test_budget_file_names_its_specs(tmp_path):
    root = _project(tmp_path)
    proc = run("check", "--budget", "nnshape.toml", cwd=root)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "models/lenet.nn" in proc.stdout and "3 limits met" in proc.stdout  # max-params, output, max-macs
    assert "models/big/seq.nn" in proc.stdout and "all 3 specs passed" in proc.stdout


def test_budget_file_limits_apply_and_options_override(tmp_path):
    root = _project(tmp_path)
    budget = root / "nnshape.toml"
    result = invoke(root / "models" / "lenet.nn", "--budget", budget, "--max-params", "1k")
    assert result.exit_code == 1
    assert "1,000 (1k) from --max-params" in result.stdout
    tight = root / "tight.toml"
    tight.write_text('["models/*.nn"]\nmax-params = "50k"\n')
    result = invoke(root / "models" / "lenet.nn", root / "models" / "fc.nn", "--budget", tight)
    assert result.exit_code == 1
    line = next(l for l in result.stdout.splitlines() if l.startswith("FAIL"))
    assert "lenet.nn" in line and "61,706" in line and "50,000 (50k)" in line and 'tight.toml ["models/*.nn"]' in line


@pytest.mark.parametrize(
    "text, message",
    [
        ('["a.nn"]\nmax-parms = "1M"\n', "did you mean `max-params`"),
        ('["a.nn"]\nmax-params = "1 zillion"\n', "cannot read"),
        ("max-params = 3\n", "must be a table"),
        ('["a.nn"\n', "not valid TOML"),
        ('["a.nn"]\nmax-memory = "2 parsecs"\n', "cannot read"),
    ],
)
def test_bad_budget_files_are_usage_errors(tmp_path, text, message):
    path = tmp_path / "b.toml"
    path.write_text(text)
    result = CliRunner().invoke(main, ["check", str(LENET), "--budget", str(path)])
    assert result.exit_code == 2 and message in result.output, result.output


def test_pyproject_budget(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.nnshape.budget."*.nn"]\nmax-params = "1k"\n')
    (tmp_path / "a.nn").write_text("input 2\nlinear 2\n")
    budget = load_budget(tmp_path / "pyproject.toml")
    limits, _, matched = budget.for_spec(str(tmp_path / "a.nn"))
    assert matched and limits.max_params.value == 1000


# ------------------------------------------------------------------ the process: streams, annotations
def test_process_streams_and_github_annotations(tmp_path):
    bad = tmp_path / "bad.nn"
    bad.write_text("input 3x8x8\nconv2d 8 k=3 s=0\n")
    warn = tmp_path / "warn.nn"
    warn.write_text("input 3x224x224\nconv2d 8 k3 s2\n")
    proc = run("check", bad, warn, LENET, "--annotate", "github", "--max-params", "60k")
    assert proc.returncode == 1
    lines = proc.stdout.splitlines()
    assert f"::error file={bad},line=2,col=16,title=nnshape E0303::conv2d: invalid value for 'stride'%0Aexpected: " in proc.stdout
    assert any(l.startswith(f"::warning file={warn},line=2") and "W0401" in l for l in lines)
    assert any(l.startswith(f"::error file={LENET},title=nnshape check max-params::") and "61,706" in l for l in lines)
    assert all(l.startswith(("::", "FAIL", "ok", "2 of")) for l in lines), proc.stdout
    assert "error[E0303]" in proc.stderr and "warning[W0401]" in proc.stderr and "Traceback" not in proc.stderr


def test_process_json_pipes_cleanly(tmp_path):
    bad = tmp_path / "bad.nn"
    bad.write_text("input 3x8x8\nlinear\n")
    proc = run("check", LENET, bad, "--format", "json")
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    assert [r["valid"] for r in data["results"]] == [True, False]
    assert data["results"][1]["errors"][0]["line"] == 2
    assert "error[" in proc.stderr


def test_process_max_memory_exit_1():
    proc = run("check", LENET, "--max-memory", "1kB")
    assert proc.returncode == 1 and "FAIL" in proc.stdout and "max-memory" in proc.stdout
