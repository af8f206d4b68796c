"""`nnshape import hf`: each model type, built by transformers from a small config of that type,
has exactly the parameters, buffers, output shape and MACs of the spec the importer writes."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

import nnshape  # noqa: E402
from nnshape.importers.hf_models import MODEL_TYPES  # noqa: E402

import hf_oracle  # noqa: E402

SMALL = dict(vocab_size=101, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4)
ALBERT = dict(vocab_size=101, embedding_size=16, hidden_size=32, intermediate_size=64, num_hidden_layers=4, num_attention_heads=4)
T5 = dict(vocab_size=101, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4, relative_attention_num_buckets=8,
          relative_attention_max_distance=20)
WHISPER = dict(num_mel_bins=8, encoder_layers=2, encoder_attention_heads=4, encoder_ffn_dim=48, d_model=32, max_source_positions=12)
WHISPER_DEC = dict(WHISPER, vocab_size=101, decoder_layers=2, decoder_attention_heads=2, decoder_ffn_dim=40, max_target_positions=9,
                   pad_token_id=0, bos_token_id=1, eos_token_id=2, decoder_start_token_id=3)
IMAGE = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, image_size=32, patch_size=8)

# (model_type, architecture, config): several settings per type where a field changes the spec
CASES = [
    ("llama", "LlamaForCausalLM", dict(SMALL, num_key_value_heads=2)),
    ("llama", "LlamaModel", dict(SMALL, attention_bias=True, mlp_bias=True)),
    ("llama", "LlamaForSequenceClassification", dict(SMALL, num_labels=3, head_dim=16, pad_token_id=0)),
    ("mistral", "MistralForCausalLM", dict(SMALL, num_key_value_heads=1, sliding_window=4)),
    ("mixtral", "MixtralForCausalLM", dict(SMALL, num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2)),
    ("mixtral", "MixtralModel", dict(SMALL, num_key_value_heads=4, num_local_experts=3, num_experts_per_tok=1, hidden_act="gelu")),
    ("phi3", "Phi3ForCausalLM", dict(SMALL, num_key_value_heads=2, pad_token_id=0)),
    ("gemma", "GemmaModel", dict(SMALL, num_key_value_heads=1, head_dim=16)),
    ("gemma2", "Gemma2Model", dict(SMALL, num_key_value_heads=2, head_dim=16, sliding_window=4)),
    ("gpt2", "GPT2Model", dict(vocab_size=101, n_embd=32, n_layer=2, n_head=4, n_positions=64)),
    ("gpt2", "GPT2ForSequenceClassification", dict(vocab_size=101, n_embd=32, n_layer=2, n_head=4, n_positions=64, n_inner=48, pad_token_id=0)),
    ("gpt_neox", "GPTNeoXForCausalLM", dict(SMALL)),
    ("gpt_neox", "GPTNeoXModel", dict(SMALL, use_parallel_residual=False, attention_bias=False)),
    ("phi", "PhiForCausalLM", dict(SMALL, num_key_value_heads=2)),
    ("falcon", "FalconModel", dict(vocab_size=101, hidden_size=32, num_hidden_layers=2, num_attention_heads=4)),
    ("falcon", "FalconModel", dict(vocab_size=101, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                   new_decoder_architecture=True, num_kv_heads=2, bias=True)),
    ("falcon", "FalconModel", dict(vocab_size=101, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                   parallel_attn=False, multi_query=False, ffn_hidden_size=48)),
    ("falcon", "FalconForCausalLM", dict(vocab_size=101, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                                         alibi=True, tie_word_embeddings=False)),
    ("bert", "BertModel", dict(SMALL)),
    ("bert", "BertForSequenceClassification", dict(SMALL, num_labels=5, type_vocab_size=3)),
    ("roberta", "RobertaModel", dict(SMALL, max_position_embeddings=40)),
    ("roberta", "RobertaForSequenceClassification", dict(SMALL, max_position_embeddings=40, num_labels=3)),
    ("distilbert", "DistilBertModel", dict(vocab_size=101, dim=32, hidden_dim=64, n_layers=2, n_heads=4)),
    ("distilbert", "DistilBertForSequenceClassification", dict(vocab_size=101, dim=32, hidden_dim=64, n_layers=2, n_heads=4,
                                                               sinusoidal_pos_embds=True, activation="relu")),
    ("albert", "AlbertModel", dict(ALBERT)),
    ("albert", "AlbertForMaskedLM", dict(ALBERT, num_hidden_groups=2, inner_group_num=2)),
    ("albert", "AlbertForSequenceClassification", dict(ALBERT, num_labels=3, hidden_act="relu")),
    ("t5", "T5Model", dict(T5)),
    ("t5", "T5ForConditionalGeneration", dict(T5, num_decoder_layers=3, feed_forward_proj="gated-gelu", d_kv=16)),
    ("t5", "T5EncoderModel", dict(T5, num_layers=3, relative_attention_max_distance=128)),
    ("t5", "T5ForConditionalGeneration", dict(T5, tie_word_embeddings=False, feed_forward_proj="gated-silu")),
    ("whisper", "WhisperEncoder", dict(WHISPER)),
    ("whisper", "WhisperForAudioClassification", dict(WHISPER, num_labels=3, classifier_proj_size=16, activation_function="relu")),
    # the encoder-decoder: learned decoder positions, causal self-attention, cross-attention, proj_out tied or not
    ("whisper", "WhisperModel", dict(WHISPER_DEC)),
    ("whisper", "WhisperForConditionalGeneration", dict(WHISPER_DEC, decoder_layers=3, encoder_layers=1)),
    ("whisper", "WhisperForConditionalGeneration", dict(WHISPER_DEC, tie_word_embeddings=False, activation_function="relu")),
    ("vit", "ViTModel", dict(IMAGE)),
    ("vit", "ViTForImageClassification", dict(IMAGE, num_labels=10, num_channels=1)),
    ("vit", "ViTModel", dict(IMAGE, qkv_bias=False)),
    # Qwen2: biases on q, k and v only
    ("qwen2", "Qwen2ForCausalLM", dict(SMALL, num_key_value_heads=2, tie_word_embeddings=True)),
    ("qwen2", "Qwen2Model", dict(SMALL, num_key_value_heads=2)),
    ("qwen2", "Qwen2ForSequenceClassification", dict(SMALL, num_key_value_heads=1, num_labels=3, pad_token_id=0)),
    ("qwen2_moe", "Qwen2MoeForCausalLM", dict(SMALL, num_key_value_heads=2, num_experts=4, num_experts_per_tok=2,
                                              moe_intermediate_size=24, shared_expert_intermediate_size=40)),
    ("qwen2_moe", "Qwen2MoeModel", dict(SMALL, num_key_value_heads=4, num_experts=3, num_experts_per_tok=3, moe_intermediate_size=24,
                                        shared_expert_intermediate_size=16, norm_topk_prob=True, qkv_bias=False)),
    # dense layers between the sparse ones: mlp_only_layers, decoder_sparse_step (a dense layer is the MLP of intermediate_size)
    ("qwen2_moe", "Qwen2MoeForCausalLM", dict(SMALL, num_hidden_layers=5, num_key_value_heads=2, num_experts=4, num_experts_per_tok=2,
                                              moe_intermediate_size=24, shared_expert_intermediate_size=40, mlp_only_layers=[0, 4, 9])),
    ("qwen2_moe", "Qwen2MoeModel", dict(SMALL, num_hidden_layers=4, num_key_value_heads=4, num_experts=3, num_experts_per_tok=1, moe_intermediate_size=24,
                                        shared_expert_intermediate_size=16, decoder_sparse_step=2)),
    ("qwen2_moe", "Qwen2MoeModel", dict(SMALL, num_hidden_layers=3, num_key_value_heads=4, num_experts=3, num_experts_per_tok=1, moe_intermediate_size=24,
                                        shared_expert_intermediate_size=16, decoder_sparse_step=4)),
    ("qwen2_moe", "Qwen2MoeModel", dict(SMALL, num_hidden_layers=2, num_key_value_heads=4, num_experts=0)),
    ("clip_vision_model", "CLIPVisionModel", dict(IMAGE)),
    # heads whose weight is tied to the embedding (`tie=`), and the same heads untied
    ("gpt2", "GPT2LMHeadModel", dict(vocab_size=101, n_embd=32, n_layer=2, n_head=4, n_positions=64)),
    ("llama", "LlamaForCausalLM", dict(SMALL, tie_word_embeddings=True)),
    ("gemma", "GemmaForCausalLM", dict(SMALL, num_key_value_heads=1, head_dim=16)),
    ("gemma2", "Gemma2ForCausalLM", dict(SMALL, num_key_value_heads=2, head_dim=16)),
    ("bert", "BertForMaskedLM", dict(SMALL)),
    ("roberta", "RobertaForMaskedLM", dict(SMALL, max_position_embeddings=40)),
    ("distilbert", "DistilBertForMaskedLM", dict(vocab_size=101, dim=32, hidden_dim=64, n_layers=2, n_heads=4)),
    ("falcon", "FalconForCausalLM", dict(vocab_size=101, hidden_size=32, num_hidden_layers=2, num_attention_heads=4)),
    ("distilbert", "DistilBertForMaskedLM", dict(vocab_size=101, dim=32, hidden_dim=64, n_layers=2, n_heads=4, tie_word_embeddings=False)),
    ("gpt2", "GPT2LMHeadModel", dict(vocab_size=101, n_embd=32, n_layer=2, n_head=4, n_positions=64, tie_word_embeddings=False)),
    ("gemma", "GemmaForCausalLM", dict(SMALL, num_key_value_heads=1, head_dim=16, tie_word_embeddings=False)),
    ("gemma2", "Gemma2ForCausalLM", dict(SMALL, num_key_value_heads=2, head_dim=16, tie_word_embeddings=False)),
    ("phi", "PhiForSequenceClassification", dict(SMALL, num_labels=3, pad_token_id=0)),
    ("gpt_neox", "GPTNeoXForSequenceClassification", dict(SMALL, num_labels=2, pad_token_id=0)),
    ("mistral", "MistralModel", dict(SMALL, num_key_value_heads=2)),
    ("phi3", "Phi3Model", dict(SMALL, pad_token_id=0)),
    ("falcon", "FalconForSequenceClassification", dict(vocab_size=101, hidden_size=32, num_hidden_layers=2,
                                                       num_attention_heads=4, num_labels=3, pad_token_id=0)),
]


def _id(case):
    model_type, arch, config = case
    import zlib

    return f"{arch}-{zlib.crc32(repr(sorted(config.items())).encode()) % 1000}"


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_import_matches_transformers(case):
    model_type, arch, config = case
    cfg, model = hf_oracle.build(model_type, arch, **config)
    spec = nnshape.import_hf(hf_oracle.config_json(cfg, diff=True))
    expected = hf_oracle.measure(model, hf_oracle.inputs(cfg, model_type))
    assert hf_oracle.spec_numbers(spec) == expected, spec
    # the full config (every field transformers writes) gives the same spec: every field is known
    full = nnshape.import_hf(hf_oracle.config_json(cfg, diff=False))
    assert full.splitlines()[1:] == spec.splitlines()[1:]


def test_every_model_type_is_tested():
    tested = {c[0] for c in CASES}
    assert set(MODEL_TYPES) <= tested
    archs = {(c[0], c[1]) for c in CASES}
    untested = [(m.name, a) for m in MODEL_TYPES.values() for a in m.architectures if (m.name, a) not in archs]
    assert len(untested) < 30, untested


@pytest.mark.parametrize("name", sorted(MODEL_TYPES))
def test_defaults_are_transformers_defaults(name):
    """A field missing from config.json means transformers' default: the importer's table agrees."""
    from transformers import AutoConfig

    from nnshape.importers.config import Fields
    from nnshape.source import Source

    model = MODEL_TYPES[name]
    reference = AutoConfig.for_model(name).to_dict()
    ours = Fields({}, Source("<defaults>", ""), name, model.defaults, model.aliases)
    for key in model.defaults:
        value = ours.raw(key)
        stored = model.aliases.get(key, key)
        if stored not in reference and key not in reference:
            assert key == "head_dim"  # read with getattr(config, "head_dim", hidden // heads) by the model
            continue
        theirs = reference.get(stored, reference.get(key))
        # None where transformers stores the value it derives (4·hidden, the heads ...): the rule derives it too
        assert value == theirs or ((value is None or theirs is None) and key in DERIVED), (key, value, theirs)


DERIVED = ("head_dim", "num_decoder_layers", "n_inner", "ffn_hidden_size", "num_kv_heads", "pooler_output_size", "num_key_value_heads", "num_ln_in_parallel_attn")


# Real checkpoints: tests/fixtures/hf/*.json are their config.json as published on the Hugging Face
# hub (huggingface.co/<repo>/blob/main/config.json). The counts are the published ones (model card,
# safetensors metadata, or the paper named); each is also rebuilt by transformers on the meta device.
# A count published for the bare model (BERT's, with its pooler) is checked with --head base.
PUBLISHED = {
    # fixture: (repo, head, parameters, where the number is published)
    "tinyllama-1.1b": ("TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T", None, 1_100_048_384, "safetensors metadata"),
    "mistral-7b": ("mistralai/Mistral-7B-v0.1", None, 7_241_732_096, "safetensors metadata (7.24B)"),
    "llama-3-8b": ("meta-llama/Meta-Llama-3-8B", None, 8_030_261_248, "safetensors metadata (8.03B)"),
    "gemma-2b": ("google/gemma-2b", None, 2_506_172_416, "safetensors metadata (2.51B; the LM head is tied)"),
    "phi-2": ("microsoft/phi-2", None, 2_779_683_840, "safetensors metadata (2.78B)"),
    "phi-3-mini-4k": ("microsoft/Phi-3-mini-4k-instruct", None, 3_821_079_552, "safetensors metadata (3.82B)"),
    "gpt2": ("openai-community/gpt2", None, 124_439_808, "GPT-2 small, 124M (the LM head is tied)"),
    "pythia-160m": ("EleutherAI/pythia-160m", None, 162_322_944, "Pythia paper (Biderman et al. 2023), Table 1 total params"),
    "bert-base-uncased": ("google-bert/bert-base-uncased", "base", 109_482_240, "BertModel with pooler, 110M"),
    "roberta-base": ("FacebookAI/roberta-base", "base", 124_645_632, "RobertaModel with pooler, 125M"),
    "distilbert-base-uncased": ("distilbert/distilbert-base-uncased", "base", 66_362_880, "DistilBERT paper, 66M"),
    "vit-base-patch16-224-in21k": ("google/vit-base-patch16-224-in21k", None, 86_389_248, "ViTModel with pooler, 86M"),
    "qwen2-0.5b": ("Qwen/Qwen2-0.5B", None, 494_032_768, "safetensors metadata (494M; q/k/v biases, the LM head is tied)"),
    "t5-small": ("google-t5/t5-small", None, 60_506_624, "T5ForConditionalGeneration, 60.5M (T5 paper: ~60M; the head is tied)"),
    "mixtral-8x7b": ("mistralai/Mixtral-8x7B-v0.1", None, 46_702_792_704, "safetensors metadata (46.7B, every expert)"),
}

FIXTURES = __import__("pathlib").Path(__file__).parent / "fixtures" / "hf"


def test_every_fixture_is_listed():
    assert {p.stem for p in FIXTURES.glob("*.json")} == set(PUBLISHED)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_real_checkpoint_parameters(name):
    import json

    import torch
    import transformers
    from transformers import AutoConfig

    repo, head, published, _where = PUBLISHED[name]
    path = FIXTURES / f"{name}.json"
    nnshape.import_hf(path)  # the default head imports too
    spec = nnshape.import_hf(path, head=head)
    summary = nnshape.summarize(spec, L=16)
    assert summary.total_params == published
    data = json.loads(path.read_text())
    cfg = AutoConfig.for_model(**data)
    arch = data["architectures"][0]
    if head == "base":
        arch = {"GPT2LMHeadModel": "GPT2Model"}.get(arch, arch.split("For")[0] + "Model")
    cfg.architectures = [arch]
    with torch.device("meta"):
        model = getattr(transformers, arch)(cfg)
    assert sum(p.numel() for p in model.parameters()) == published


def test_docs_worked_example_is_real():
    """docs/importers.md shows TinyLlama's imported spec: it is exactly what the importer writes."""
    import re

    doc = (FIXTURES.parent.parent.parent / "docs" / "importers.md").read_text()
    shown = re.search(r"```text\n(# nnshape import hf tinyllama.*?)```", doc, re.S).group(1)
    written = nnshape.import_hf(FIXTURES / "tinyllama-1.1b.json")
    assert written.splitlines()[1:] == shown.splitlines()[1:]
    summary = nnshape.summarize(written)
    assert f"{summary.total_params:,}" in doc
    from nnshape.symbolic import format_count

    assert format_count(summary.total_macs) in doc


