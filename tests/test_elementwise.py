"""Element-wise FLOPs (`--count-elementwise`, issue 17 item 9): off by default, so FLOPs stay
2 × MACs as FlopCounterMode counts them; on, each kind's rule (Kind.elementwise_flops, on the kind)
follows DeepSpeed's flops profiler (which calflops reuses).

The oracle: every example of every kind DeepSpeed has a rule for is run in torch under a
TorchDispatchMode that applies DeepSpeed's rules to the aten ops that really execute, on their real
tensors (activations and softmax: one FLOP per element; layer, group and instance norm: 4, 5 with
an affine weight; batch norm in eval: 1, 2 with affine; pooling: one per input element;
convolution: one per output element for its bias; interpolation: one per output element; a
linear's bias: none). The composite kinds (attention, transformer layers, recurrent layers) and
our own additions (LRN, RMSNorm) are checked against their documented formulas.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from oracle import analyze_with_calls, counting_flags, example_source, random_tensor

import nnshape
from nnshape import registry
from nnshape.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.nn"))

COMPOSITE = {"mha", "attention", "encoderlayer", "decoderlayer", "rnn", "lstm", "gru"}  # checked by formula below
OURS = {"lrn", "rmsnorm", "quickgelu", "frozenbn"}  # no DeepSpeed rule: ours, checked by formula below
UNMODELLED = {k.name for k in registry.all_kinds() if not k.elementwise_modelled}  # counted 0, and said so
ARITHMETIC = {"posenc", "posemb", "posemb3d", "scale"}  # their twins' add/mul are the operation itself
ORACLE_KINDS = sorted(k.name for k in registry.all_kinds() if k.family != "augmentation" and k.name not in COMPOSITE | OURS | UNMODELLED)
CASES = [(name, ex) for name in ORACLE_KINDS for ex in registry.get(name).examples]


def numel(t) -> int:
    return t.numel()


def _norm(weight_index: int, affine: int, plain: int):
    return lambda args, out: args[0].numel() * (affine if len(args) > weight_index and args[weight_index] is not None else plain)


def _batch_norm(args, out):  # native_batch_norm(input, weight, bias, running_mean, running_var, training, ...)
    training = args[5] if len(args) > 5 else False
    affine = args[1] is not None
    return args[0].numel() * ((5 if affine else 4) if training else (2 if affine else 1))


RULES = {
    **{name: (lambda args, out: out.numel()) for name in (
        "relu", "gelu", "silu", "elu", "selu", "leaky_relu", "hardtanh", "hardswish", "hardsigmoid", "sigmoid", "tanh",
        "mish", "softplus", "_prelu_kernel", "prelu", "_softmax", "_log_softmax",
    )},
    "native_layer_norm": _norm(2, 5, 4),
    "native_group_norm": _norm(1, 5, 4),
    "_native_batch_norm_legit_no_training": lambda args, out: args[0].numel() * (2 if args[1] is not None else 1),
    "_native_batch_norm_legit": lambda args, out: args[0].numel() * (5 if args[1] is not None else 4),
    "native_batch_norm": _batch_norm,
    **{name: (lambda args, out: args[0].numel()) for name in (
        "max_pool1d", "max_pool2d", "max_pool3d", "max_pool2d_with_indices", "max_pool3d_with_indices",
        "avg_pool1d", "avg_pool2d", "avg_pool3d", "adaptive_avg_pool1d", "_adaptive_avg_pool2d", "_adaptive_avg_pool3d",
        "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d",
        "mean", "sum", "amax",
    )},
    "convolution": lambda args, out: out.numel() if args[2] is not None else 0,
}
ARITH_RULES = {"add": lambda args, out: out.numel(), "mul": lambda args, out: out.numel()}


def deepspeed_count(module, inputs, arithmetic: bool) -> int:
    """DeepSpeed's element-wise rules applied to the aten ops ``module`` runs on ``inputs``."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    rules = {**RULES, **(ARITH_RULES if arithmetic else {})}

    class Count(TorchDispatchMode):
        total = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            name = func.overloadpacket.__name__
            if name.startswith(("upsample_", "_upsample_")):
                Count.total += out.numel()
            elif name in rules:
                first = out[0] if isinstance(out, (tuple, list)) else out
                Count.total += rules[name](args, first)
            return out

    with counting_flags(), torch.no_grad(), Count():
        module(*inputs)
    return Count.total


@pytest.mark.parametrize("kind_name,example", CASES, ids=[f"{k}:{e}" for k, e in CASES])
def test_each_kind_counts_what_deepspeed_counts_on_its_twin(kind_name, example):
    pytest.importorskip("torch")
    _, observed = analyze_with_calls(example_source(example), batch=2)
    obs = observed[-1]
    call = obs.call
    module = call.kind.build(call)
    module.train(False)
    inputs = [random_tensor(call.x, 2)] + [random_tensor(t, 2) for t in call.extra_inputs]
    expected = deepspeed_count(module, inputs, arithmetic=kind_name in ARITHMETIC)
    assert call.kind.elementwise_flops(call, obs.inference) == expected


