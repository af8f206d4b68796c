"""The per-device plan's figures that torch can show in one process: optimizer state as torch.optim
keeps it, and a real KV cache of a HF Llama decode. (The parameter tensors, as the twins hold them,
are each kind's rule: tests/test_registry.py checks Kind.param_tensors against every twin.)"""

from __future__ import annotations

import pytest

import nnshape

torch = pytest.importorskip("torch")

SPEC = """\
input 4x12
linear 16
gelu
layernorm
linear 8 trainable=false
linear 5
"""


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
@pytest.mark.parametrize("optimizer", ["adam", "adamw", "momentum", "sgd"])
def test_optimizer_state_is_what_torch_optim_keeps(dtype, optimizer):
    """Issue 13: one step of the real optimizer on the twin in ``dtype``; its state tensors
    (without Adam's step scalars) weigh what the summary says."""
    from nnshape.verifier import analyze_spec
    from nnshape.verifier.builder import build

    summary = nnshape.summarize(SPEC, dtype=dtype, optimizer=optimizer)
    s, tree = analyze_spec(SPEC)
    model = build(s, tree, dtype=getattr(torch, dtype)).model
    params = [p for p in model.parameters() if p.requires_grad]
    if optimizer in ("adam", "adamw"):
        opt = (torch.optim.Adam if optimizer == "adam" else torch.optim.AdamW)(params, lr=1e-3)
    else:
        opt = torch.optim.SGD(params, lr=1e-3, momentum=0.9 if optimizer == "momentum" else 0.0)
    model(torch.randn(1, 4, 12, dtype=getattr(torch, dtype))).float().sum().backward()
    opt.step()
    held = sum(v.numel() * v.element_size() for st in opt.state.values() for v in st.values()
               if torch.is_tensor(v) and v.dim() > 0)
    assert held == summary.memory.optimizer_bytes
    assert sum(p.grad.numel() * p.grad.element_size() for p in params) == summary.memory.gradients_bytes


LLAMA = """\
input ids 12 dtype=int64
embedding 96 32
repeat 3:
    residual:
        rmsnorm eps=1e-6
        attention heads=4 kv_heads=2 causal=true rope=true bias=false
    residual:
        rmsnorm eps=1e-6
        multiply:
            branch:
                linear 48 bias=false
                silu
            branch:
                linear 48 bias=false
        linear 32 bias=false
rmsnorm eps=1e-6
linear 96 bias=false
"""


def _cached(cache) -> list:
    """The key and value tensors of a transformers DynamicCache (5.x: .layers; 4.x: key_cache/value_cache)."""
    if hasattr(cache, "layers"):
        return [t for layer in cache.layers for t in (layer.keys, layer.values)]
    return list(cache.key_cache) + list(cache.value_cache)


@pytest.mark.filterwarnings("ignore::FutureWarning")  # transformers 5 renames past_key_values
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_kv_cache_equals_a_hf_llama_decode(dtype):
    """A HF Llama built from the same config (no download) decodes 12 + 5 tokens for 3 sequences;
    its DynamicCache holds exactly the plan's KV cache at context 17, and the weights agree."""
    transformers = pytest.importorskip("transformers")
    config = transformers.LlamaConfig(vocab_size=96, hidden_size=32, intermediate_size=48, num_hidden_layers=3,
                                      num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False)
    torch.manual_seed(0)
    model = transformers.LlamaForCausalLM(config).to(getattr(torch, dtype)).eval()
    ids = torch.randint(0, 96, (3, 12))
    with torch.no_grad():
        out = model(ids, use_cache=True)
        cache = out.past_key_values
        for _ in range(5):
            nxt = out.logits[:, -1:].argmax(-1)
            out = model(nxt, past_key_values=cache, use_cache=True)
            cache = out.past_key_values
    held = sum(t.numel() * t.element_size() for t in _cached(cache))
    plan = nnshape.summarize(LLAMA, dtype=dtype, serve=True, context=17, concurrency=3).device_plan
    assert plan.per_device()["kv_cache"] == held
    assert plan.per_device()["weights"] == sum(p.numel() * p.element_size() for p in model.parameters())


@pytest.mark.parametrize("spec,config", [
    ("llama2_7b.nn", dict(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                          num_attention_heads=32, num_key_value_heads=32)),
    ("llama3_8b.nn", dict(vocab_size=128256, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
                          num_attention_heads=32, num_key_value_heads=8)),
    ("llama3_70b.nn", dict(vocab_size=128256, hidden_size=8192, intermediate_size=28672, num_hidden_layers=80,
                           num_attention_heads=64, num_key_value_heads=8)),
])
def test_benchmark_llama_specs_count_what_transformers_counts(spec, config):
    """The specs of the worked examples and the benchmark: HF's LlamaForCausalLM on the meta device."""
    transformers = pytest.importorskip("transformers")
    from pathlib import Path

    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(transformers.LlamaConfig(tie_word_embeddings=False, **config))
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "specs" / spec
    assert nnshape.summarize(path).total_params == sum(p.numel() for p in model.parameters())
