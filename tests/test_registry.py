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


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_kind_has_every_part(kind):
    """One kind, one class: shape rule, twin, memory rule and flags are all stated on it, and its
    examples exercise each part (the twin as data here; test_kind_matches_torch builds it)."""
    from nnshape.memory import Saved
    from nnshape.registry import GLOBAL, SIMPLE_RULES, Field, Kind
    from nnshape.twinspec import Twin
    from nnshape.verifier.export import twin_sources

    cls = type(kind)
    assert cls.infer is not Kind.infer, "infer: the shape, params and MACs rule"
    assert cls.twin is not Kind.twin, "twin: the torch twin as data"
    assert cls.build is Kind.build, "build comes from twin() alone, so verify and export cannot drift"
    assert cls.saved is not Kind.saved or kind.saves in SIMPLE_RULES, "a memory rule: `saves` or a `saved` method"
    assert kind.saves in ("", *SIMPLE_RULES)
    assert isinstance(kind.is_view, bool) and (not kind.is_view or kind.saves == "nothing")
    for example in kind.examples:
        _, observed = analyze_with_calls(example_source(example))
        for obs in (o for o in observed if o.call.kind is kind):
            call, result = obs.call, obs.inference
            twin = kind.twin(call)
            assert isinstance(twin, Twin) and twin.source()  # every value has a literal
            assert set(twin.own_names()) <= set(twin_sources()), "own twins live in the nnshape/twins package"
            saved = kind.saved(call, result)
            assert isinstance(saved, Saved)
            field = tuple(Field(1, 1, 0) for _ in call.x.shape[2:])
            rf = kind.receptive_field(call, result, field)
            assert rf is None or rf == GLOBAL or (isinstance(rf, tuple) and all(isinstance(f, Field) for f in rf))
            lines = kind.explain(call, result)
            assert any(line.startswith("params") for line in lines) and any(line.startswith("MACs") for line in lines)
            tensors = kind.param_tensors(call)
            assert all(isinstance(name, str) and isinstance(shape, tuple) for name, shape in tensors)
            assert sum((_numel(shape) for _, shape in tensors), 0) == result.params, (
                f"param_tensors: the tensors of {kind.name} do not add up to its {result.params} params "
                "(a kind with parameters states them: Kind.param_tensors)"
            )


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n = n * d
    return n


@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
@pytest.mark.parametrize("kind_name,example", CASES, ids=[f"{k}:{e}" for k, e in CASES])
def test_param_tensors_are_the_twins(kind_name, example):
    """Kind.param_tensors names every parameter tensor of the twin with its shape, in
    named_parameters() order: what the device plan shards (FSDP pads each, ZeRO hands out whole ones)."""
    _, observed = analyze_with_calls(example_source(example))
    for obs in observed:
        call = obs.call
        twin = call.kind.build(call)
        theirs = [(name, tuple(p.shape)) for name, p in twin.named_parameters()]
        assert [(name, tuple(shape)) for name, shape in call.kind.param_tensors(call)] == theirs, f"{obs.path} ({call.kind.name})"


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
        # a kind whose MACs hold an analytic part FlopCounterMode cannot see (a scan) says what it sees
        counted = inf.macs if inf.counted_macs is None else inf.counted_macs
        assert flops == 2 * counted, f"MACs of {where}: torch counts {flops // 2}, nnshape {counted}"
        expected_dtype = inf.dtype or (obs.call.x.dtype if obs.call.x.is_float else "float32")
        assert str(out.dtype) == f"torch.{expected_dtype}", f"dtype of {where}"
