"""Memory and training cost: the rules of docs/conventions.md ("Memory", "Training memory",
"Compute") worked by hand, and the saved-for-backward estimate against torch's
``saved_tensors_hooks`` (nnshape verify --train-step) for every example."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from nnshape.analysis import analyze
from nnshape.cli import main
from nnshape.parser import parse
from nnshape.source import Source

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.nn"))


def summary(text: str, **options):
    source = Source("<test>", text)
    return analyze(parse(source), source, **options)


MLP = "input 10\nlinear 20\nrelu\nlinear 5\n"  # 220 + 105 = 325 params


def test_inference_peak_is_the_largest_live_set():
    # the input (40 B) is held by the caller throughout; at relu: its input 80 B + output 80 B + 40 B
    assert summary(MLP).memory.inference_peak_bytes == 200


def test_residual_keeps_its_input_live():
    # at the second linear: skip/input 40 + in 80 + out 40 (the input is the skip: counted once)
    text = "input 10\nresidual:\n    linear 20\n    linear 10\n"
    assert summary(text).memory.inference_peak_bytes == 40 + 80 + 40


def test_saved_for_backward_counts_shared_tensors_once():
    # linear 1 saves nothing new but the input (40 B); relu saves its output (80 B), which
    # linear 2 saves again as its input: the same tensor, counted once
    assert summary(MLP).memory.saved_for_backward_bytes == 40 + 80


@pytest.mark.parametrize("optimizer, states", [("sgd", 0), ("momentum", 1), ("adam", 2), ("adamw", 2)])
def test_training_formula(optimizer, states):
    m = summary(MLP, optimizer=optimizer).memory
    p = 325
    assert m.params_bytes == 4 * p and m.gradients_bytes == 4 * p and m.optimizer_bytes == 4 * states * p
    assert m.training_bytes == 4 * p + 4 * p + 4 * states * p + 120


def test_amp_formula():
    m = summary(MLP, amp=True).memory  # fp16 weights and grads, fp32 master and adam state
    p = 325
    assert m.dtype == "float16" and m.params_bytes == 2 * p and m.gradients_bytes == 2 * p
    assert m.master_weights_bytes == 4 * p and m.optimizer_bytes == 8 * p
    assert m.saved_for_backward_bytes == (40 + 80) // 2
    assert m.training_bytes == 2 * p + 2 * p + 4 * p + 8 * p + 60
    assert summary(MLP, amp=True, dtype="bfloat16").memory.dtype == "bfloat16"


def test_frozen_layers_have_no_gradient_or_state():
    m = summary("input 10\nlinear 20 trainable=false\nlinear 5\n", optimizer="adam").memory
    assert m.gradients_bytes == 4 * 105 and m.optimizer_bytes == 8 * 105 and m.params_bytes == 4 * 325


def test_activation_bytes_per_row_follow_dtype():
    s = summary("input ids 16 dtype=int64\nembedding 100 8\n", dtype="float16")
    assert s.layers[0].activation_bytes == 16 * 8 * 2
    s = summary("input ids 16 dtype=int64\nembedding 100 8\n")
    assert s.layers[0].activation_bytes == 16 * 8 * 4


def test_attention_rows_report_score_bytes():
    s = summary("input 128x64\nattention 4\n", batch=2)
    assert s.layers[0].score_bytes == 2 * 4 * 128 * 128 * 4


def test_symbolic_sizes_leave_the_peak_open():
    s = summary("input (L, 64)\nlinear 64\n")
    assert s.memory.inference_peak_bytes is None
    assert s.to_dict()["memory"]["inference_peak_bytes"] is None


def test_compute_rule():
    s = summary(MLP)
    assert s.total_macs == 10 * 20 + 20 * 5
    assert s.training_flops == 3 * 2 * s.total_macs


def test_footer_and_json():
    result = CliRunner().invoke(main, ["summary", str(EXAMPLES[0]), "--optimizer", "sgd", "--footer", "full"])
    assert result.exit_code == 0
    assert "Training memory (sgd)" in result.output and "decimal" in result.output and "Inference peak" in result.output
    compact = CliRunner().invoke(main, ["summary", str(EXAMPLES[0]), "--optimizer", "sgd"]).output
    assert "Training (sgd):" in compact and "inference peak" in compact
    data = json.loads(CliRunner().invoke(main, ["summary", str(EXAMPLES[0]), "--format", "json", "--amp"]).stdout)
    assert data["memory"]["amp"] is True and data["memory"]["optimizer"] == "adam"
    assert all("activation_bytes" in row for row in data["layers"])


# ------------------------------------------------------------------ against torch


# a training step of these needs far more memory than a CI machine has (billions of parameters)
TOO_LARGE = {"llama3_8b.nn", "mixtral_8x7b.nn", "llama_decode.nn",
             # 2 GB and half a minute for one 16-frame clip; its 3-D window attention's saved bytes are
             # checked exactly on small maps (tests/test_kinds_window3d.py)
             "swin3d_t.nn",
             # about 2 GB for one clip too; poolattention's saved bytes are checked exactly on small
             # grids (tests/test_kinds_multiscale.py, and against torchvision in tests/manual/check_mvit_tv.py)
             "mvit_v2_s.nn"}


@pytest.mark.parametrize("spec", [p for p in EXAMPLES if p.name not in TOO_LARGE], ids=lambda p: p.stem)
def test_saved_for_backward_within_10_percent_of_torch(spec):
    pytest.importorskip("torch")
    from nnshape.verifier import verify

    step = verify(str(spec), device="cpu", train_step=True).train_step
    assert step is not None and step.error is None
    measured, analytic = step.saved_for_backward_bytes, step.analytic_saved_bytes
    assert measured and analytic is not None
    assert abs(analytic - measured) <= 0.10 * measured, (analytic, measured)


SMALL = [
    "input 3x16x16\nconv2d 8 k3\nbatchnorm2d\nrelu\nmaxpool2d 2\nflatten\ndropout 0.5\nlinear 10\n",
    "input 3x16x16\nconcat:\n    branch:\n        conv2d 4 k1\n    branch:\n        conv2d 4 k3 p1\n        gelu\nadaptiveavgpool2d 2\nflatten\nlinear 5\n",
    "input 12x32\nlinear 32\nrepeat 3:\n    residual:\n        layernorm\n        attention 4 causal=true\n    residual:\n        layernorm\n        linear 64\n        silu\n        linear 32\n",
    "input 12x32\nlinear 32\nmultiply:\n    branch:\n        sigmoid\n    branch:\n        tanh\n",
]


@pytest.mark.parametrize("text", SMALL)
def test_small_networks_against_torch(text):
    pytest.importorskip("torch")
    from nnshape.verifier import verify

    step = verify(text, device="cpu", train_step=True, batch=2).train_step
    measured, analytic = step.saved_for_backward_bytes, step.analytic_saved_bytes
    assert abs(analytic - measured) <= 0.10 * measured, (analytic, measured)


def test_verify_json_reports_both():
    pytest.importorskip("torch")
    result = CliRunner().invoke(main, ["verify", str(ROOT / "examples" / "seed_fc.nn"), "--device", "cpu", "--train-step", "--format", "json"])
    data = json.loads(result.stdout)
    saved = data["train_step"]["saved_for_backward_bytes"]
    assert saved["torch"] == saved["analytic"] == 20
