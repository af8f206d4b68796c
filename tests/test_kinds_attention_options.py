"""The options of ``attention`` (nnshape/kinds/attention_options.py) against the modules they stand
for: HF's Qwen2 and Whisper projections (per-projection biases), HF's T5Attention (bucketed
relative bias), HF's Llama decode step with a DynamicCache (cache=), torchvision's Swin and MaxViT
window/grid attention (through transformers' Swin here; torchvision itself in
tests/manual/check_torchvision.py); the saved-for-backward rules byte for byte; the errors."""

from __future__ import annotations

import pytest

import nnshape
from nnshape import registry

from oracle import analyze_with_calls, counting_flags, n_params, check_saved_exact

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")


def last(text: str, batch: int = 1):
    """(call, inference) of the last layer of a spec."""
    _, observed = analyze_with_calls(text, batch=batch)
    return observed[-1].call, observed[-1].inference


def counted(module, *args, **kwargs) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with counting_flags(), torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(*args, **kwargs)
    return counter.get_total_flops() // 2


# --------------------------------------------------------------------------- parameter tensors


@pytest.mark.parametrize("example", registry.get("attention").examples)
def test_param_tensors_name_the_twins_tensors(example):
    """Every option's tensors (biases, T5's bucket table, the window table) in named_parameters()
    order with their shapes, and they add up to the counted params (what the device plan shards)."""
    from oracle import example_source

    _, observed = analyze_with_calls(example_source(example))
    for obs in (o for o in observed if o.call.kind.name == "attention"):
        ours = [(name, tuple(shape)) for name, shape in obs.call.kind.param_tensors(obs.call)]
        theirs = [(name, tuple(p.shape)) for name, p in obs.call.kind.build(obs.call).named_parameters()]
        assert ours == theirs
        assert sum(torch.Size(shape).numel() for _, shape in ours) == obs.inference.params


# --------------------------------------------------------------------------- biases


def test_qkv_bias_is_qwen2s_attention():
    from transformers import Qwen2Config
    from transformers.models.qwen2.modeling_qwen2 import Qwen2Attention

    hf = Qwen2Attention(Qwen2Config(hidden_size=896, num_attention_heads=14, num_key_value_heads=2), layer_idx=0)
    _, inf = last("input 8x896\nattention heads=14 kv_heads=2 bias=false qkv_bias=true\n")
    assert inf.params == n_params(hf) == 896 * 896 + 896 + 2 * (896 * 128 + 128) + 896 * 896  # o_proj has no bias
    assert {name for name, _ in hf.named_parameters() if name.endswith("bias")} == {"q_proj.bias", "k_proj.bias", "v_proj.bias"}


def test_k_bias_false_is_whispers_attention():
    from transformers.models.whisper.modeling_whisper import WhisperAttention

    hf = WhisperAttention(embed_dim=384, num_heads=6)
    _, inf = last("input 10x384\nattention heads=6 k_bias=false\n")
    assert inf.params == n_params(hf) == 4 * 384 * 384 + 3 * 384


@pytest.mark.parametrize(
    "keys, flags",
    [
        ("bias=false", (False,) * 4),
        ("qkv_bias=true bias=false", (True, True, True, False)),
        ("qkv_bias=false q_bias=true", (True, False, False, True)),
        ("o_bias=false", (True, True, True, False)),
        ("bias=false v_bias=true", (False, False, True, False)),
    ],
)
def test_bias_precedence(keys, flags):
    call, inf = last(f"input 5x16\nattention 4 {keys}\n")
    twin = call.kind.build(call)
    got = tuple(getattr(twin, f"{p}_proj").bias is not None for p in "qkvo")
    assert got == flags
    assert inf.params == 4 * 16 * 16 + 16 * sum(flags) == n_params(twin)


# --------------------------------------------------------------------------- T5 relative position bias


@pytest.mark.parametrize("decoder", [False, True])
def test_rel_pos_is_t5s_bucketed_bias(decoder):
    from transformers import T5Config
    from transformers.models.t5.modeling_t5 import T5Attention

    torch.manual_seed(0)
    config = T5Config(d_model=64, d_kv=16, num_heads=4, relative_attention_num_buckets=32, is_decoder=decoder)
    hf = T5Attention(config, has_relative_attention_bias=True, layer_idx=0).eval()
    with torch.no_grad():
        hf.relative_attention_bias.weight.normal_()
    causal = "causal=true " if decoder else ""
    call, inf = last(f"input 11x64\nattention heads=4 bias=false {causal}rel_pos=32\n", batch=2)
    twin = call.kind.build(call).eval()
    twin.load_state_dict({"q_proj.weight": hf.q.weight, "k_proj.weight": hf.k.weight, "v_proj.weight": hf.v.weight,
                          "o_proj.weight": hf.o.weight, "relative_attention_bias.weight": hf.relative_attention_bias.weight})
    assert inf.params == n_params(hf) == n_params(twin) == 4 * 64 * 64 + 32 * 4
    assert inf.macs == counted(hf, torch.randn(2, 11, 64)) == counted(twin, torch.randn(2, 11, 64))  # the bias: 0 MACs
    for lq, lk in ((11, 11), (300, 300), (1, 200)):  # also far beyond max_distance, and a decode step's one query
        assert torch.equal(twin.position_bias(lq, lk, "cpu"), hf.compute_bias(lq, lk, past_seen_tokens=lk - lq)[0])


