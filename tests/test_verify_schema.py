"""`nnshape verify --format json` validates against the shipped schema nnshape/schemas/verify.json.

Like tests/test_schemas.py: the shipped schema lets objects grow within a version, and a strict
copy (no undeclared fields) catches a field the code emits but the schema does not declare.
"""

from __future__ import annotations

import importlib.util
import json
from importlib.resources import files
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import break_conv2d_macs, strict

from nnshape.cli import main

jsonschema = pytest.importorskip("jsonschema")
pytestmark = pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def schema() -> dict:
    return json.loads((files("nnshape") / "schemas" / "verify.json").read_text(encoding="utf-8"))




def validate(data: dict) -> None:
    jsonschema.Draft202012Validator(schema()).validate(data)
    jsonschema.Draft202012Validator(strict(schema())).validate(data)
    fields = {"shape", "params", "buffers", "macs", "dtype"}
    for check in [data["totals"], *data["layers"]]:
        assert set(check["mismatches"]) <= fields
        assert check["ok"] == (not check["mismatches"] and check["error"] is None)


def verify_json(spec, *args, expect: int = 0) -> dict:
    result = CliRunner().invoke(main, ["verify", str(spec), "--format", "json", *map(str, args)])
    assert result.exit_code == expect, result.output
    return json.loads(result.stdout)


def test_schema_is_valid_draft_2020_12_and_names_the_output():
    from nnshape.verifier.report import SCHEMA

    data = schema()
    assert data["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(data)
    assert data["properties"]["schema"]["const"] == SCHEMA == "nnshape.verify/1"


@pytest.mark.parametrize("name", ["lenet5", "seed_fc", "lstm", "googlenet"])
def test_examples_on_cpu(name):
    data = verify_json(EXAMPLES / f"{name}.nn", "--device", "cpu")
    assert data["ok"] is True and data["device"] == "cpu" and data["mismatches"] == []
    validate(data)


def test_meta_run():
    data = verify_json(EXAMPLES / "gpt2.nn", "--device", "meta", "--batch", "2")
    assert data["ok"] is True and data["device"] == "meta" and data["batch"] == 2
    validate(data)


def test_train_step_with_a_dead_branch(tmp_path):
    spec = tmp_path / "net.nn"
    spec.write_text("input a 4\ninput b 4\nfrom a as h:\n    linear 3\nfrom b:\n    linear 3 name=used\n    batchnorm1d\n")
    data = verify_json(spec, "--device", "cpu", "--train-step", "--batch", "2")
    assert data["ok"] is True and data["train_step"]["no_grad"] == ["h.0.weight", "h.0.bias"]
    validate(data)
    failed = verify_json(spec, "--device", "cpu", "--train-step", expect=1)  # batchnorm trains on one sample: torch refuses
    assert failed["train_step"]["ok"] is False and failed["train_step"]["error"]
    validate(failed)


def test_strict_schema_catches_undeclared_fields():
    data = verify_json(EXAMPLES / "seed_fc.nn", "--device", "cpu")
    data["layers"][0]["torch"]["surprise"] = 1
    jsonschema.Draft202012Validator(schema()).validate(data)  # forward compatible
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(strict(schema())).validate(data)


def test_mismatch_report(monkeypatch, tmp_path):
    """A broken MACs rule: the mismatch is on the conv rows, its blocks and the totals."""
    break_conv2d_macs(monkeypatch)
    spec = tmp_path / "net.nn"
    spec.write_text("input 3x8x8\nconv2d 4 k3 name=stem\nrelu\nresidual:\n    conv2d 4 k3 p1\nflatten\nlinear 2\n")
    data = verify_json(spec, "--device", "cpu", expect=1)
    assert data["ok"] is False and data["mismatches"] == ["stem", "2", "2.0", ""]
    assert data["totals"]["mismatches"] == ["macs"]
    validate(data)


def test_torch_error_on_a_layer(monkeypatch, tmp_path):
    """A broken shape rule: torch raises on the next layer, reported there with its error."""
    from nnshape import registry

    linear = registry.get("linear")
    original = type(linear).infer

    def wrong_shape(self, call):
        result = original(self, call)
        return type(result)(result.shape[:-1] + (result.shape[-1] + 1,), result.params, result.buffers, result.macs)

    monkeypatch.setattr(type(linear), "infer", wrong_shape)
    spec = tmp_path / "net.nn"
    spec.write_text("input 6\nlinear 4 name=a\nlinear 3 name=b\n")
    data = verify_json(spec, "--device", "cpu", "--train-step", expect=1)
    b = next(row for row in data["layers"] if row["path"] == "b")
    assert b["error"] and b["torch"]["shape"] is None and data["train_step"] is None
    validate(data)


def test_torch_failing_outside_any_layer(monkeypatch, tmp_path):
    """The report-level `error`: torch failed where no row can take the blame."""
    from nnshape.verifier import runner

    def no_inputs(*args):
        raise RuntimeError("inputs could not be made")  # fails before any layer runs

    monkeypatch.setattr(runner, "make_inputs", no_inputs)
    spec = tmp_path / "net.nn"
    spec.write_text("input 6\nlinear 4\n")
    data = verify_json(spec, "--device", "cpu", expect=1)
    assert data["error"] and data["totals"]["error"] == data["error"]
    validate(data)


def test_api_to_dict_validates():
    from nnshape.verifier import verify

    validate(verify("input 3x8x8\nconv2d 4 k3\nbatchnorm2d\nrelu\ngap\nflatten\nlinear 2\n", device="cpu", dtype="bfloat16", batch=3).to_dict())
