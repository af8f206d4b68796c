"""`nnshape import hf` on bad and hostile configs: every E07xx code is reachable and located, and
no config.json (it is untrusted data) gets anything but a spec or an ImportFailure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nnshape
from nnshape.importers.errors import ImportFailure

FIXTURES = Path(__file__).parent / "fixtures" / "hf"
LLAMA = json.loads((FIXTURES / "tinyllama-1.1b.json").read_text())


def fails(config, code, **kw) -> ImportFailure:
    with pytest.raises(ImportFailure) as info:
        nnshape.import_hf(config, **kw)
    assert info.value.code == code, str(info.value)
    str(info.value)  # renders
    return info.value


def write(tmp_path, text: str | bytes, name: str = "config.json") -> Path:
    path = tmp_path / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


# ----------------------------------------------------------------------------- E0701 reading


def test_missing_file_and_directory(tmp_path):
    fails(tmp_path / "nope.json", "E0701")
    fails(tmp_path, "E0701")  # a directory without config.json
    write(tmp_path, json.dumps(LLAMA))
    assert nnshape.import_hf(tmp_path).startswith("# nnshape import hf")  # the directory's config.json


@pytest.mark.parametrize("text", [
    b"\xff\xfe{}", "{", "[1, 2]", '{"model_type": NaN}', '{"hidden_size": Infinity, "model_type": "llama"}',
    "[" * 5000 + "]" * 5000, '{"a": ' * 40 + "1" + "}" * 40,
])
def test_unreadable(tmp_path, text):
    fails(write(tmp_path, text), "E0701")


def test_too_large(tmp_path):
    from nnshape.limits import MAX_CONFIG_BYTES

    fails(write(tmp_path, b" " * (MAX_CONFIG_BYTES + 1)), "E0701")


def test_duplicate_field_is_located(tmp_path):
    err = fails(write(tmp_path, '{"model_type": "llama",\n "hidden_size": 64,\n "hidden_size": 32}\n'), "E0701")
    assert (err.line, err.col) == (3, 2)


def test_dict_that_is_not_json():
    fails({"model_type": "llama", "hidden_size": object()}, "E0701")
    fails({"model_type": "llama", "rms_norm_eps": float("nan")}, "E0701")


# ----------------------------------------------------------------------------- E0702 .. E0707


def test_model_type():
    err = fails({"architectures": ["BloomForCausalLM"], "model_type": "bloom"}, "E0702")
    assert "llama" in err.expected and "bert" in err.expected
    fails({"architectures": ["X"]}, "E0702")  # no model_type
    err = fails({"model_type": "llama\n# injected\nlinear 5"}, "E0702")
    assert "\n" not in err.message


def test_unknown_field_is_named_and_located(tmp_path):
    data = dict(LLAMA, moe_every_n_layers=2)
    err = fails(write(tmp_path, json.dumps(data, indent=2)), "E0703")
    assert '"moe_every_n_layers"' in err.message and err.line is not None
    spec = nnshape.import_hf(data, ignore=["moe_every_n_layers"])
    assert nnshape.summarize(spec, L=4).total_params == 1_100_048_384


def test_unknown_field_name_is_shown_escaped():
    err = fails(dict(LLAMA, **{"evil\n\x1b[2Jname": 1}), "E0703")
    assert "\x1b" not in str(err) and "\\n" in err.message


def test_unsupported_settings():
    fails(dict(LLAMA, hidden_act="relu2"), "E0704")
    bert = json.loads((FIXTURES / "bert-base-uncased.json").read_text())
    fails(dict(bert, add_cross_attention=True), "E0704", head="base")
    fails(dict(bert, position_embedding_type="relative_key"), "E0704", head="base")
    fails({"model_type": "phi", "architectures": ["PhiForCausalLM"], "qk_layernorm": True}, "E0704")
    fails(dict(LLAMA, is_encoder_decoder=True), "E0704")
    # untied BERT MLM: transformers keeps cls.predictions.bias unused beside decoder.bias
    fails(dict(bert, tie_word_embeddings=False), "E0704")


@pytest.mark.parametrize("field,value", [
    ("hidden_size", "2048"), ("hidden_size", 0), ("hidden_size", True), ("hidden_size", 2**31),
    ("hidden_size", 2.5), ("rms_norm_eps", "1e-5"), ("rms_norm_eps", -1.0), ("tie_word_embeddings", "false"),
    ("num_key_value_heads", 5), ("num_attention_heads", 7), ("architectures", "LlamaForCausalLM"),
    ("architectures", ["Llama For CausalLM"]),
])
def test_bad_values(field, value):
    fails(dict(LLAMA, **{field: value}), "E0705")


def test_two_spellings_disagree():
    gpt2 = json.loads((FIXTURES / "gpt2.json").read_text())
    fails(dict(gpt2, hidden_size=1024), "E0705", head="base")
    assert nnshape.import_hf(dict(gpt2, hidden_size=768), head="base")  # the same value twice is fine


def test_missing_field_without_default():
    from nnshape.importers.config import Fields
    from nnshape.source import Source

    fields = Fields({}, Source("config.json", "{}"), "llama", {})
    with pytest.raises(ImportFailure) as info:
        fields.int("hidden_size")
    assert info.value.code == "E0706"


def test_heads():
    bert = json.loads((FIXTURES / "bert-base-uncased.json").read_text())
    fails(dict(bert, architectures=["BertForQuestionAnswering"]), "E0707")
    no_arch = {k: v for k, v in LLAMA.items() if k != "architectures"}
    fails(no_arch, "E0707")
    assert "lm_head" not in nnshape.import_hf(no_arch, head="base")
    fails(LLAMA, "E0707", head="masked-lm")
    fails(LLAMA, "E0707", head="decoder")


# ----------------------------------------------------------------------------- E0708, E0709


def test_missing_construct_is_E0708(monkeypatch):
    """A model that needs a construct this nnshape lacks says so (as GPT-2's tied head did before `tie=`)."""
    from nnshape.importers.hf_models import common

    gpt2 = json.loads((FIXTURES / "gpt2.json").read_text())
    assert "tie=wte" in nnshape.import_hf(gpt2)
    monkeypatch.setattr(common, "has_arg", lambda kind, arg: arg != "tie")
    err = fails(gpt2, "E0708")
    assert "tie=" in err.message and err.source is not None


def test_spec_that_does_not_analyze_is_E0709():
    err = fails(dict(LLAMA, hidden_size=2**31 - 1, num_attention_heads=1, num_key_value_heads=1), "E0709")
    assert "E0407" in err.message


# ----------------------------------------------------------------------------- hostile configs

VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)
CONFIGS = [json.loads(p.read_text()) for p in sorted(FIXTURES.glob("*.json"))]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(CONFIGS), st.data())
def test_mutated_configs_give_a_spec_or_an_import_failure(config, data):
    """A field replaced by any JSON value: the result is a spec nnshape analyzes, or an
    NNShapeError; never another exception, never a spec line made of config text."""
    config = dict(config)
    key = data.draw(st.sampled_from(sorted(config) + ["extra_field"]))
    config[key] = data.draw(VALUES)
    try:
        spec = nnshape.import_hf(config, head=data.draw(st.sampled_from([None, "base"])))
    except nnshape.NNShapeError as err:
        assert err.code.startswith("E07"), str(err)
        return
    nnshape.summarize(spec, L=3)
    for line in spec.splitlines():
        assert line.isascii()
