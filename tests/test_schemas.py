"""Every JSON output validates against the JSON Schema shipped in the package (nnshape/schemas/)."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import strict

from nnshape.cli import main

jsonschema = pytest.importorskip("jsonschema")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.nn"))


def schema(name: str) -> dict:
    return json.loads((files("nnshape") / "schemas" / f"{name}.json").read_text(encoding="utf-8"))




def validate(name: str, data: dict) -> None:
    jsonschema.Draft202012Validator(schema(name)).validate(data)
    jsonschema.Draft202012Validator(strict(schema(name))).validate(data)


def cli_json(*args, input=None) -> dict:
    result = CliRunner().invoke(main, [*map(str, args)], input=input)
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("name", ["summary", "check", "diff"])
def test_schemas_are_valid_draft_2020_12(name):
    data = schema(name)
    assert data["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(data)


def test_strict_validation_catches_undeclared_fields():
    data = cli_json("summary", EXAMPLES[0], "--format", "json")
    data["layers"][0]["surprise"] = 1
    jsonschema.Draft202012Validator(schema("summary")).validate(data)  # forward compatible
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(strict(schema("summary"))).validate(data)


def test_schema_names_match_outputs():
    assert schema("summary")["properties"]["schema"]["const"] == "nnshape.summary/1"
    assert schema("check")["properties"]["schema"]["const"] == "nnshape.check/1"
    assert schema("diff")["properties"]["schema"]["const"] == "nnshape.diff/1"


@pytest.mark.parametrize("spec", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_summary_of_every_example(spec):
    validate("summary", cli_json("summary", spec, "--format", "json"))


@pytest.mark.parametrize(
    "text, args",
    [
        ("input (L, 64)\nattention heads=4\nlinear 10\n", []),  # symbolic counts and shapes
        ("input 3x224x224\nconv2d 8 k3 s2\n", ["--batch", "3"]),  # a warning
        ("input 16\nrepeat 1000:\n    linear 16\n", []),  # a collapsed repeat
        ("input 8\nlinear d\n", ["--set", "d=4"]),  # bindings
        ("input 8\nlinear 8 trainable=false\nbatchnorm1d\n", []),  # frozen params, buffers
    ],
)
def test_summary_edge_cases(text, args):
    validate("summary", cli_json("summary", "-", "--format", "json", *args, input=text))


def test_summary_through_a_pipe():
    proc = subprocess.run([sys.executable, "-m", "nnshape", "summary", str(ROOT / "examples" / "bert_base.nn"), "--format", "json"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    validate("summary", json.loads(proc.stdout))


def test_check_outputs(tmp_path):
    bad = tmp_path / "bad.nn"
    bad.write_text("input 3x8x8\nconv2d 8 k=3 s=0\n")
    warn = tmp_path / "warn.nn"
    warn.write_text("input 3x224x224\nconv2d 8 k3 s2\n")
    passing = cli_json("check", *EXAMPLES, "--format", "json")
    assert passing["ok"] is True
    validate("check", passing)
    failing = cli_json("check", EXAMPLES[0], bad, warn, tmp_path / "missing.nn", "--format", "json", "--max-params", "1M", "--min-params", "10", "--max-macs", "1G", "--output", "1000")
    assert failing["ok"] is False
    validate("check", failing)
    symbolic = cli_json("check", "-", "--format", "json", "--output", "(L, 64)", "--max-macs", "1G", input="input (L, 64)\nattention heads=4\n")
    assert symbolic["results"][0]["checks"][1]["actual"].endswith("L")
    validate("check", symbolic)


def test_diff_outputs(tmp_path):
    pairs = [
        (ROOT / "examples" / "resnet18.nn", ROOT / "examples" / "resnet50.nn"),
        (ROOT / "examples" / "gpt2.nn", ROOT / "examples" / "bert_base.nn"),
        (ROOT / "examples" / "lenet5.nn", ROOT / "examples" / "lenet5.nn"),
    ]
    for old, new in pairs:
        validate("diff", cli_json("diff", old, new, "--format", "json"))
    a, b = tmp_path / "a.nn", tmp_path / "b.nn"
    a.write_text("input (L, 8)\nlinear 4\nrelu\n")
    b.write_text("input (L, 8)\nlinear 8\n")
    data = cli_json("diff", a, b, "--format", "json")
    assert data["totals"]["macs"]["percent"] is None
    validate("diff", data)
