"""GPT-style decoders with LayerNorm and a plain MLP: gpt2, gpt_neox (Pythia), phi (Phi-1/2), falcon.
Some run attention and MLP in parallel from the same input: x + attn(ln(x)) + mlp(ln(x))."""

from __future__ import annotations

from .common import Build, ModelType, activation, emit_activation, eps, num_labels, tied_linear
from .decoders import ROPE

GPT_NEUTRAL = frozenset(
    ROPE
    + (
        "resid_pdrop", "embd_pdrop", "attn_pdrop", "attention_dropout", "hidden_dropout", "classifier_dropout",
        "scale_attn_weights", "scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn", "summary_type",
        "summary_use_proj", "summary_activation", "summary_proj_to_labels", "summary_first_dropout",
        "summary_last_dropout", "rotary_pct", "rotary_emb_base", "rotary_dim", "is_decoder", "use_parallel_residual",
        "max_position_embeddings", "n_ctx",
    )
)


def _mlp(b: Build, d: int, ff: int, act, names=("fc1", "fc2"), bias: bool = True) -> None:
    w = b.w
    bias_text = "" if bias else " bias=false"
    with w.block("block mlp"):
        w.line(f"linear {ff}{bias_text} name={names[0]}")
        emit_activation(w, act)
        w.line(f"linear {d}{bias_text} name={names[1]}")


def _heads(b: Build, d: int, heads: int) -> None:
    if d % heads:
        b.f.fail("num_attention_heads", f"hidden size {d} is not divisible by {heads} heads", code="E0705")


def _lm_head(b: Build, vocab: int, *, bias: bool, name: str, tie_target: str) -> None:
    tie = b.f.bool("tie_word_embeddings")
    tied_linear(b, vocab, bias=bias, name=name, tie=tie_target if tie else None)


def _gpt2(b: Build) -> None:
    f, w = b.f, b.w
    f.expect("add_cross_attention", lambda v: v is False, "false (no cross-attention)")
    d = f.int("hidden_size")
    vocab = f.int("vocab_size")
    positions = f.int("max_position_embeddings")
    layers = f.int("num_hidden_layers")
    heads = f.int("num_attention_heads")
    inner = f.int("n_inner", optional=True) or 4 * d
    act = activation(f, "activation_function")
    ln = f"layernorm {eps(f.float('layer_norm_epsilon'))}"
    _heads(b, d, heads)
    w.comment("Conv1D layers of transformers are linear layers with transposed weights: the same counts")
    w.line(f"let L = {positions}", "sequence length: --set L=... (learned positions need a value)")
    w.line("input input_ids L dtype=int64")
    with w.block("block transformer"):
        w.line(f"embedding {vocab} {d} name=wte")
        w.line(f"posemb {positions} name=wpe")
        with w.block(f"repeat {layers}", "transformer.h.0 ..."):
            with w.block("residual"):
                w.line(f"{ln} name=ln_1")
                w.line(f"attention heads={heads} causal=true name=attn", "c_attn (q, k, v) and c_proj, with biases")
            with w.block("residual"):
                w.line(f"{ln} name=ln_2")
                _mlp(b, d, inner, act, names=("c_fc", "c_proj"))
        w.line(f"{ln} name=ln_f")
    if b.head == "causal-lm":
        _lm_head(b, vocab, bias=False, name="lm_head", tie_target="wte")
    elif b.head == "classifier":
        w.line(f"linear {num_labels(f)} bias=false name=score")
        w.line("select dim=1 index=-1", "the last token's scores (transformers picks the last non-padding token)")