def _one(text: str, batch: int = 1):
    s = nnshape.summarize(text, batch=batch, count_elementwise=True)
    return s, s.leaves[-1]


def test_attention_counts_its_softmax():
    s, row = _one("input 10x32\nmha 4\n", batch=2)
    assert row.elementwise_flops == 2 * 4 * 10 * 10  # N·H·Lq·Lk scores, one FLOP each
    s, row = _one("input 10x32\nattention heads=4 kv_heads=2\n")
    assert row.elementwise_flops == 4 * 10 * 10


def test_transformer_layers_count_their_parts():
    n, length, d, ff, h = 2, 10, 32, 64, 4
    _, row = _one(f"input {length}x{d}\nencoderlayer heads={h} ff={ff}\n", batch=n)
    # two layer norms (5 per element), two residual additions, the relu over ff, the softmax
    assert row.elementwise_flops == n * length * (2 * 5 * d + 2 * d + ff) + n * h * length * length
    spec = f"input src {length}x{d}\ninput tgt 7x{d}\nfrom tgt:\n    decoderlayer heads={h} ff={ff} memory=src\n"
    _, row = _one(spec, batch=n)
    assert row.elementwise_flops == n * 7 * (3 * 5 * d + 3 * d + ff) + n * h * 7 * 7 + n * h * 7 * length


@pytest.mark.parametrize("kind,cell,gates", [("rnn", 1, 1), ("gru", 7, 3), ("lstm", 10, 4)])
def test_recurrent_layers_count_deepspeeds_cell_operations(kind, cell, gates):
    n, length, hidden = 2, 5, 16
    _, row = _one(f"input {length}x8\n{kind} {hidden} num_layers=2 bidirectional=true\n", batch=n)
    assert row.elementwise_flops == n * length * 2 * 2 * (cell * hidden + 2 * gates * hidden)
    _, row = _one(f"input {length}x8\n{kind} {hidden} bias=false\n", batch=n)
    assert row.elementwise_flops == n * length * cell * hidden


def test_our_own_rules():
    _, row = _one("input 8x6x6\nlrn 5\n")
    assert row.elementwise_flops == 8 * 6 * 6 * (2 * 5 + 3)
    _, row = _one("input 10x32\nrmsnorm\n")
    assert row.elementwise_flops == 10 * 32 * 5
    _, row = _one("input 10x32\nrmsnorm elementwise_affine=false\n")
    assert row.elementwise_flops == 10 * 32 * 4
    _, row = _one("input 10x32\nquickgelu\n")
    assert row.elementwise_flops == 10 * 32
    _, row = _one("input 3x8x8\nhflip\n")
    assert row.elementwise_flops == 0  # augmentation prepares data: nothing counted
    _, row = _one("input 4x5x5\nfrozenbn\n")
    assert row.elementwise_flops == 2 * 4 * 5 * 5  # x·scale + shift


def test_kinds_not_modelled_are_named_not_hidden(monkeypatch):
    """A kind whose element-wise FLOPs are not modelled (Kind.elementwise_modelled = False; none
    today) counts 0 and the footer names it, so no total is silently low."""
    moe = registry.get("moe")
    monkeypatch.setattr(type(moe), "elementwise_modelled", False)
    monkeypatch.setattr(type(moe), "elementwise_flops", lambda self, call, result: 0)
    out = CliRunner().invoke(main, ["summary", "-", "--count-elementwise"], input="input 6x16\nmoe experts=4 top_k=2 ff=24\nrelu\n").output
    assert "not counted for moe" in out


def test_moe_and_mamba_count_their_activations():
    """The mixers' rules, spelled out (the oracle above checks them on the twins too)."""
    _, row = _one("input 6x16\nmoe experts=4 top_k=2 ff=24 shared_ff=8\n", batch=2)
    tokens = 2 * 6
    assert row.elementwise_flops == tokens * (4 + 2 + 2 * 24 + 8 + 1)  # softmax, renormalizing sum, acts, shared act, gate
    _, row = _one("input 7x32\nmamba\n")
    assert row.elementwise_flops == 64 * (7 + 3) + 3 * 7 * 64  # conv bias on L+K-1 outputs; silu, softplus, silu(gate)
    _, row = _one("input 5x8\nmamba2 heads=2 head_dim=4 d_state=6 groups=2 chunk=16 expand=1\n")
    conv = 8 + 2 * 2 * 6
    assert row.elementwise_flops == conv * (5 + 3) + 5 * (conv + 2 + 2 * 8)


def test_merges_count_their_additions_and_products():
    s = nnshape.summarize(
        "input 4x8x8\nresidual:\n    relu\nadd:\n    branch:\n        identity\n    branch:\n        identity\n    branch:\n        gap\n"
        "concat:\n    branch:\n        identity\n    branch:\n        identity\n",
        count_elementwise=True,
    )
    elements = 4 * 8 * 8
    relu, gap = elements, elements
    assert s.elementwise_flops == relu + elements + gap + 2 * elements  # residual: 1; add of 3 branches: 2; concat: 0
    residual, add, concat = (r for r in s.layers if r.depth == 0)
    assert (residual.elementwise_flops, add.elementwise_flops, concat.elementwise_flops) == (relu + elements, gap + 2 * elements, 0)


