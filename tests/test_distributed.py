"""The per-device plan proved on torch.distributed: N CPU processes (gloo, loopback), one training
step, each rank's weights, gradients and optimizer state (local shards) against the plan.

Each run starts N processes (forked from a server that imports torch once per test session), so
the cases are few and small; nothing here measures time.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from nnshape.api import load_source
from nnshape.cli import main
from nnshape.errors import NNShapeError
from nnshape.planning import make_parallel

torch = pytest.importorskip("torch")
if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():  # pragma: no cover
    pytest.skip("torch.distributed with gloo is not available", allow_module_level=True)

from nnshape.verifier.distributed import run_distributed  # noqa: E402

# odd sizes on purpose: FSDP pads 14, 10, 7 and 5 rows over 4 ranks; ZeroRedundancyOptimizer's
# greedy partition is uneven; a frozen layer has no gradient or state; BatchNorm has buffers
MLP = """\
input x 6x10
linear 14
gelu
linear 10
layernorm
residual:
    linear 7 bias=false
    relu
    linear 10 trainable=false
bn1d
linear 5
"""

# a tiny Llama: vocabulary-split embedding, GQA attention split by heads, SwiGLU column/row pairs
LLAMA = """\
input ids 6 dtype=int64
embedding 64 16
repeat 2:
    residual:
        rmsnorm
        attention heads=4 kv_heads=2 causal=true rope=true bias=false
    residual:
        rmsnorm
        multiply:
            branch:
                linear 32 bias=false
                silu
            branch:
                linear 32 bias=false
        linear 16 bias=false
rmsnorm
linear 64 bias=false
"""

MLP4 = "input 4x8\nlinear 32\ngelu\nlinear 8\nlayernorm\nlinear 16\nrelu\nlinear 8\n"


def prove(spec: str, optimizer: str = "adam", **options):
    return run_distributed(load_source(spec), make_parallel(**options), batch=2, optimizer=optimizer)


@pytest.mark.parametrize("spec,options,optimizer", [
    (MLP, {"dp": 2, "zero": 0}, "adam"),
    (MLP, {"dp": 4, "zero": 1}, "adamw"),
    (MLP, {"dp": 2, "zero": 2}, "momentum"),
    (MLP, {"dp": 4, "zero": 3}, "adam"),
    (LLAMA, {"tp": 2}, "adam"),
    (MLP4, {"tp": 4}, "adam"),
], ids=["dp2-zero0", "dp4-zero1", "dp2-zero2", "dp4-zero3", "tp2-llama", "tp4-mlp"])
def test_every_rank_holds_the_plan(spec, options, optimizer):
    report = prove(spec, optimizer, **options)
    assert report.error is None
    world = options.get("dp", 1) * options.get("tp", 1)
    assert len(report.ranks) == world
    for rank in report.ranks:
        assert rank.error is None
        assert rank.measured["weights"] == rank.expected["weights"]
        assert rank.measured["grads"] == rank.expected["grads"]
        assert rank.measured["optimizer"] == rank.expected["optimizer"]
    assert report.ok
    if options.get("zero") in (1, 2, 3):  # the shards differ between ranks: the check sees each rank
        assert len({r.expected["optimizer"] for r in report.ranks}) > 1


def test_a_wrong_plan_is_caught(monkeypatch):
    """Drop FSDP's padding from the plan (the parent's arithmetic only; the ranks measure torch):
    the ranks whose chunks are padded disagree."""
    from nnshape.planning import sharding

    monkeypatch.setattr(sharding, "_ceil", lambda a, b: a // b)
    report = prove(MLP, dp=4, zero=3)
    assert not report.ok
    assert all(r.measured["weights"] > r.expected["weights"] for r in report.ranks)


def test_cli_reports_each_rank():
    result = CliRunner().invoke(main, ["verify", "-", "--dp", "2", "--zero", "3", "--format", "json"], input=MLP)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["schema"] == "nnshape.verify-distributed/1" and data["ok"] and len(data["ranks"]) == 2
    jsonschema = pytest.importorskip("jsonschema")
    from importlib.resources import files

    from helpers import strict

    schema = json.loads((files("nnshape") / "schemas" / "verify-distributed.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(strict(schema)).validate(data)


@pytest.mark.parametrize("options,message", [
    ({"dp": 2, "tp": 2}, "not both"),
    ({"tp": 2, "zero": 1}, "without ZeRO"),
    ({"dp": 2, "pp": 2}, "no --pp"),
    ({"dp": 1}, "at least 2"),
])
def test_what_the_proof_cannot_run(options, message):
    with pytest.raises(NNShapeError) as err:
        prove(MLP, **options)
    assert err.value.code == "E0640" and message in err.value.message


def test_tp_refuses_layers_it_cannot_split():
    with pytest.raises(NNShapeError) as err:
        prove("input 4x8\nmha 2\n", tp=2)
    assert err.value.code == "E0640" and "mha" in err.value.message