def _gpt_neox(b: Build) -> None:
    f, w = b.f, b.w
    d = f.int("hidden_size")
    vocab = f.int("vocab_size")
    layers = f.int("num_hidden_layers")
    heads = f.int("num_attention_heads")
    ff = f.int("intermediate_size")
    act = activation(f, "hidden_act")
    ln = f"layernorm {eps(f.float('layer_norm_eps'))}"
    bias = "true" if f.bool("attention_bias") else "false"
    parallel = f.bool("use_parallel_residual")
    _heads(b, d, heads)
    attn = f"attention heads={heads} bias={bias} causal=true rope=true name=attention"
    w.line("input input_ids L dtype=int64", "token ids; --set L=... for numbers")
    with w.block("block gpt_neox"):
        w.line(f"embedding {vocab} {d} name=embed_in")
        with w.block(f"repeat {layers}", "gpt_neox.layers.0 ..."):
            if parallel:
                with w.block("add", "x + attention(ln1(x)) + mlp(ln2(x))"):
                    w.line("branch: identity")
                    with w.block("branch"):
                        w.line(f"{ln} name=input_layernorm")
                        w.line(attn)
                    with w.block("branch"):
                        w.line(f"{ln} name=post_attention_layernorm")
                        _mlp(b, d, ff, act, names=("dense_h_to_4h", "dense_4h_to_h"))
            else:
                with w.block("residual"):
                    w.line(f"{ln} name=input_layernorm")
                    w.line(attn)
                with w.block("residual"):
                    w.line(f"{ln} name=post_attention_layernorm")
                    _mlp(b, d, ff, act, names=("dense_h_to_4h", "dense_4h_to_h"))
        w.line(f"{ln} name=final_layer_norm")
    if b.head == "causal-lm":
        _lm_head(b, vocab, bias=False, name="embed_out", tie_target="embed_in")
    elif b.head == "classifier":
        w.line(f"linear {num_labels(f)} bias=false name=score")
        w.line("select dim=1 index=-1", "the last token's scores (transformers picks the last non-padding token)")


def _phi(b: Build) -> None:
    f, w = b.f, b.w
    f.expect("qk_layernorm", lambda v: v is False, "false (a LayerNorm on q and k per head has no spec line yet)")
    d = f.int("hidden_size")
    vocab = f.int("vocab_size")
    layers = f.int("num_hidden_layers")
    heads = f.int("num_attention_heads")
    kv = f.int("num_key_value_heads", optional=True) or heads
    ff = f.int("intermediate_size")
    act = activation(f, "hidden_act")
    ln = f"layernorm {eps(f.float('layer_norm_eps'))}"
    _heads(b, d, heads)
    if heads % kv:
        f.fail("num_key_value_heads", f"{heads} heads are not a multiple of {kv} key/value heads", code="E0705")
    kv_text = f" kv_heads={kv}" if kv != heads else ""
    w.line("input input_ids L dtype=int64", "token ids; --set L=... for numbers")
    with w.block("block model"):
        w.line(f"embedding {vocab} {d} name=embed_tokens")
        with w.block(f"repeat {layers}", "model.layers.0 ..."):
            with w.block("residual", "x + attention(ln(x)) + mlp(ln(x)): one LayerNorm, two parallel paths"):
                w.line(f"{ln} name=input_layernorm")
                with w.block("add"):
                    w.line(f"branch: attention heads={heads}{kv_text} causal=true rope=true name=self_attn",
                           "rope on partial_rotary_factor of each head")
                    with w.block("branch"):
                        _mlp(b, d, ff, act)
        w.line(f"{ln} name=final_layernorm")
    if b.head == "causal-lm":
        _lm_head(b, vocab, bias=True, name="lm_head", tie_target="embed_tokens")
    elif b.head == "classifier":
        w.line(f"linear {num_labels(f)} bias=false name=score")
        w.line("select dim=1 index=-1", "the last token's scores (transformers picks the last non-padding token)")


