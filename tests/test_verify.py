"""`nnshape verify`: the assembled torch network agrees with the analysis, and the verifier is itself tested."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import break_conv2d_macs

import nnshape
from nnshape.cli import main

HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.nn"))
# examples too large for a CI machine's memory (billions of parameters) verify on the meta device
# (shapes, parameters, buffers and MACs; no values)
META_EXAMPLES = {"llama3_8b.nn", "mixtral_8x7b.nn", "llama_decode.nn",
                 "swin3d_t.nn",  # 44 GMACs a clip: the same counts on meta, in a fraction of the time
                 "mvit_v2_s.nn"}  # 64 GMACs a clip (on CPU it verifies in about 12 s: docs/importers.md)


def verify(text: str, **kwargs):
    from nnshape.verifier import verify as run

    return run(text, **kwargs)


def failures(report) -> str:
    return "\n".join(f"{c.path} {c.label}: {c.mismatches} {c.error} {c.analytic} vs {c.torch}" for c in report.mismatches) + (report.error or "")


def test_import_does_not_load_torch():
    code = "import nnshape, nnshape.verifier, nnshape.commands.verify, nnshape.commands.export, sys; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_torch_missing_exits_3(monkeypatch, tmp_path):
    spec = tmp_path / "a.nn"
    spec.write_text("input 4\nlinear 2\n")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "torch" else real(name, *a))
    result = CliRunner().invoke(main, ["verify", str(spec)])
    assert result.exit_code == 3
    assert "pip install torch" in result.output and "pip install 'nnshape[torch]'" not in result.output


@needs_torch
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_verifies_on_cpu(path):
    report = verify(str(path), device="meta" if path.name in META_EXAMPLES else "cpu")
    assert report.ok, failures(report)
    assert report.totals.torch.params == report.totals.analytic.params


@needs_torch
def test_submodule_names_follow_the_spec_paths():
    from nnshape.verifier import analyze_spec
    from nnshape.verifier.builder import build

    text = "input 3x8x8\nconv2d 4 k3 name=stem\nresidual:\n    conv2d 4 k3 p1\nshortcut:\n    identity\nrepeat 2:\n    relu\nconcat:\n    branch:\n        identity\n"
    summary, plan = analyze_spec(text)
    names = {name for name, _ in build(summary, plan).model.named_modules()}
    assert {"stem", "1", "1.0", "1.shortcut", "1.shortcut.0", "2", "2.0", "2.1", "2.0.0", "3", "3.0", "3.0.0"} <= names
    assert {row.path for row in summary.layers} <= names


def test_a_summary_is_analyzed_again_with_its_own_options():
    """verify(summary) rebuilds from the summary's text with its batch, dtype, bindings,
    optimizer and amp (no torch needed: only the analysis runs)."""
    from nnshape.verifier import analyze_spec

    summary = nnshape.summarize("input 3x8x8\nconv2d C k3\nrelu\n", batch=2, dtype="bfloat16", optimizer="sgd", amp=True, C=4)
    again, _ = analyze_spec(summary)
    assert again == summary and again.memory == summary.memory
    assert again.memory.optimizer == "sgd" and again.memory.amp


@needs_torch
def test_repeat_row_is_count_times_body_with_independent_copies():
    report = verify("input 8\nrepeat 5:\n    linear 8\n    relu\n", device="cpu")
    assert report.ok, failures(report)
    row = next(c for c in report.layers if c.kind == "repeat")
    assert row.torch.params == 5 * 72 and row.torch.macs == 5 * 64


@needs_torch
def test_cli_table_and_json(tmp_path):
    spec = tmp_path / "net.nn"
    spec.write_text("input 3x8x8\nconv2d 4 k3\nrelu\nflatten\nlinear 2\n")
    table = CliRunner().invoke(main, ["verify", str(spec), "--device", "cpu"])
    assert table.exit_code == 0, table.output
    assert "✓" in table.output and "✗" not in table.output
    result = CliRunner().invoke(main, ["verify", str(spec), "--format", "json", "--batch", "2", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["ok"] is True and data["device"] == "cpu" and data["batch"] == 2
    assert data["layers"][0]["analytic"]["shape"] == data["layers"][0]["torch"]["shape"] == [2, 4, 6, 6]
    assert data == {**verify(str(spec), device="cpu", batch=2).to_dict(), "seconds": data["seconds"]}


@needs_torch
def test_bad_spec_and_symbolic_sizes_exit_1(tmp_path):
    spec = tmp_path / "net.nn"
    spec.write_text("input (L, 8)\nlinear 4\n")
    result = CliRunner().invoke(main, ["verify", str(spec)])
    assert result.exit_code == 1 and "--set L=" in result.output
    assert CliRunner().invoke(main, ["verify", str(spec), "--set", "L=3", "--device", "cpu"]).exit_code == 0


@needs_torch
def test_broken_rule_is_caught_on_the_right_layer(monkeypatch, tmp_path):
    break_conv2d_macs(monkeypatch)
    text = "input 3x8x8\nconv2d 4 k3 name=stem\nrelu\nblock body:\n    residual:\n        conv2d 4 k3 p1 name=inner\nflatten\nlinear 2\n"
    report = verify(text, device="cpu")
    assert not report.ok
    bad = {c.path: c.mismatches for c in report.mismatches}
    # the two convs, and the blocks and totals that contain them; never the relu or the linear
    assert bad == {"stem": ("macs",), "body": ("macs",), "body.0": ("macs",), "body.0.inner": ("macs",), "": ("macs",)}
    spec = tmp_path / "net.nn"
    spec.write_text(text)
    result = CliRunner().invoke(main, ["verify", str(spec), "--device", "cpu"])
    assert result.exit_code == 1
    first = [line for line in result.output.splitlines() if line.startswith(("✓", "✗"))][0]
    assert first.startswith("✗"), "mismatches are listed first"
    assert "body.0.inner (line 6): macs differ" in result.output


@needs_torch
def test_broken_shape_rule_reports_the_layer_torch_refused(monkeypatch):
    from nnshape import registry

    linear = registry.get("linear")
    original = type(linear).infer

    def wrong_shape(self, call):
        result = original(self, call)
        return type(result)(result.shape[:-1] + (result.shape[-1] + 1,), result.params, result.buffers, result.macs)

    monkeypatch.setattr(type(linear), "infer", wrong_shape)
    report = verify("input 6\nlinear 4 name=a\nlinear 3 name=b\n", device="cpu")
    assert not report.ok
    a = next(c for c in report.layers if c.path == "a")
    assert a.mismatches == ("shape",) and a.analytic.shape == (1, 5) and a.torch.shape == (1, 4)
    b = next(c for c in report.layers if c.path == "b")
    assert b.error is not None  # the next linear expected 5 features: torch raised there


@needs_torch
def test_train_step_finds_dead_parameters():
    text = "input a 4\ninput b 4\nfrom a as h:\n    linear 3\nfrom b:\n    linear 3 name=used\n"
    report = verify(text, device="cpu", train_step=True)
    assert report.ok, failures(report)
    assert report.train_step.no_grad == ("h.0.weight", "h.0.bias")
    assert report.train_step.saved_tensor_bytes > 0


@needs_torch
def test_frozen_call_gets_no_gradient_and_is_not_reported():
    report = verify("def f():\n    linear 4\ninput 4\nf trainable=false\nlinear 2\n", device="cpu", train_step=True)
    assert report.ok and report.train_step.no_grad == ()


@needs_torch
def test_dtype_and_batch():
    report = verify("input 3x8x8\nconv2d 4 k3\nbatchnorm2d\nrelu\ngap\nflatten\nlinear 2\n", device="cpu", dtype="bfloat16", batch=3)
    assert report.ok, failures(report)
    assert report.totals.torch.dtype == "bfloat16" and report.totals.torch.shape == (3, 2)


@needs_torch
def test_meta_device_verifies_more_than_100_billion_parameters():
    text = """
