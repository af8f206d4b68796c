"""Weight sharing (nnshape/analysis/sharing.py): labels, ``tie=``, ``reuse``, ``repeat N shared:``
and several outputs (``output a, b``).

The rule under test: a parameter is counted once however often it is used, MACs and activations
at every use. Every network here is also built by the verifier with real sharing (the lender's
very tensors), and PyTorch's own ``sum(p.numel() for p in model.parameters())``, per-row numbers,
FlopCounterMode MACs, an optimizer's state and the saved tensors agree with the summary; the
exported file builds the same sharing.
"""

from __future__ import annotations

import importlib.util
import json

import pytest
from click.testing import CliRunner

import nnshape
from nnshape.cli import main

needs_torch = pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")

LM = """input ids 12 dtype=int64
wte: embedding 50 16
linear 16
gelu
lm_head: linear 50 tie=wte
"""

ALBERT_LIKE = """input 6x16
proj: linear 24
repeat 4 shared:
    residual:
        ln
        linear 48
        gelu
        linear 24
ln
"""

REUSE = """input 3x16x16
stem: conv 8 k3 p1
relu
c: conv 8 k3 p1 bias=false
bn
reuse c
block enc:
    conv 8 k3 p1
    bn
    relu
reuse enc
again: reuse enc
def dw(ch):
    conv ch k3 p1 groups=ch
    relu
d: dw 8
reuse d
gap
flatten
head: linear 5
"""

NESTED = """input 5x8
repeat 3:
    c: linear 8
    reuse c
    relu
repeat 2 shared:
    repeat 2:
        e: linear 8
        gelu
        reuse e
block outer:
    block inner:
        s: linear 8
    linear 8 tie=inner.s
"""

TIED_IDS = """input ids 6 dtype=int64
a: embedding 20 8
from ids:
    b: embedding 20 8 tie=a       # no parameter of its own, its input needs no gradient: it trains a's
"""

SPECS = {"lm": LM, "albert_like": ALBERT_LIKE, "reuse": REUSE, "nested": NESTED, "tied_ids": TIED_IDS}


def rows(summary):
    return {row.path: row for row in summary.layers}


def error_code(text: str) -> str:
    with pytest.raises(nnshape.NNShapeError) as info:
        nnshape.summarize(text)
    return info.value.code


# ----------------------------------------------------------------------------- labels


def test_a_label_names_the_row_as_name_does():
    labelled = nnshape.summarize("input 8\nfc: linear 4\n")
    named = nnshape.summarize("input 8\nlinear 4 name=fc\n")
    assert [r.path for r in labelled.layers] == [r.path for r in named.layers] == ["fc"]
    assert labelled.layers[0].label == named.layers[0].label == "fc: linear 4"


def test_a_label_may_be_a_kind_name_and_label_a_def_call():
    summary = nnshape.summarize("input 8\nrelu: relu\ndef mlp(n):\n    linear n\nlinear: mlp 4\n")
    assert [r.path for r in summary.layers] == ["relu", "linear", "linear.0"]
    assert summary.layer("linear").kind == "call"


def test_block_keywords_are_not_labels():
    # `residual: conv ...` stays a block with an inline body
    summary = nnshape.summarize("input 4x8x8\nresidual: conv 4 k3 p1\n")
    assert summary.layers[0].kind == "residual"


@pytest.mark.parametrize("text,code", [
    ("input 8\nfc: linear 4 name=other\n", "E0170"),
    ("input 8\nx: input 3\n", "E0170"),
    ("input 8\nx: let a = 3\n", "E0170"),
    ("input 8\nfc: linear 4\nfc: linear 4\n", "E0208"),
])
def test_label_errors(text, code):
    assert error_code(text) == code


# ----------------------------------------------------------------------------- tie=


def test_a_tied_head_counts_its_bias_only_and_all_its_macs():
    untied = nnshape.summarize(LM.replace(" tie=wte", ""))
    tied = nnshape.summarize(LM)
    head = tied.layer("lm_head")
    assert head.params == 50 and head.trainable_params == 50  # the bias; the 50×16 weight is wte's
    assert head.param_bytes == 50 * 4
    assert head.shares == ("weight", "wte") and head.shares_text == "tied to wte"
    assert tied.total_params == untied.total_params - 50 * 16
    assert tied.total_macs == untied.total_macs and head.macs == untied.layer("lm_head").macs
    assert head.label == "lm_head: linear 50 tie=wte"