# --------------------------------------------------------------------------- a decode step against a KV cache


def test_cache_is_an_hf_llama_decode_step():
    """A two-layer Llama at full width: 3 new tokens after 13 cached ones, on the CPU for real."""
    from transformers import DynamicCache, LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(vocab_size=100, hidden_size=64, intermediate_size=96, num_hidden_layers=2, num_attention_heads=8,
                         num_key_value_heads=2, tie_word_embeddings=False, attn_implementation="eager")
    torch.manual_seed(0)
    model = LlamaForCausalLM(config).eval()
    cache = DynamicCache(config=config)
    with torch.no_grad():
        model(input_ids=torch.randint(0, 100, (2, 13)), cache=cache, use_cache=True)  # the prefill fills the cache
    macs = counted(model, input_ids=torch.randint(0, 100, (2, 3)), cache=cache, use_cache=True)
    spec = """input ids 3 dtype=int64
embedding 100 64
repeat 2:
    residual:
        rmsnorm
        attention heads=8 kv_heads=2 bias=false causal=true rope=true cache=13
    residual:
        rmsnorm
        multiply:
            branch:
                linear 96 bias=false
                silu
            branch:
                linear 96 bias=false
        linear 64 bias=false
rmsnorm
linear 100 bias=false
"""
    summary = nnshape.summarize(spec, batch=2)
    assert summary.total_macs == macs
    assert summary.total_params == n_params(model)
    held = sum(layer.keys.numel() + layer.values.numel() for layer in cache.layers)  # 16 tokens now
    assert summary.memory.kv_cache_bytes == 4 * held
    assert [r.kv_cache_bytes for r in summary.layers if r.kind == "attention"] == [4 * held // 2]


def test_cache_counts_projections_of_the_new_tokens_only():
    _, inf = last("input 1x4096\nattention heads=32 kv_heads=8 bias=false causal=true cache=8191\n")
    assert inf.macs == 4096 * 4096 + 2 * 4096 * 1024 + 2 * 32 * 8192 * 128 + 4096 * 4096
    assert inf.kv_cache == 2 * 8 * 128 * 8192


@pytest.mark.parametrize("line", ["mha 4 causal=true cache=9", "encoderlayer 4 32 causal=true cache=11 dropout=0.0"])
def test_mha_and_encoder_layer_decode_steps(line):
    """The decode step of nn.MultiheadAttention / nn.TransformerEncoderLayer weights: the layer's
    parameters, projections of the one new token, scores over 1 + P keys (FlopCounterMode on the twin)."""
    call, inf = last(f"input 1x16\n{line}\n")
    twin = call.kind.build(call).eval()
    past, d = (9 if "mha" in line else 11), 16
    _, full = last(f"input 10x16\n{line.split(' cache=')[0]}\n")
    assert inf.params == full.params == n_params(twin)
    attention = 4 * d * d + 2 * (past + 1) * d
    assert inf.macs == attention + (0 if "mha" in line else 2 * d * 32)
    assert inf.kv_cache == 2 * d * (past + 1)
    assert inf.macs == counted(twin, torch.randn(1, 1, 16))


# --------------------------------------------------------------------------- windows and grids


@pytest.mark.parametrize("shape, line, groups, tokens", [
    ("56x56x96", "attention heads=3 window=7 shift=3 rel_pos=true", 64, 56 * 56),
    ("9x10x16", "attention heads=2 window=4 shift=2", 9, 12 * 12),  # padded to 12×12, as torchvision's Swin
    ("7x7x16", "attention heads=2 window=7 shift=3 rel_pos=true", 1, 49),  # one window: no shift (torchvision)
    ("56x56x64", "attention heads=2 grid=7 rel_pos=true", 64, 56 * 56),
])
def test_window_counts(shape, line, groups, tokens):
    call, inf = last(f"input {shape}\n{line}\n")
    c, heads, size = call.x.shape[-1], call.args.num_heads, (call.args.window or (call.args.grid,))[0]
    hd, length = c // heads, size * size
    assert inf.macs == 4 * tokens * c * c + 2 * groups * heads * length * length * hd
    table = "rel_pos=true" in line
    assert inf.params == 4 * c * c + 4 * c + (table and (2 * size - 1) ** 2 * heads)
    assert inf.buffers == (table and length * length)


def test_swin_block_is_the_hf_block():
    """One shifted Swin block (window 7, shift 3) on a 14×14 map: parameters, buffers and MACs of
    transformers' SwinLayer, which pads, rolls and masks as torchvision does."""
    from transformers import SwinConfig
    from transformers.models.swin.modeling_swin import SwinLayer

    config = SwinConfig(embed_dim=32, window_size=7)
    hf = SwinLayer(config, dim=32, input_resolution=(14, 14), num_heads=2, shift_size=3).eval()
    spec = """input 14x14x32
residual:
    layernorm
    attention heads=2 window=7 shift=3 rel_pos=true
residual:
    layernorm
    linear 128
    gelu
    linear 32
"""
    s = nnshape.summarize(spec)
    assert s.total_params == n_params(hf)
    assert s.total_buffers == sum(b.numel() for b in hf.buffers())
    assert s.total_macs == counted(hf, torch.randn(1, 196, 32), (14, 14))


# --------------------------------------------------------------------------- memory, errors


SAVED = [
    "input 8x28\nlinear 28\nattention heads=14 kv_heads=2 bias=false qkv_bias=true\n",
    "input 11x32\nlinear 32\nattention heads=4 bias=false rel_pos=32\n",
    "input 9x32\nlinear 32\nattention heads=4 bias=false causal=true rel_pos=8 max_distance=20\n",
    "input 3x32\nlinear 32\nattention heads=8 kv_heads=2 bias=false causal=true rope=true cache=13\n",
    "input 3x32\nlinear 32\nattention heads=4 cache=5\n",
    "input 1x16\nlinear 16\nmha 4 causal=true cache=9\n",
    "input 3x12\nlinear 12\nmha heads=3 bias=false cache=4\n",
    "input 1x16\nlinear 16\nencoderlayer 4 32 causal=true cache=11\n",
    "input 2x16\nlinear 16\nencoderlayer 2 24 causal=true cache=5 norm_first=true activation='gelu' dropout=0.0\n",
    "input 3x16\nlinear 16\nencoderlayer 4 32 causal=true cache=2 activation='gelu'\n",
    "input 14x14x24\nlinear 24\nattention heads=3 window=7 rel_pos=true\n",
    "input 14x14x24\nlinear 24\nattention heads=3 window=7 shift=3 rel_pos=true\n",
    "input 9x10x16\nlinear 16\nattention heads=2 window=4 shift=2\n",
    "input 7x7x16\nlinear 16\nattention heads=2 window=7 shift=3 rel_pos=true\n",
    "input 4x12x16\nlinear 16\nattention heads=2 window=4\n",
    "input 14x21x32\nlinear 32\nattention heads=2 grid=7 rel_pos=true\n",
    "input 8x8x16\nlinear 16\nattention heads=4 kv_heads=2 grid=4\n",
    "input 4x4x16\nlinear 16\nattention heads=2 grid=4\n",
]


@pytest.mark.parametrize("text", SAVED)
@pytest.mark.parametrize("batch", [1, 2])
def test_saved_for_backward_is_exact(text, batch):
    check_saved_exact(text, batch)


def test_kv_cache_bytes_follow_the_dtype():
    text = "input 2x64\nrepeat 3:\n    attention heads=8 kv_heads=2 causal=true cache=30\n"
    per_layer = 2 * 4 * 2 * 8 * 32  # 2 · N · kv_heads · head_dim · (P + L), N = 4
    for dtype, size in (("float32", 4), ("bfloat16", 2)):
        s = nnshape.summarize(text, batch=4, dtype=dtype)
        assert s.memory.kv_cache_bytes == 3 * per_layer * size
        assert s.to_dict()["memory"]["kv_cache_bytes"] == 3 * per_layer * size
    assert nnshape.summarize("input 2x64\nattention heads=8 causal=true\n").memory.kv_cache_bytes == 0


@pytest.mark.parametrize("text, code", [
    ("input x 6x16\ninput mem 9x16\nattention heads=4 kv=mem cache=5\n", "E0341"),
    ("input x 6x16\ninput mem 9x16\nmha 4 kv=mem cache=5\n", "E0341"),
    ("input 6x16\nencoderlayer 4 32 cache=5\n", "E0341"),
    ("input 14x14x16\nattention heads=2 window=7 grid=7\n", "E0342"),
    ("input 6x16\nattention heads=2 shift=3\n", "E0342"),
    ("input 6x16\nattention heads=2 rel_pos=true\n", "E0342"),
    ("input 14x14x16\nattention heads=2 window=7 rel_pos=32\n", "E0342"),
    ("input 14x14x16\nattention heads=2 window=7 causal=true\n", "E0342"),
    ("input 6x16\nmha 4 add_bias_kv=true cache=3\n", "E0342"),
    ("input 15x14x16\nattention heads=2 grid=7\n", "E0440"),
    ("input 14x16\nattention heads=2 window=7\n", "E0402"),
    ("input 14x14x16\nattention heads=2 window=7 shift=7\n", "E0303"),
    ("input 6x16\nattention heads=2 rel_pos=1\n", "E0303"),
])
def test_errors_are_located(text, code):
    with pytest.raises(nnshape.NNShapeError) as err:
        nnshape.summarize(text)
    assert err.value.code == code, str(err.value)
    assert err.value.diagnostic.span is not None and err.value.diagnostic.span.line == text.count("\n")
