"""Llama-style decoders: pre-norm blocks of grouped-query attention with rotary positions and a
gated feed-forward (llama, mistral, mixtral, qwen2, qwen2_moe, gemma, gemma2, phi3)."""

from __future__ import annotations

from .common import Build, ModelType, activation, eps, has_arg, has_kind, need, num_labels, tied_linear

ROPE = ("rope_theta", "rope_scaling", "rope_parameters", "partial_rotary_factor")  # elementwise: no count
DECODER_NEUTRAL = frozenset(
    ROPE
    + (
        "max_position_embeddings", "attention_dropout", "pretraining_tp", "sliding_window",
        "use_sliding_window", "max_window_layers", "layer_types", "original_max_position_embeddings",
        "output_router_logits", "router_aux_loss_coef", "router_jitter_noise",
        "attn_logit_softcapping", "final_logit_softcapping", "query_pre_attn_scalar",
        "embd_pdrop", "resid_pdrop", "use_bidirectional_attention", "is_decoder",
    )
)


def attention_line(b: Build, *, bias: str, name: str = "self_attn", kv_heads_key: str = "num_key_value_heads") -> str:
    """``attention heads=H [kv_heads=K] [head_dim=hd] BIAS causal=true rope=true``."""
    f = b.f
    d = f.int("hidden_size")
    heads = f.int("num_attention_heads")
    kv = f.int(kv_heads_key, optional=True) or heads
    hd = f.int("head_dim", optional=True) or d // heads
    if (hd == d // heads) and d % heads:
        f.fail("num_attention_heads", f"hidden_size {d} is not divisible by num_attention_heads {heads}", code="E0705")
    if heads % kv:
        f.fail(kv_heads_key, f"num_attention_heads {heads} is not a multiple of {kv_heads_key} {kv}", code="E0705")
    line = f"attention heads={heads}"
    if kv != heads:
        line += f" kv_heads={kv}"
    if hd * heads != d:
        line += f" head_dim={hd}"
    return f"{line} {bias} causal=true rope=true name={name}"


def gated_mlp(b: Build, d: int, ff: int, act: str, *, bias: bool = False) -> None:
    """down(act(gate(x)) · up(x)): a ``multiply:`` of the two projections, then the down projection."""
    w = b.w
    bias_text = "true" if bias else "false"
    with w.block("block mlp"):
        with w.block("multiply"):
            with w.block("branch"):
                w.line(f"linear {ff} bias={bias_text} name=gate_proj")
                w.line(act)
            w.line(f"branch: linear {ff} bias={bias_text} name=up_proj")
        w.line(f"linear {d} bias={bias_text} name=down_proj")


MOE_ACTIVATIONS = {"silu": "silu", "gelu": "gelu", "gelu approximate='tanh'": "gelu_tanh", "relu": "relu"}


def moe_line(b: Build, *, experts_key: str, ff_key: str, act: str, shared: int = 0, norm_topk: bool | None = None) -> str:
    """``moe experts=E top_k=K ff=F`` (+ the shared expert of Qwen2-MoE, the routing normalization)."""
    f = b.f
    need("`moe` (mixture of experts)", has_kind("moe"), f"{b.model.name}")
    experts = f.int(experts_key)
    top_k = f.int("num_experts_per_tok")
    if top_k > experts:
        f.fail("num_experts_per_tok", f"num_experts_per_tok {top_k} exceeds the {experts} experts", code="E0705")
    kind = MOE_ACTIVATIONS.get(act)
    if kind is None:
        f.fail("hidden_act", f"{b.model.name}: experts with the activation {act!r} have no `moe` form", code="E0704")
    line = f"moe experts={experts} top_k={top_k} ff={f.int(ff_key)}"
    if kind != "silu":
        line += f" act='{kind}'"
    if shared:
        line += f" shared_ff={shared}"
    if norm_topk is False:
        line += " norm_topk_prob=false"
    return line + " name=mlp"


def decoder(b: Build, *, bias: str, mlp_bias: bool = False, act_key: str = "hidden_act", sandwich: bool = False,
            scaled_embedding: bool = False, mlp=None, layer_kinds=None) -> None:
    """The whole decoder-only language model (head included). ``layer_kinds``: a key per layer,
    handed to ``mlp(act, key)`` (Qwen2-MoE's dense and sparse layers); each run of equal keys is
    one ``repeat N:``."""
    f, w = b.f, b.w
    d = f.int("hidden_size")
    vocab = f.int("vocab_size")
    layers = f.int("num_hidden_layers")
    ff = f.int("intermediate_size")
    norm = f"rmsnorm {eps(f.float('rms_norm_eps'))}"
    act = activation(f, act_key)
    if act is None:
        f.fail(act_key, "a gated feed-forward needs an activation", found="linear", code="E0704")
    attn = attention_line(b, bias=bias)
    tie = f.bool("tie_word_embeddings")
    w.line("input input_ids L dtype=int64", "token ids; --set L=... for numbers")
    with w.block("block model"):
        w.line(f"embedding {vocab} {d} name=embed_tokens")
        if scaled_embedding:
            w.comment(f"the embeddings are multiplied by sqrt({d}): elementwise, no parameters, no MACs")
        kinds = list(layer_kinds) if layer_kinds is not None else [None] * layers
        runs: list = []  # (first layer, count, key)
        for i, key in enumerate(kinds):
            if runs and runs[-1][2] == key:
                runs[-1][1] += 1
            else:
                runs.append([i, 1, key])
        for first, count, key in runs:
            head = f"repeat {count}" if len(runs) == 1 or count > 1 else f"block layers_{first}"
            with w.block(head, f"model.layers.{first}{' ...' if count > 1 or len(runs) == 1 else ''}"):
                with w.block("residual"):
                    w.line(f"{norm} name=input_layernorm")
                    w.line(attn)
                    if sandwich:
                        w.line(f"{norm} name=post_attention_layernorm")
                with w.block("residual"):
                    w.line(f"{norm} name={'pre_feedforward_layernorm' if sandwich else 'post_attention_layernorm'}")
                    if mlp is None:
                        gated_mlp(b, d, ff, act, bias=mlp_bias)
                    elif layer_kinds is None:
                        mlp(act)
                    else:
                        mlp(act, key)
                    if sandwich:
                        w.line(f"{norm} name=post_feedforward_layernorm")
        w.line(f"{norm} name=norm")
    if b.head == "causal-lm":
        tied_linear(b, vocab, bias=False, name="lm_head", tie="embed_tokens" if tie else None)
    elif b.head == "classifier":
        w.line(f"linear {num_labels(f)} bias=false name=score")
        w.line("select dim=1 index=-1", "the last token's scores (transformers picks the last non-padding token)")


CAUSAL_CLASSIFIER = ("ForCausalLM", "causal-lm"), ("Model", "base"), ("ForSequenceClassification", "classifier")


def _archs(prefix: str, pairs=CAUSAL_CLASSIFIER) -> dict[str, str]:
    return {prefix + suffix: head for suffix, head in pairs}


def _llama(b: Build) -> None:
    f = b.f
    bias = "bias=" + ("true" if f.bool("attention_bias") else "false")
    decoder(b, bias=bias, mlp_bias=f.bool("mlp_bias"))


def _mistral(b: Build) -> None:
    decoder(b, bias="bias=false")


def _qwen2(b: Build) -> None:
    need("per-projection attention biases (`qkv_bias=`, `o_bias=`)", has_arg("attention", "qkv_bias"), "qwen2")
    decoder(b, bias="qkv_bias=true o_bias=false")


def _gemma(b: Build) -> None:
    bias = "bias=" + ("true" if b.f.bool("attention_bias") else "false")
    decoder(b, bias=bias, scaled_embedding=True)


def _gemma2(b: Build) -> None:
    bias = "bias=" + ("true" if b.f.bool("attention_bias") else "false")
    b.w.comment("attention and final logits are soft-capped (tanh): elementwise, no count")
    decoder(b, bias=bias, act_key="hidden_activation", sandwich=True, scaled_embedding=True)


def _phi3(b: Build) -> None:
    b.f.expect("attention_bias", lambda v: v is False, "false (transformers' Phi3 has no attention biases)", default=False)
    b.w.comment("qkv_proj and gate_up_proj are fused in transformers: the same parameters and MACs as apart")
    decoder(b, bias="bias=false")


def _mixtral(b: Build) -> None:
    def mlp(act):
        b.w.line(moe_line(b, experts_key="num_local_experts", ff_key="intermediate_size", act=act))

    decoder(b, bias="bias=false", mlp=mlp)


def _qwen2_moe(b: Build) -> None:
    f = b.f
    need("per-projection attention biases (`qkv_bias=`, `o_bias=`)", has_arg("attention", "qkv_bias"), "qwen2_moe")
    # transformers: layer i is sparse unless i is in mlp_only_layers or (i + 1) % decoder_sparse_step != 0;
    # a dense layer is the gated MLP of intermediate_size
    step = f.int("decoder_sparse_step")
    dense_layers = f.raw("mlp_only_layers")
    if not isinstance(dense_layers, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in dense_layers):
        f.fail("mlp_only_layers", "mlp_only_layers must be a list of layer indices", expected="[0, 3]", code="E0705")
    layers = f.int("num_hidden_layers")
    experts = f.int("num_experts", min=0)
    sparse = [experts > 0 and i not in dense_layers and (i + 1) % step == 0 for i in range(layers)]
    shared = f.int("shared_expert_intermediate_size")  # 0 would still leave transformers' gate: refused
    norm = f.bool("norm_topk_prob")
    ff = f.int("intermediate_size")
    if not any(sparse):  # every layer dense: the experts' settings build nothing
        f.neutral("num_experts", "num_experts_per_tok", "moe_intermediate_size")

    def mlp(act, is_sparse):
        if is_sparse:
            b.w.line(moe_line(b, experts_key="num_experts", ff_key="moe_intermediate_size", act=act, shared=shared, norm_topk=norm),
                     "sparse experts + a shared expert gated by sigmoid(linear D->1)" if shared else None)
        else:
            gated_mlp(b, f.int("hidden_size"), ff, act)

    qkv = "true" if f.bool("qkv_bias") else "false"
    decoder(b, bias=f"qkv_bias={qkv} o_bias=false", mlp=mlp, layer_kinds=sparse)


_HD = {"head_dim": lambda f: f.int("hidden_size") // f.int("num_attention_heads")}
_KV = {"num_key_value_heads": lambda f: f.int("num_attention_heads")}

MODELS = [
    ModelType(
        "llama", _archs("Llama"), _llama,
        dict(vocab_size=32000, hidden_size=4096, intermediate_size=11008, num_hidden_layers=32, num_attention_heads=32,
             hidden_act="silu", rms_norm_eps=1e-6, tie_word_embeddings=False, attention_bias=False, mlp_bias=False, **_HD, **_KV),
        neutral=DECODER_NEUTRAL, summary="Llama 1/2/3, TinyLlama, Vicuna, CodeLlama ...",
    ),
    ModelType(
        "mistral", _archs("Mistral"), _mistral,
        dict(vocab_size=32000, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
             num_key_value_heads=8, hidden_act="silu", rms_norm_eps=1e-6, tie_word_embeddings=False, **_HD),
        neutral=DECODER_NEUTRAL, summary="Mistral 7B and its fine-tunes",
    ),
    ModelType(
        "mixtral", _archs("Mixtral"), _mixtral,
        dict(vocab_size=32000, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
             num_key_value_heads=8, hidden_act="silu", rms_norm_eps=1e-5, tie_word_embeddings=False,
             num_experts_per_tok=2, num_local_experts=8, **_HD),
        aliases={"num_local_experts": "num_experts"}, neutral=DECODER_NEUTRAL, summary="Mixtral 8x7B, 8x22B",
    ),
    ModelType(
        "qwen2", _archs("Qwen2"), _qwen2,
        dict(vocab_size=151936, hidden_size=4096, intermediate_size=22016, num_hidden_layers=32, num_attention_heads=32,
             hidden_act="silu", rms_norm_eps=1e-6, tie_word_embeddings=False, **_KV, **_HD),
        neutral=DECODER_NEUTRAL, summary="Qwen2, Qwen2.5",
    ),
    ModelType(
        "qwen2_moe", _archs("Qwen2Moe"), _qwen2_moe,
        dict(vocab_size=151936, hidden_size=2048, intermediate_size=5632, num_hidden_layers=24, num_attention_heads=16,
             hidden_act="silu", rms_norm_eps=1e-6, tie_word_embeddings=False, decoder_sparse_step=1,
             moe_intermediate_size=1408, shared_expert_intermediate_size=5632, num_experts_per_tok=4, num_experts=60,
             mlp_only_layers=[], qkv_bias=True, norm_topk_prob=False, **_KV, **_HD),
        neutral=DECODER_NEUTRAL, summary="Qwen1.5-MoE, Qwen2-MoE",
    ),
    ModelType(
        "gemma", _archs("Gemma"), _gemma,
        dict(vocab_size=256000, hidden_size=3072, intermediate_size=24576, num_hidden_layers=28, num_attention_heads=16,
             num_key_value_heads=16, head_dim=256, hidden_act="gelu_pytorch_tanh", rms_norm_eps=1e-6,
             tie_word_embeddings=True, attention_bias=False),
        neutral=DECODER_NEUTRAL | {"hidden_activation"}, summary="Gemma 2B, 7B",
    ),
    ModelType(
        "gemma2", _archs("Gemma2"), _gemma2,
        dict(vocab_size=256000, hidden_size=2304, intermediate_size=9216, num_hidden_layers=26, num_attention_heads=8,
             num_key_value_heads=4, head_dim=256, hidden_activation="gelu_pytorch_tanh", rms_norm_eps=1e-6,
             tie_word_embeddings=True, attention_bias=False),
        neutral=DECODER_NEUTRAL | {"hidden_act"}, summary="Gemma 2",
    ),
    ModelType(
        "phi3", _archs("Phi3"), _phi3,
        dict(vocab_size=32064, hidden_size=3072, intermediate_size=8192, num_hidden_layers=32, num_attention_heads=32,
             hidden_act="silu", rms_norm_eps=1e-5, tie_word_embeddings=False, **_KV, **_HD),
        neutral=DECODER_NEUTRAL, summary="Phi-3, Phi-3.5 mini/medium",
    ),
]