@pytest.mark.parametrize("value", ["0", [0, "1"], [True], {"0": 1}])
def test_qwen2_moe_mlp_only_layers_must_be_indices(value):
    from nnshape.importers.errors import ImportFailure

    data = {"model_type": "qwen2_moe", "architectures": ["Qwen2MoeModel"], "num_hidden_layers": 2, "mlp_only_layers": value}
    with pytest.raises(ImportFailure) as info:
        nnshape.import_hf(data)
    assert info.value.code == "E0705" and "mlp_only_layers" in info.value.message


def test_whisper_full_size_encoder_decoder():
    """WhisperConfig's defaults are whisper-tiny's sizes (d_model 384, 4 + 4 layers, 6 heads, a
    51,865-token vocabulary): the imported WhisperForConditionalGeneration has transformers' own
    parameter count (37,760,640, built on the meta device), the head tied to the embedding."""
    import torch
    import transformers

    cfg = transformers.WhisperConfig()
    cfg.architectures = ["WhisperForConditionalGeneration"]
    with torch.device("meta"):
        model = transformers.WhisperForConditionalGeneration(cfg)
    spec = nnshape.import_hf({"model_type": "whisper", "architectures": ["WhisperForConditionalGeneration"]})
    summary = nnshape.summarize(spec, T=448)
    assert summary.total_params == sum(p.numel() for p in model.parameters()) == 37_760_640
    assert summary.output_shape == (1, 448, 51865)
