"""`nnshape import torch` on transformers models: every model type of `nnshape import hf`, handed
over as a module with its inputs by name (T5 needs input_ids and decoder_input_ids), imports
exactly: params, buffers, output shape and MACs equal transformers' (measured by tests/hf_oracle.py,
independently of the importer's own check)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import nnshape  # noqa: E402
from nnshape.importers.errors import ImportFailure  # noqa: E402

import hf_oracle  # noqa: E402
import test_import_hf  # noqa: E402
import torch_nets as T  # noqa: E402

TESTS = Path(__file__).parent


def _one_per_architecture():
    seen, out = set(), []
    for case in test_import_hf.CASES:
        if case[1] not in seen:
            seen.add(case[1])
            out.append(case)
    return out


CASES = _one_per_architecture()


@pytest.mark.parametrize("case", CASES, ids=[c[1] for c in CASES])
def test_transformers_module_imports_exactly(case):
    model_type, arch, config = case
    cfg, model = hf_oracle.build(model_type, arch, **config)
    feed = hf_oracle.inputs(cfg, model_type)
    spec = nnshape.import_torch(model, feed)  # every input by name, as the model's own call takes them
    assert spec.startswith("# nnshape import torch")
    assert hf_oracle.spec_numbers(spec) == hf_oracle.measure(model, feed), spec


def test_every_model_type_imports_as_a_module():
    from nnshape.importers.hf_models import MODEL_TYPES

    assert {c[0] for c in CASES} == set(MODEL_TYPES)


def test_t5_needs_its_decoder_input_by_name():
    model = T.tiny_t5()
    ids = torch.zeros(2, 7, dtype=torch.long)
    with pytest.raises(ImportFailure) as info:
        nnshape.import_torch(model, ids)
    assert info.value.code == "E0725" and "decoder_input_ids" in info.value.message
    # positional and named inputs together: input_ids is forward's first argument
    spec = nnshape.import_torch(model, (ids,), example_kwargs={"decoder_input_ids": torch.zeros(2, 5, dtype=torch.long)})
    assert "input decoder_input_ids T dtype=int64" in spec


def test_keyword_inputs_of_a_traced_module():
    """A plain module: inputs by name are placed in forward's order; those not given keep their
    defaults (fixed while tracing), and both tracers agree with the module."""
    from torch.utils.flop_counter import FlopCounterMode

    module = T.KeywordInputs().eval()
    feed = {"x": torch.randn(2, 8), "context": torch.randn(2, 6)}
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        out = module(**feed)
    want = (sum(p.numel() for p in module.parameters()), counter.get_total_flops() // 2, tuple(out.shape))
    for tracer in ("fx", "export"):
        spec = nnshape.import_torch(module, feed, tracer=tracer)
        assert "input x 8" in spec and "input context 6" in spec and "name=context_proj" in spec
        s = nnshape.summarize(spec, batch=2)
        assert (s.total_params, s.total_macs, tuple(s.output_shape)) == want
    # without the context, context_proj is never read: reported, not silently dropped
    with pytest.raises(ImportFailure) as info:
        nnshape.import_torch(module, {"x": torch.randn(2, 8)})
    assert "context_proj" in info.value.message


@pytest.mark.parametrize("feed,words", [
    ({"x": torch.randn(2, 8), "y": torch.randn(2, 8)}, "unexpected keyword"),
    ({"context": torch.randn(2, 6)}, "needs the input x"),
    ({}, "no example inputs"),
])
def test_keyword_input_errors(feed, words):
    with pytest.raises(ImportFailure) as info:
        nnshape.import_torch(T.KeywordInputs(), feed)
    assert info.value.code == "E0725" and words in info.value.message, info.value.message


def run_cli(*args):
    from click.testing import CliRunner

    from nnshape.cli import main

    sys.path.insert(0, str(TESTS))
    try:
        return CliRunner().invoke(main, list(args))
    finally:
        sys.path.remove(str(TESTS))


def test_cli_inputs_by_name():
    result = run_cli("import", "torch", "torch_nets:tiny_t5", "--input", "7:int64", "--input", "decoder_input_ids=5:int64")
    assert result.exit_code == 0, result.output
    assert "input decoder_input_ids T dtype=int64" in result.output
    s = nnshape.summarize(result.output, L=7, T=5)
    assert s.total_params == sum(p.numel() for p in T.tiny_t5().parameters())
    result = run_cli("import", "torch", "torch_nets:KeywordInputs", "--input", "x=8", "--input", "context=6")
    assert result.exit_code == 0, result.output
    assert "input context 6" in result.output


@pytest.mark.parametrize("inputs,words", [
    (["x=8", "6"], "positional input after a named one"),
    (["x=8", "x=8"], "given twice"),
    (["1x=8"], "not an argument name"),
    (["x=8x"], "not a shape"),
    (["8", "nothing=6"], "do not fit"),
])
def test_cli_input_errors(inputs, words):
    args = [a for i in inputs for a in ("--input", i)]
    result = run_cli("import", "torch", "torch_nets:KeywordInputs", *args)
    assert result.exit_code == 1
    assert "[E0725]" in result.output and words in result.output, result.output