input ids 64 dtype=int64
let d = 16384
embedding 50000 d
repeat 32:
    residual:
        layernorm
        attention heads=128 causal=true
    residual:
        layernorm
        linear 4*d
        gelu
        linear d
layernorm
"""
    report = verify(text, device="meta")
    assert report.ok, failures(report)
    assert report.totals.torch.params > 100e9


@needs_torch
def test_api_accepts_a_summary_of_text():
    summary = nnshape.summarize("input 4\nlinear 2\n", batch=3)
    report = nnshape.verify(summary, device="meta")
    assert report.ok and report.totals.torch.shape == (3, 2)


@needs_torch
def test_api_accepts_a_summary_of_a_file(tmp_path):
    spec = tmp_path / "net.nn"
    spec.write_text("input 4\nlinear k\n")
    report = nnshape.verify(nnshape.summarize(str(spec), k=3), device="cpu")
    assert report.ok and report.totals.torch.shape == (1, 3)


@needs_torch
def test_huge_repeat_is_refused_with_an_nnshape_error():
    with pytest.raises(nnshape.SpecLimitError):
        verify("input 4\nrepeat 100000:\n    linear 4\n", device="meta")
    with pytest.raises(nnshape.SpecLimitError, match="device meta"):
        verify("input 4\nrepeat 10000:\n    linear 100000\n", device="cpu")


# ----------------------------------------------------------------------------- generated networks

if HAS_TORCH:
    from hypothesis import HealthCheck, given, settings
    from strategies import specs

    @given(specs())
    @settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    def test_generated_networks_verify_exactly(text):
        report = verify(text, device="cpu", batch=2)
        assert report.ok, text + "\n" + failures(report)


def test_recurrent_layers_are_counted_without_cudnn():
    """On CUDA, cuDNN runs an RNN/LSTM/GRU as one kernel FlopCounterMode counts as 0 (seen on an
    H200: every recurrent layer's MACs read 0); the counting pass turns cuDNN off for those layers
    only, and restores the flag and the module's hooks afterwards."""
    torch = pytest.importorskip("torch")
    from nnshape.verifier.runner import counting_flags

    lstm, linear = torch.nn.LSTM(4, 3), torch.nn.Linear(3, 2)
    seen = {}
    before = torch.backends.cudnn.enabled
    with counting_flags(torch.nn.ModuleList([lstm, linear])):
        def note(name):
            return lambda module, args: seen.update({name: torch.backends.cudnn.enabled})  # None: args unchanged

        lstm.register_forward_pre_hook(note("lstm"))
        linear.register_forward_pre_hook(note("linear"))
        out, _ = lstm(torch.zeros(5, 4))
        linear(out)
    assert seen == {"lstm": False, "linear": before}
    assert torch.backends.cudnn.enabled == before
    assert len(lstm._forward_pre_hooks) == 1 and not lstm._forward_hooks  # only the test's own hook is left
