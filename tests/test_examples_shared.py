"""The weight-sharing examples against the real models, built from their configs with no download.

The models are built on the meta device (no memory; FlopCounterMode counts every matrix product
from the shapes), and PyTorch's own ``sum(p.numel() for p in model.parameters())``, which yields a
tied or shared tensor once, is the number the spec must give.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import nnshape

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def meta_count(model_cls, config, **inputs):
    """(params, persistent buffers, FlopCounterMode MACs, outputs) of an HF model on the meta device."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        model = model_cls(config)
    feed = {name: torch.zeros(1, length, dtype=torch.long, device="meta") for name, length in inputs.items()}
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        out = model(**feed)
    params = sum(p.numel() for p in model.parameters())
    persistent = set(model.state_dict(keep_vars=True))
    buffers = sum(b.numel() for name, b in model.named_buffers() if name in persistent)
    return params, buffers, counter.get_total_flops() // 2, out, model


def test_albert_base_is_the_hf_model():
    from transformers import AlbertConfig, AlbertModel

    config = AlbertConfig(hidden_size=768, num_attention_heads=12, intermediate_size=3072, attn_implementation="eager")
    params, buffers, macs, out, model = meta_count(AlbertModel, config, input_ids=128, token_type_ids=128)
    summary = nnshape.summarize(EXAMPLES / "albert_base.nn")
    assert (params, macs) == (summary.total_params, summary.total_macs) == (11_683_584, 11_186_798_592)
    assert [o.shape for o in summary.outputs] == [tuple(out.last_hidden_state.shape), tuple(out.pooler_output.shape)]
    assert buffers == summary.total_buffers == 0  # HF's position and token-type id tables are not persistent
    # one layer, applied 12 times: its parameters are counted once, by torch and by the spec
    assert len(model.encoder.albert_layer_groups) == 1 and config.num_hidden_layers == 12
    layer = model.encoder.albert_layer_groups[0].albert_layers[0]
    assert sum(p.numel() for p in layer.parameters()) == summary.layer("hidden.encoder.1").params == 7_087_872


def test_gpt2_lm_head_is_the_hf_model():
    from transformers import GPT2Config, GPT2LMHeadModel

    params, buffers, macs, out, model = meta_count(GPT2LMHeadModel, GPT2Config(attn_implementation="eager"), input_ids=128)
    assert model.lm_head.weight is model.transformer.wte.weight  # tied
    summary = nnshape.summarize(EXAMPLES / "gpt2_lm.nn")
    assert (params, macs, tuple(out.logits.shape)) == (summary.total_params, summary.total_macs, summary.output_shape)
    assert params == 124_439_808 and buffers == summary.total_buffers == 0
    head = summary.layer("lm_head")
    assert head.params == 0 and head.shares == ("weight", "wte")


def test_qwen2_0_5b_is_the_hf_model():
    """Qwen2-0.5B ties its LM head to the token embedding (151,936 × 896, 136 M parameters counted
    once) and has biases on q, k and v but not on o."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(
        vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
        num_key_value_heads=2, rms_norm_eps=1e-6, rope_theta=1000000.0, tie_word_embeddings=True,
        attn_implementation="eager",
    )
    params, buffers, macs, out, model = meta_count(Qwen2ForCausalLM, config, input_ids=128)
    assert model.lm_head.weight is model.model.embed_tokens.weight  # tied
    summary = nnshape.summarize(EXAMPLES / "qwen2_0_5b.nn")
    assert (params, macs, tuple(out.logits.shape)) == (summary.total_params, summary.total_macs, summary.output_shape)
    assert params == 494_032_768 and buffers == summary.total_buffers == 0  # RoPE's frequencies: not persistent
    head = summary.layer("lm_head")
    assert head.params == 0 and head.shares == ("weight", "embed_tokens") and head.macs == 128 * 896 * 151936
    attn = model.model.layers[0].self_attn
    assert attn.o_proj.bias is None and attn.q_proj.bias is not None
    assert summary.layer("1.0.0.self_attn").params == sum(p.numel() for p in attn.parameters())


def test_t5_small_shares_one_table_three_ways():
    """T5's `shared` table is the encoder's and the decoder's embedding and the LM head's weight:
    `embedding ... tie=` and `linear ... tie=` on one table, counted once as transformers does."""
    from transformers import T5Config, T5ForConditionalGeneration

    params, buffers, macs, out, model = meta_count(
        T5ForConditionalGeneration, T5Config(attn_implementation="eager"), input_ids=128, decoder_input_ids=128
    )
    assert model.encoder.embed_tokens.weight is model.decoder.embed_tokens.weight is model.lm_head.weight
    summary = nnshape.summarize(EXAMPLES / "t5_small.nn")
    assert (params, macs, tuple(out.logits.shape)) == (summary.total_params, summary.total_macs, summary.output_shape)
    assert params == 60_506_624 and buffers == summary.total_buffers == 0
    assert summary.layer("enc.shared").params == 32128 * 512
    for path in ("1.embed_tokens", "lm_head"):
        assert summary.layer(path).params == 0 and summary.layer(path).shares == ("weight", "enc.shared")
    untied = nnshape.summarize((EXAMPLES / "t5_small.nn").read_text().replace(" tie=shared", ""))
    assert untied.total_params - params == 2 * 32128 * 512 and untied.total_macs == macs


def test_the_examples_verify_on_meta():
    from nnshape.verifier import verify

    for name in ("albert_base.nn", "gpt2_lm.nn", "qwen2_0_5b.nn", "t5_small.nn"):
        report = verify(EXAMPLES / name, device="meta")
        assert report.ok, (name, [(c.path, c.mismatches, c.error) for c in report.mismatches])