def test_explain_says_what_a_shared_row_counts_elsewhere():
    """The kind's formulas are the layer's own (a tied head's params = V·D + V); the last line says
    what is counted at the owner, so explain and the table agree."""
    head = nnshape.summarize(LM, explain=True).layer("lm_head")
    assert head.explain[-1] == "tied to wte: its weight's 800 params are counted there; params here = 50; MACs at every use"
    reused = nnshape.summarize("input 3x8x8\nb: bn\nreuse b\n", explain=True).layers[-1]
    assert reused.explain[-1] == "shared with b: its 6 params and 7 buffers are counted there; params here = 0; MACs at every use"
    assert not any("counted there" in line for row in nnshape.summarize(LM, explain=True).layers[:-1] for line in row.explain)


def test_an_embedding_may_take_a_linear_weight_and_ties_chain():
    text = """input x 4x8
input ids 4 dtype=int64
head: linear 30 bias=false
from ids:
    a: embedding 30 8 tie=head
from ids:
    b: embedding 30 8 tie=a
"""
    summary = nnshape.summarize(text)
    assert summary.total_params == 30 * 8
    r = rows(summary)
    assert r["1.a"].shares == ("weight", "head") and r["2.b"].shares == ("weight", "1.a")


def test_the_nearest_label_wins_and_a_dotted_path_picks_one():
    text = """input 4x8
s: linear 8
block a:
    s: linear 8
    linear 8 tie=s
linear 8 tie=s
linear 8 tie=a.s
linear 8 tie='a.s'
"""
    r = rows(nnshape.summarize(text))
    assert r["a.1"].shares == ("weight", "a.s")  # inside block a, its own s is nearer
    assert r["2"].shares == ("weight", "s")
    assert r["3"].shares == r["4"].shares == ("weight", "a.s")


def test_a_tie_inside_one_pass_of_a_repeat_stays_in_that_pass():
    summary = nnshape.summarize("input 4x8\nrepeat 5:\n    s: linear 8\n    linear 8 tie=s\n")
    assert summary.total_params == 5 * (8 * 8 + 8 + 8)


@pytest.mark.parametrize("text,code", [
    ("input 4x8\nlinear 8 tie=nothing\n", "E0220"),
    ("input 4x8\nblock a:\n    s: linear 8\nblock b:\n    s: linear 8\nlinear 8 tie=s\n", "E0221"),
    ("input 4x8\nrepeat 2:\n    s: linear 8\nlinear 8 tie=s\n", "E0222"),
    ("input 4x8\ns: linear 16\nlinear 8 tie=s\n", "E0470"),
    ("input ids 4 dtype=int64\ne: embedding 10 8\nlinear 8 tie=e\n", "E0470"),  # 8×8 against 10×8
    ("input 4x8x8\nc: conv 8 k3 p1\nflatten\nlinear 8 tie=c\n", "E0471"),
    ("input 4x8\nblock a:\n    linear 8\nlinear 8 tie=a\n", "E0471"),
    ("input 4x8\nlinear 8 tie=3\n", "E0303"),
    ("input 4x8\nlinear 8 tie=s\ns: linear 8\n", "E0220"),  # only earlier lines
])
def test_tie_errors(text, code):
    assert error_code(text) == code


# ----------------------------------------------------------------------------- reuse


def test_reuse_counts_no_parameters_and_every_use_of_the_macs():
    r = rows(nnshape.summarize(REUSE))
    assert r["4"].kind == "conv2d" and r["4"].label == "reuse c" and r["4"].params == 0 and r["4"].macs == r["c"].macs
    assert r["4"].shares == ("module", "c") and r["4"].line == 6
    assert r["6"].kind == "block" and r["6"].params == 0 and r["6"].buffers == 0 and r["6"].macs == r["enc"].macs
    assert r["6"].shares == ("module", "enc") and r["6.0"].shares == ("module", "enc.0") and r["6.1"].shares == ("module", "enc.1")
    assert r["6.2"].shares is None  # a relu holds nothing to share
    assert r["again"].label == "again: reuse enc" and r["again"].shares == ("module", "enc")
    assert r["9"].kind == "call" and r["9.0"].shares == ("module", "d.0")


