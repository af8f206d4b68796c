"""The large-model examples against the real models, built from their configs with no download.

Billions of parameters do not fit on a CI machine, so the HF models are built on the meta device
(no memory; FlopCounterMode still counts every matrix product from the shapes). Routing cannot
run on meta, so the Mixtral model uses transformers' `batched_mm` experts, which run exactly the
chosen experts per token as shape-only batched products; a small Mixtral on the CPU shows that
its count is the real top-k dispatch's.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import nnshape

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def meta_count(model_cls, config, length: int):
    """(params, buffers, FlopCounterMode MACs, logits shape) of an HF causal LM on the meta device."""
    from torch.utils.flop_counter import FlopCounterMode

    with torch.device("meta"):
        model = model_cls(config)
    ids = torch.zeros(1, length, dtype=torch.long, device="meta")
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        logits = model(input_ids=ids).logits
    params = sum(p.numel() for p in model.parameters())
    persistent = set(model.state_dict(keep_vars=True))
    buffers = sum(b.numel() for name, b in model.named_buffers() if name in persistent)
    return params, buffers, counter.get_total_flops() // 2, tuple(logits.shape)


def llama3_8b_config(**extra):
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                       num_attention_heads=32, num_key_value_heads=8, max_position_embeddings=8192, rope_theta=500000.0,
                       rms_norm_eps=1e-5, tie_word_embeddings=False, attn_implementation="eager", **extra)


def test_llama3_8b_is_the_hf_model():
    from transformers import LlamaForCausalLM

    params, buffers, macs, shape = meta_count(LlamaForCausalLM, llama3_8b_config(), 128)
    summary = nnshape.summarize(EXAMPLES / "llama3_8b.nn")
    assert (params, macs, shape) == (summary.total_params, summary.total_macs, summary.output_shape)
    assert params == 8_030_261_248  # Meta's published 8.03B
    # RoPE's inverse frequencies are HF's only buffers, non-persistent (recomputed from the config,
    # like rope=true computes them): no state-dict buffers on either side
    assert buffers == summary.total_buffers == 0


def mixtral_config(**sizes):
    from transformers import MixtralConfig

    values = dict(vocab_size=32000, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                  num_key_value_heads=8, num_local_experts=8, num_experts_per_tok=2, rope_theta=1e6)
    values.update(sizes)
    experts = values.pop("experts", "batched_mm")
    return MixtralConfig(**values, attn_implementation="eager", experts_implementation=experts)


def test_mixtral_8x7b_is_the_hf_model():
    from transformers import MixtralForCausalLM

    params, _, macs, shape = meta_count(MixtralForCausalLM, mixtral_config(), 128)
    summary = nnshape.summarize(EXAMPLES / "mixtral_8x7b.nn")
    assert (params, macs, shape) == (summary.total_params, summary.total_macs, summary.output_shape)
    assert params == 46_702_792_704


def test_batched_experts_count_what_the_real_dispatch_counts():
    """On the CPU a small Mixtral routes for real (eager experts: a loop over the experts hit);
    its FlopCounterMode count equals the batched_mm experts' and nnshape's."""
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import MixtralForCausalLM

    small = dict(vocab_size=100, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, num_local_experts=6, num_experts_per_tok=2)
    counts = []
    for experts in ("eager", "batched_mm"):
        torch.manual_seed(0)
        model = MixtralForCausalLM(mixtral_config(**small, experts=experts)).eval()
        ids = torch.randint(0, 100, (2, 9))
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            model(input_ids=ids)
        counts.append(counter.get_total_flops() // 2)
    spec = """input ids 9 dtype=int64
embedding 100 32
repeat 2:
    residual:
        rmsnorm
        attention heads=4 kv_heads=2 bias=false causal=true rope=true
    residual:
        rmsnorm
        moe experts=6 top_k=2 ff=48
rmsnorm
linear 100 bias=false
"""
    summary = nnshape.summarize(spec, batch=2)
    assert counts[0] == counts[1] == summary.total_macs
    assert sum(p.numel() for p in model.parameters()) == summary.total_params


def test_llama_decode_is_an_hf_decode_step():
    """One token after 8,191 cached ones: HF's Llama with a DynamicCache of that length (meta tensors)."""
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import DynamicCache, LlamaForCausalLM

    config = llama3_8b_config()
    past = 8191
    with torch.device("meta"):
        model = LlamaForCausalLM(config)
    cache = DynamicCache(config=config)
    for layer in range(config.num_hidden_layers):
        kv = torch.zeros(1, config.num_key_value_heads, past, 128, device="meta")
        cache.update(kv, kv, layer)
    ids = torch.zeros(1, 1, dtype=torch.long, device="meta")
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        out = model(input_ids=ids, cache=cache, use_cache=True)
    summary = nnshape.summarize(EXAMPLES / "llama_decode.nn", dtype="bfloat16")
    assert counter.get_total_flops() // 2 == summary.total_macs == 9_652_142_080
    assert tuple(out.logits.shape) == summary.output_shape
    assert sum(p.numel() for p in model.parameters()) == summary.total_params
    # the cache after the step: every layer's keys and values for 8,192 tokens, as HF holds them
    layers = cache.layers  # updated in place
    held = sum(layer.keys.numel() + layer.values.numel() for layer in layers)
    assert held * 2 == summary.memory.kv_cache_bytes == 1_073_741_824  # bfloat16


def test_swin_t_is_the_hf_and_torchvision_model():
    """transformers' Swin-T (SwinConfig's defaults are swin-tiny) counts what torchvision's swin_t
    counts (28,288,354 parameters, 28,812 buffers, 4,490,566,656 MACs: docs/conventions.md)."""
    from transformers import SwinConfig, SwinForImageClassification

    from oracle import counting_flags
    from torch.utils.flop_counter import FlopCounterMode

    torch.manual_seed(0)
    model = SwinForImageClassification(SwinConfig(num_labels=1000)).eval()
    with counting_flags(), torch.no_grad(), FlopCounterMode(display=False) as counter:
        logits = model(pixel_values=torch.randn(1, 3, 224, 224)).logits
    summary = nnshape.summarize(EXAMPLES / "swin_t.nn")
    assert (sum(p.numel() for p in model.parameters()), sum(b.numel() for b in model.buffers())) == (28_288_354, 28_812)
    assert (summary.total_params, summary.total_buffers) == (28_288_354, 28_812)
    assert counter.get_total_flops() // 2 == summary.total_macs == 4_490_566_656
    assert tuple(logits.shape) == summary.output_shape
