"""The command line: formats, options, exit statuses, stdout/stderr split, and what it imports."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from nnshape.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def invoke(*args, input=None):
    return CliRunner().invoke(main, [str(a) for a in args], input=input, catch_exceptions=False)


def test_summary_table_shows_layers_and_footer():
    result = invoke("summary", EXAMPLES / "lenet5.nn")
    assert result.exit_code == 0
    out = result.output
    assert "conv2d 6 k=5" in out and "1×6×28×28" in out
    assert "Params:" in out and "61,706" in out
    assert "MACs:" in out and "416,520" in out
    assert "--footer full" in out and "Conventions:" not in out  # the compact footer points to the rest
    full = invoke("summary", EXAMPLES / "lenet5.nn", "--footer", "full").output
    assert "Total params:" in full and "Total MACs:" in full
    assert "Conventions:" in full and "FLOPs = 2 × MACs" in full


def test_summary_reads_stdin():
    result = invoke("summary", "-", "--format", "json", input="input 2\nlinear 2\n")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["total_params"] == 6
    assert data["layers"][0]["path"] == "0"


def test_json_has_the_documented_fields():
    result = invoke("summary", EXAMPLES / "resnet18.nn", "--format", "json")
    data = json.loads(result.stdout)
    assert data["schema"] == "nnshape.summary/1"
    assert data["output_shape"] == [1, 1000]
    assert data["total_params"] == 11_689_512
    assert data["trainable_params"] == 11_689_512
    assert data["total_macs"] == 1_814_073_344
    for layer in data["layers"]:
        assert {"path", "kind", "line", "output_shape", "params", "macs"} <= set(layer)


def test_json_equals_api_to_dict():
    import nnshape

    result = invoke("summary", EXAMPLES / "alexnet.nn", "--format", "json", "--batch", "2")
    assert json.loads(result.stdout) == json.loads(json.dumps(nnshape.summarize(EXAMPLES / "alexnet.nn", batch=2).to_dict()))


def test_csv_and_markdown():
    result = invoke("summary", EXAMPLES / "seed_fc.nn", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["kind"] for r in rows] == ["linear", "sigmoid", "linear", "relu"]
    assert rows[0]["output_shape"] == "1x2" and rows[0]["params"] == "6"
    md = invoke("summary", EXAMPLES / "seed_fc.nn", "--format", "markdown").output
    assert md.startswith("| Layer | Output shape | Params | MACs |")
    assert "**Params:** 9" in md
    assert "**Total params:** 9" in invoke("summary", EXAMPLES / "seed_fc.nn", "--format", "markdown", "--footer", "full").output


def test_depth_folds_blocks():
    full = invoke("summary", EXAMPLES / "resnet50.nn", "--format", "csv").stdout
    top = invoke("summary", EXAMPLES / "resnet50.nn", "--format", "csv", "--depth", "0").stdout
    top_rows = list(csv.DictReader(io.StringIO(top)))
    assert len(top_rows) < len(list(csv.DictReader(io.StringIO(full))))
    assert all(r["depth"] == "0" for r in top_rows)
    assert sum(int(r["params"]) * int(r["repeat"]) for r in top_rows) == 25_557_032


def test_extra_columns_and_batch_and_set():
    out = invoke("summary", "-", "--columns", "all", "--batch", "4", "--set", "L=10", input="input (L, 8)\nlinear 16\n").output
    for header in ("Input shape", "Output shape", "Kernel / stride", "% params", "% MACs", "Path", "Line"):
        assert header in out
    assert "4×10×16" in out
    assert "5,120" in out  # 4·10·8·16 MACs


def test_set_values_use_the_spec_expression_parser():
    out = invoke("summary", "-", "--set", "d=2**4", "--format", "json", input="input 8\nlinear d\n").stdout
    assert json.loads(out)["output_shape"] == [1, 16]
    bad = CliRunner().invoke(main, ["summary", "-", "--set", "d=__import__('os')"], input="input 8\nlinear d\n")
    assert bad.exit_code == 2


def test_unknown_column_is_a_usage_error():
    result = CliRunner().invoke(main, ["summary", str(EXAMPLES / "seed_fc.nn"), "--columns", "bogus"])
    assert result.exit_code == 2


def test_option_choices_come_from_the_registries():
    """--format, --dtype and --optimizer offer what the renderers, dtypes and optimizers define."""
    from nnshape.commands.check import check
    from nnshape.commands.summary import summary
    from nnshape.commands.verify import verify
    from nnshape.memory import OPTIMIZER_STATES
    from nnshape.render import FORMATS
    from nnshape.tensor import DTYPE_BYTES, MEMORY_DTYPES, VERIFY_DTYPES

    def choices(command, name):
        return tuple(next(p for p in command.params if p.name == name).type.choices)

    assert choices(summary, "fmt") == FORMATS
    assert choices(summary, "dtype") == choices(check, "dtype") == MEMORY_DTYPES
    assert choices(summary, "optimizer") == choices(check, "optimizer") == tuple(OPTIMIZER_STATES)
    assert choices(verify, "dtype") == VERIFY_DTYPES
    assert set(MEMORY_DTYPES) <= set(DTYPE_BYTES) and set(VERIFY_DTYPES) <= set(MEMORY_DTYPES)


def test_a_command_missing_a_module_is_not_an_unknown_command(monkeypatch):
    """Only the command's own module missing means "no such command"; a module it imports
    that is missing is reported as the error it is."""
    import importlib

    real = importlib.import_module

    def broken(name, *args):
        if name == "nnshape.commands.layers":
            raise ModuleNotFoundError("No module named 'rich'", name="rich")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", broken)
    result = CliRunner().invoke(main, ["layers"])
    assert isinstance(result.exception, ModuleNotFoundError) and "No such command" not in result.output
    result = CliRunner().invoke(main, ["no_such_command"])
    assert result.exit_code == 2 and "No such command" in result.output


def test_layers_lists_and_describes():
    listing = invoke("layers").output
    assert "conv2d" in listing and "linear" in listing
    one = invoke("layers", "conv2d").output
    assert "kernel_size (k" in one and "formulas:" in one and "torch.nn.Conv2d" in one
    bad = CliRunner().invoke(main, ["layers", "conv2dd"])
    assert bad.exit_code == 1 and "did you mean" in bad.output


def _run(*args, input=None, env=None):
    return subprocess.run([sys.executable, "-m", "nnshape", *map(str, args)], input=input, capture_output=True, text=True, env=env, timeout=120)


def test_process_errors_go_to_stderr_with_status_1(tmp_path):
    spec = tmp_path / "bad.nn"
    spec.write_text("input 3x8x8\nconv2d 8 k=3 s=0\n")
    proc = _run("summary", spec)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.startswith(f"{spec}:2:16: error[E0303]")
    assert "Traceback" not in proc.stderr


def test_process_missing_file_and_binary_garbage(tmp_path):
    proc = _run("summary", tmp_path / "nope.nn")
    assert proc.returncode == 1 and "cannot read spec" in proc.stderr
    garbage = tmp_path / "garbage.nn"
    garbage.write_bytes(bytes(range(256)) * 4)
    proc = _run("summary", garbage)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr and "error[E" in proc.stderr


def test_process_json_pipes_cleanly():
    proc = _run("summary", EXAMPLES / "gpt2.nn", "--format", "json")
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["total_params"] == 124_439_808


def test_warnings_go_to_stderr_and_quiet_silences_them():
    spec = "input 3x224x224\nconv2d 8 k3 s2\n"
    proc = _run("summary", "-", "--format", "json", input=spec)
    assert proc.returncode == 0 and "warning[W0401]" in proc.stderr and "floor drops 1 input row" in proc.stderr
    json.loads(proc.stdout)
    quiet = _run("summary", "-", "-q", input=spec)
    assert quiet.stderr == ""


def test_no_colour_when_piped():
    proc = _run("summary", EXAMPLES / "seed_fc.nn")
    assert "\x1b[" not in proc.stdout


IMPORT_CHECK = """
import sys, runpy
sys.argv = {argv!r}
try:
    runpy.run_module("nnshape", run_name="__main__")
except SystemExit:
    pass
print("LOADED:" + ",".join(m for m in ("torch", "rich") if m in sys.modules), file=sys.stderr)
"""


def _loaded(argv):
    proc = subprocess.run([sys.executable, "-c", IMPORT_CHECK.format(argv=argv)], capture_output=True, text=True, timeout=120)
    line = [l for l in proc.stderr.splitlines() if l.startswith("LOADED:")][-1]
    return set(filter(None, line.removeprefix("LOADED:").split(",")))


def test_summary_never_imports_torch():
    assert "torch" not in _loaded(["nnshape", "summary", str(EXAMPLES / "resnet50.nn")])


def test_version_imports_neither_rich_nor_torch():
    assert _loaded(["nnshape", "--version"]) == set()


def test_import_nnshape_is_pure():
    proc = subprocess.run(
        [sys.executable, "-c", "import sys, nnshape; nnshape.summarize('input 3\\nlinear 2'); print(sorted(m for m in ('torch','rich') if m in sys.modules))"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.stdout.strip() == "[]"
