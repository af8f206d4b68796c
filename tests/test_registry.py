"""Every kind in the catalogue, checked against its real PyTorch twin on every example."""

from __future__ import annotations

import importlib.util

import pytest

from nnshape import registry

from oracle import analyze_with_calls, example_source, run_twin

HAS_TORCH = importlib.util.find_spec("torch") is not None
KINDS = registry.all_kinds()
CASES = [(kind.name, example) for kind in KINDS for example in kind.examples]


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_kind_is_documented(kind):
    assert kind.doc and kind.doc.endswith("."), "one-line doc ending with a period"
    assert kind.torch_twin.startswith(("torch.", "nnshape.")), "names its PyTorch twin"
    assert kind.family
    assert kind.formulas, "states its shape/params/MACs formulas"
    assert len(kind.examples) >= 1, "has examples the oracle test runs"
    for arg in kind.args:
        assert arg.type in registry.ARG_TYPES
        assert arg.positional or not arg.variadic


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_examples_use_the_kind(kind):
    for example in kind.examples:
        _, observed = analyze_with_calls(example_source(example))
        assert any(obs.call.kind is kind for obs in observed), f"example {example!r} does not use {kind.name}"


def test_names_are_unique_and_lowercase():
    names = registry.all_names()
    assert names == sorted(set(names))
    assert all(n == n.lower() for n in names)


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
@pytest.mark.parametrize("kind_name,example", CASES, ids=[f"{k}:{e}" for k, e in CASES])
@pytest.mark.parametrize("batch", [1, 3])
def test_kind_matches_torch(kind_name, example, batch):
    import torch

    torch.manual_seed(0)
    _, observed = analyze_with_calls(example_source(example), batch=batch)
    for obs in observed:
        out, params, trainable, buffers, flops = run_twin(obs)
        inf = obs.inference
        where = f"{obs.path} ({obs.call.kind.name})"
        assert tuple(out.shape) == tuple(inf.shape), f"shape of {where}"
        assert params == inf.params, f"params of {where}"
        assert buffers == inf.buffers, f"buffers of {where}"
        assert flops == 2 * inf.macs, f"MACs of {where}: torch counts {flops // 2}, nnshape {inf.macs}"
        expected_dtype = inf.dtype or (obs.call.x.dtype if obs.call.x.is_float else "float32")
        assert str(out.dtype) == f"torch.{expected_dtype}", f"dtype of {where}"