def test_reuse_of_a_reuse_shares_with_the_first():
    r = rows(nnshape.summarize("input 4x8\na: linear 8\nb: reuse a\nreuse b\n"))
    assert r["2"].shares == ("module", "a")


@pytest.mark.parametrize("text,code", [
    ("input 4x8\nreuse\n", "E0371"),
    ("input 4x8\na: linear 8\nreuse a a\n", "E0371"),
    ("input 4x8\na: linear 8\nreuse a trainable=false\n", "E0371"),
    ("input 4x8\na: linear 16\nreuse a\n", "E0472"),
    ("input 4x8\nreuse a\n", "E0220"),
    ("input 4x8\nblock a:\n    linear 8\n    reuse a\n", "E0220"),  # a block cannot run itself
])
def test_reuse_errors(text, code):
    assert error_code(text) == code


# ----------------------------------------------------------------------------- repeat N shared:


def test_a_shared_repeat_counts_its_weights_once_and_its_macs_n_times():
    shared = nnshape.summarize(ALBERT_LIKE)
    plain = nnshape.summarize(ALBERT_LIKE.replace(" shared", ""))
    body = plain.layer("1").params // 4
    assert shared.total_params == plain.total_params - 3 * body
    assert shared.total_macs == plain.total_macs
    r = rows(shared)
    assert r["1"].label == "repeat 4 shared" and r["1"].params == body and r["1"].macs == plain.layer("1").macs
    assert r["1.0.0.1"].repeat == 1 and r["1.0.0.1"].shares is None
    assert r["1.1.0.1"].repeat == 3 and r["1.1.0.1"].params == 0 and r["1.1.0.1"].shares == ("module", "1.0.0.1")
    assert shared.memory.params_bytes == shared.total_params * 4
    assert shared.memory.activation_bytes == plain.memory.activation_bytes  # activations per use
    assert shared.memory.saved_for_backward_bytes == plain.memory.saved_for_backward_bytes


@pytest.mark.parametrize("count", [0, 1, 2])
def test_short_shared_repeats(count):
    summary = nnshape.summarize(f"input 4x8\nrepeat {count} shared:\n    linear 8\n")
    assert summary.total_params == (72 if count else 0)
    assert summary.total_macs == count * 4 * 64


def test_shared_may_be_written_as_a_key():
    assert nnshape.summarize("input 4x8\nrepeat 3 shared=true:\n    linear 8\n").total_params == 72
    assert nnshape.summarize("input 4x8\nrepeat 3 shared=false:\n    linear 8\n").total_params == 216


@pytest.mark.parametrize("text,code", [
    ("input 4x8\nrepeat 3 sharde:\n    linear 8\n", "E0370"),
    ("input 4x8\nrepeat 3 shared=2:\n    linear 8\n", "E0370"),
    ("input 4x8\nrepeat 3 shared:\n    linear 16\n", "E0472"),  # pass 1 would need 16×16
    ("input 3x4\nblock enc:\n    repeat 2:\n        adaptiveavgpool1d 4\n        linear 4\nupsample scale=2\nreuse enc\n", "E0473"),
])
def test_shared_repeat_errors(text, code):
    assert error_code(text) == code


# ----------------------------------------------------------------------------- outputs, JSON, CSV, diff


def test_several_outputs():
    text = "input x 3x8x8\nfrom x as a:\n    conv 4 k3 p1\nfrom a as pooled:\n    gap\n    flatten\noutput a, pooled\n"
    summary = nnshape.summarize(text)
    assert summary.output_name == "a" and summary.output_shape == (1, 4, 8, 8)
    assert [(o.name, o.shape) for o in summary.outputs] == [("a", (1, 4, 8, 8)), ("pooled", (1, 4))]
    data = summary.to_dict()
    assert data["outputs"] == [{"name": "a", "shape": [1, 4, 8, 8], "dtype": "float32"},
                               {"name": "pooled", "shape": [1, 4], "dtype": "float32"}]
    assert nnshape.summarize("input 8\nlinear 2\n").to_dict()["outputs"] == [{"name": None, "shape": [1, 2], "dtype": "float32"}]
    assert error_code(text.replace("output a, pooled", "output a, a")) == "E0132"