def test_off_by_default_flops_are_twice_the_macs():
    for spec in EXAMPLES:
        s = nnshape.summarize(spec)
        assert s.total_flops == 2 * s.total_macs and s.elementwise_flops == 0
        assert all(r.elementwise_flops == 0 for r in s.layers)
        data = s.to_dict()
        assert data["compute"]["count_elementwise"] is False and data["compute"]["elementwise_flops"] == 0
        assert all("elementwise_flops" not in row for row in data["layers"])


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.stem)
def test_on_the_rows_add_up_and_nothing_else_changes(spec):
    off = nnshape.summarize(spec)
    on = nnshape.summarize(spec, count_elementwise=True)
    assert (on.total_params, on.total_macs, on.output_shape) == (off.total_params, off.total_macs, off.output_shape)
    assert on.total_flops == 2 * on.total_macs + on.elementwise_flops and on.elementwise_flops > 0
    assert on.training_flops == 3 * on.total_flops
    rows = on.layers
    top = sum(r.elementwise_flops * r.repeat for r in rows if r.depth == 0)
    assert top == on.elementwise_flops
    for i, row in enumerate(rows):  # a block: its children's, plus its own merge's additions
        if not row.is_block:
            continue
        children = []
        for child in rows[i + 1:]:
            if child.depth <= row.depth:
                break
            if child.depth == row.depth + 1:
                children.append(child)
        inside = sum(c.elementwise_flops * c.repeat for c in children)
        own = row.elementwise_flops * row.repeat - inside
        assert own == 0 or row.kind in ("add", "multiply", "residual"), (row.path, own)


def test_cli_and_json():
    spec = str(ROOT / "examples" / "resnet18.nn")
    out = CliRunner().invoke(main, ["summary", spec, "--count-elementwise"]).output
    assert "element-wise)" in out and "FLOPs (2 × MACs + " in out
    data = json.loads(CliRunner().invoke(main, ["summary", spec, "--count-elementwise", "--format", "json"]).stdout)
    assert data["compute"]["count_elementwise"] is True
    assert data["total_flops"] == 2 * data["total_macs"] + data["compute"]["elementwise_flops"]
    assert sum(r.get("elementwise_flops", 0) * r["repeat"] for r in data["layers"] if r["depth"] == 0) == data["compute"]["elementwise_flops"]


# ------------------------------------------------------------------ --by kind / --by family


@pytest.mark.parametrize("spec", EXAMPLES, ids=lambda p: p.stem)
def test_breakdown_groups_add_up_to_the_totals(spec):
    from nnshape.render.breakdown import groups

    for count in (False, True):
        s = nnshape.summarize(spec, count_elementwise=count)
        for by in ("kind", "family"):
            gs = groups(s, by)
            assert sum(g.params for g in gs) == s.total_params
            assert sum(g.macs for g in gs) == s.total_macs
            assert sum(g.flops for g in gs) == s.total_flops
            assert sum(g.layers for g in gs) == sum(r.repeat for r in s.leaves)
            assert [g.flops for g in gs] == sorted((g.flops for g in gs), reverse=True)


def test_by_kind_in_every_format():
    import csv
    import io

    spec = str(ROOT / "examples" / "resnet50.nn")
    table = CliRunner().invoke(main, ["summary", spec, "--by", "kind"]).output.splitlines()
    assert table[0].split() == ["Kind", "Layers", "Params", "%", "params", "MACs", "%", "MACs"]
    assert table[2].split()[:2] == ["conv2d", "53"] and table[2].split()[-1] == "99.9%"  # where ResNet's compute goes
    assert any(line.startswith("Total") and "25,557,032" in line for line in table)
    fam = CliRunner().invoke(main, ["summary", spec, "--by", "family", "--count-elementwise"]).output
    assert fam.startswith("Family") and "% FLOPs" in fam and "(merges)" in fam
    data = json.loads(CliRunner().invoke(main, ["summary", spec, "--by", "family", "--format", "json"]).stdout)
    assert data["breakdown"]["by"] == "family" and data["breakdown"]["groups"][0]["name"] == "conv"
    rows = list(csv.DictReader(io.StringIO(CliRunner().invoke(main, ["summary", spec, "--by", "kind", "--format", "csv"]).stdout)))
    assert rows[0]["kind"] == "conv2d" and sum(int(r["params"]) for r in rows) == 25_557_032
    md = CliRunner().invoke(main, ["summary", spec, "--by", "kind", "--format", "markdown"]).output
    assert md.startswith("| Kind | Layers | Params | % params | MACs | % MACs |")
    narrow = CliRunner().invoke(main, ["summary", spec, "--by", "kind", "--width", "60"]).output
    assert max(len(line) for line in narrow.splitlines()) <= 60 and "Left out to fit 60 columns" in narrow