def _falcon(b: Build) -> None:
    f, w = b.f, b.w
    f.expect("apply_residual_connection_post_layernorm", lambda v: v is False, "false", default=False)
    d = f.int("hidden_size")
    vocab = f.int("vocab_size")
    layers = f.int("num_hidden_layers")
    heads = f.int("num_attention_heads")
    ff = f.int("ffn_hidden_size", optional=True) or 4 * d
    act = activation(f, "activation")
    ln = f"layernorm {eps(f.float('layer_norm_epsilon'))}"
    bias = "true" if f.bool("bias") else "false"
    new_arch = f.bool("new_decoder_architecture")
    parallel = f.bool("parallel_attn")
    alibi = f.bool("alibi")
    multi_query = f.bool("multi_query")
    _heads(b, d, heads)
    if new_arch:
        kv = f.int("num_kv_heads", optional=True) or heads
        n_ln = f.int("num_ln_in_parallel_attn", optional=True) or 2
        if n_ln not in (1, 2) or (n_ln == 1 and not parallel):
            f.fail("num_ln_in_parallel_attn", "falcon: num_ln_in_parallel_attn must be 1 (with parallel_attn) or 2", code="E0704")
    else:
        f.neutral("num_kv_heads", "num_ln_in_parallel_attn")
        kv = 1 if multi_query else heads
        n_ln = 1
    if heads % kv:
        f.fail("num_kv_heads", f"{heads} heads are not a multiple of {kv} key/value heads", code="E0705")
    kv_text = f" kv_heads={kv}" if kv != heads else ""
    position = "" if alibi else " rope=true"
    attn = f"attention heads={heads}{kv_text} bias={bias} causal=true{position} name=self_attention"
    w.line("input input_ids L dtype=int64", "token ids; --set L=... for numbers")
    if alibi:
        w.comment("ALiBi: a linear bias added to the attention scores, no parameters and no MACs")
    with w.block("block transformer"):
        w.line(f"embedding {vocab} {d} name=word_embeddings")
        with w.block(f"repeat {layers}", "transformer.h.0 ..."):
            mlp = lambda: _mlp(b, d, ff, act, names=("dense_h_to_4h", "dense_4h_to_h"), bias=bias == "true")  # noqa: E731
            if n_ln == 2:
                with w.block("add", "x + attention(ln_attn(x)) + mlp(ln_mlp(x))"):
                    w.line("branch: identity")
                    with w.block("branch"):
                        w.line(f"{ln} name=ln_attn")
                        w.line(attn)
                    with w.block("branch"):
                        w.line(f"{ln} name=ln_mlp")
                        mlp()
            elif parallel or new_arch:
                with w.block("residual", "x + attention(ln(x)) + mlp(ln(x))"):
                    w.line(f"{ln} name=input_layernorm")
                    with w.block("add"):
                        w.line(f"branch: {attn}")
                        with w.block("branch"):
                            mlp()
            else:
                with w.block("residual"):
                    w.line(f"{ln} name=input_layernorm")
                    w.line(attn)
                with w.block("residual"):
                    w.line(f"{ln} name=post_attention_layernorm")
                    mlp()
        w.line(f"{ln} name=ln_f")
    if b.head == "causal-lm":
        _lm_head(b, vocab, bias=False, name="lm_head", tie_target="word_embeddings")
    elif b.head == "classifier":
        w.line(f"linear {num_labels(f)} bias=false name=score")
        w.line("select dim=1 index=-1", "the last token's scores (transformers picks the last non-padding token)")


def _archs(prefix: str, model: str = "Model", lm: str = "ForCausalLM") -> dict[str, str]:
    return {prefix + model: "base", prefix + lm: "causal-lm", prefix + "ForSequenceClassification": "classifier"}


MODELS = [
    ModelType(
        "gpt2", {"GPT2Model": "base", "GPT2LMHeadModel": "causal-lm", "GPT2ForSequenceClassification": "classifier"}, _gpt2,
        dict(vocab_size=50257, max_position_embeddings=1024, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
             n_inner=None, activation_function="gelu_new", layer_norm_epsilon=1e-5, add_cross_attention=False,
             tie_word_embeddings=True),
        aliases={"hidden_size": "n_embd", "max_position_embeddings": "n_positions", "num_attention_heads": "n_head",
                 "num_hidden_layers": "n_layer"},
        neutral=GPT_NEUTRAL, summary="GPT-2 (small ... xl), DistilGPT2",
    ),
    ModelType(
        "gpt_neox", _archs("GPTNeoX"), _gpt_neox,
        dict(vocab_size=50432, hidden_size=6144, num_hidden_layers=44, num_attention_heads=64, intermediate_size=24576,
             hidden_act="gelu", layer_norm_eps=1e-5, tie_word_embeddings=False, use_parallel_residual=True,
             attention_bias=True),
        neutral=GPT_NEUTRAL, summary="GPT-NeoX-20B, Pythia",
    ),
    ModelType(
        "phi", _archs("Phi"), _phi,
        dict(vocab_size=51200, hidden_size=2048, intermediate_size=8192, num_hidden_layers=24, num_attention_heads=32,
             num_key_value_heads=None, hidden_act="gelu_new", layer_norm_eps=1e-5, tie_word_embeddings=False,
             qk_layernorm=False),
        neutral=GPT_NEUTRAL, summary="Phi-1, Phi-1.5, Phi-2",
    ),
    ModelType(
        "falcon", _archs("Falcon"), _falcon,
        dict(vocab_size=65024, hidden_size=4544, num_hidden_layers=32, num_attention_heads=71, num_ln_in_parallel_attn=None,
             layer_norm_epsilon=1e-5, num_kv_heads=None, alibi=False, new_decoder_architecture=False, multi_query=True,
             parallel_attn=True, bias=False, ffn_hidden_size=None, activation="gelu", tie_word_embeddings=True),
        aliases={"num_attention_heads": "n_head", "num_hidden_layers": "n_layer"},
        neutral=GPT_NEUTRAL, summary="Falcon 7B/40B/180B",
    ),
]