def test_every_output_format_says_what_a_row_shares(tmp_path):
    spec = tmp_path / "lm.nn"
    spec.write_text(LM)
    runner = CliRunner()
    table = runner.invoke(main, ["summary", str(spec)]).output
    assert "(tied to wte)" in table
    md = runner.invoke(main, ["summary", str(spec), "--format", "markdown"]).output
    assert "(tied to wte)" in md
    csv = runner.invoke(main, ["summary", str(spec), "--format", "csv"]).output.splitlines()
    assert csv[0].endswith(",shares") and csv[-1].endswith(",tied to wte")
    data = json.loads(runner.invoke(main, ["summary", str(spec), "--format", "json"]).output)
    assert data["layers"][-1]["shares"] == {"what": "weight", "path": "wte"}
    assert "shares" not in data["layers"][0]
    untied = tmp_path / "untied.nn"
    untied.write_text(LM.replace(" tie=wte", ""))
    diff = json.loads(runner.invoke(main, ["diff", str(untied), str(spec), "--format", "json"]).output)
    head = next(c for c in diff["layers"] if c["path"] == "lm_head")
    assert "shares" in head["changes"] and head["new"]["shares"] == {"what": "weight", "path": "wte"}
    text = runner.invoke(main, ["diff", str(untied), str(spec)]).output
    assert "tied to wte" in text


# ----------------------------------------------------------------------------- against torch


@needs_torch
@pytest.mark.parametrize("name", sorted(SPECS))
def test_verify_builds_real_sharing(name):
    """Every row and the totals agree with the built network, whose own count of its parameters
    (each tensor once) is the summary's; each shared row's module holds the lender's tensors."""
    import torch

    from nnshape.verifier import analyze_spec
    from nnshape.verifier.builder import build
    from nnshape.verifier import verify

    report = verify(SPECS[name], batch=2, device="cpu")
    assert report.ok, [(c.path, c.mismatches, c.error) for c in report.mismatches]
    summary, plan = analyze_spec(SPECS[name], batch=2)
    built = build(summary, plan, device="cpu")
    model = built.model
    assert sum(p.numel() for p in model.parameters()) == summary.total_params
    assert sum(b.numel() for b in model.buffers()) == summary.total_buffers
    modules = dict(zip((r.path for r in summary.layers), built.row_modules))
    for row in summary.layers:
        if row.shares is None or row.is_block:
            continue
        what, owner = row.shares
        mine, theirs = modules[row.path], modules[owner]
        assert mine is not theirs  # a module per use: hooks and FlopCounterMode see each use
        if what == "weight":
            assert mine.weight is theirs.weight
        else:
            assert all(a is b for a, b in zip(mine.parameters(), theirs.parameters()))
            assert all(a is b for a, b in zip(mine.buffers(), theirs.buffers()))
    del torch


@needs_torch
@pytest.mark.parametrize("name", sorted(SPECS))
def test_an_optimizer_keeps_state_once_per_shared_parameter(name):
    """Adam's state after a step: two tensors per distinct parameter, which is what the training
    memory charges (2 × trainable params)."""
    import torch

    from nnshape.verifier import analyze_spec
    from nnshape.verifier.builder import build
    from nnshape.verifier.runner import make_inputs

    summary, plan = analyze_spec(SPECS[name], batch=2)
    model = build(summary, plan, device="cpu").model.train()
    opt = torch.optim.Adam(model.parameters())
    out = model(*make_inputs(plan, "cpu", None))
    out.float().pow(2).mean().backward()
    opt.step()
    state = sum(t.numel() for s in opt.state.values() for t in s.values() if torch.is_tensor(t) and t.dim() > 0)
    assert state == 2 * summary.trainable_params
    assert summary.memory.optimizer_bytes == 2 * 4 * summary.trainable_params
    assert summary.memory.gradients_bytes == 4 * summary.trainable_params


@pytest.mark.parametrize("name", sorted(SPECS))
def test_a_parallel_plan_counts_each_shared_tensor_once(name):
    """The planner's per-rank walk (nnshape.planning) reads what a row shares from the Plan: at tp 1
    its tensors add up to the summary's parameters, and it saves what the analysis saves."""
    from nnshape.planning.replay import Replay
    from nnshape.planning.roles import Roles
    from nnshape.verifier import analyze_spec

    summary, plan = analyze_spec(SPECS[name], batch=2)
    replay = Replay(summary, plan, Roles(plan, 1), summary.memory.dtype)
    assert sum(u.params for u in replay.units) == summary.total_params
    assert replay.tracker.saved_bytes == summary.memory.saved_for_backward_bytes


@needs_torch
def test_saved_for_backward_counts_every_use():
    """What autograd saves, in torch and in the estimate, is the same whether the passes share
    their weights or not: activations are per use."""
    from nnshape.verifier import verify

    shared = verify(ALBERT_LIKE, batch=2, device="cpu", train_step=True).train_step
    plain = verify(ALBERT_LIKE.replace(" shared", ""), batch=2, device="cpu", train_step=True).train_step
    assert shared.ok and plain.ok
    assert shared.saved_for_backward_bytes == plain.saved_for_backward_bytes
    assert shared.analytic_saved_bytes == plain.analytic_saved_bytes
    for text in (REUSE, TIED_IDS):
        step = verify(text, batch=2, device="cpu", train_step=True).train_step
        assert step.ok and step.saved_for_backward_bytes == step.analytic_saved_bytes


@needs_torch
@pytest.mark.parametrize("name", sorted(SPECS))
def test_export_writes_the_sharing(name, tmp_path):
    import runpy

    import torch

    from nnshape.verifier import analyze_spec
    from nnshape.verifier.export import export_source
    from nnshape.verifier.runner import make_inputs

    summary, plan = analyze_spec(SPECS[name], batch=2)
    path = tmp_path / "model.py"
    path.write_text(export_source(summary, plan))
    model = runpy.run_path(str(path))["Model"]().eval()
    assert sum(p.numel() for p in model.parameters()) == summary.total_params
    with torch.no_grad():
        out = model(*make_inputs(plan, "cpu", None))
    assert tuple(out.shape) == summary.output_shape


@needs_torch
def test_verify_and_export_several_outputs(tmp_path):
    import runpy

    import torch

    from nnshape.verifier import analyze_spec, verify
    from nnshape.verifier.export import export_source

    text = "input x 3x8x8\nfrom x as a:\n    conv 4 k3 p1\nfrom a as pooled:\n    gap\n    flatten\noutput a, pooled\n"
    report = verify(text, device="cpu", train_step=True)
    assert report.ok and [c.path for c in report.outputs] == ["output a", "output pooled"]
    assert report.to_dict()["outputs"][1]["torch"]["shape"] == [1, 4]
    summary, plan = analyze_spec(text)
    path = tmp_path / "model.py"
    path.write_text(export_source(summary, plan))
    out = runpy.run_path(str(path))["Model"]()(torch.randn(1, 3, 8, 8))
    assert isinstance(out, tuple) and [tuple(t.shape) for t in out] == [(1, 4, 8, 8), (1, 4)]


@needs_torch
def test_verify_notices_a_wrong_output():
    """The output checks can fail: a summary whose second output is misstated is caught."""
    import dataclasses

    from nnshape.summary import OutputInfo
    from nnshape.verifier import analyze_spec
    from nnshape.verifier.runner import run

    text = "input x 3x8x8\nfrom x as a:\n    conv 4 k3 p1\nfrom a as pooled:\n    gap\n    flatten\noutput a, pooled\n"
    summary, plan = analyze_spec(text)
    wrong = dataclasses.replace(summary, outputs=(summary.outputs[0], OutputInfo("pooled", (1, 5), "float32")))
    report = run(wrong, plan, device="cpu")
    assert not report.ok and [c.path for c in report.mismatches] == ["output pooled"]
