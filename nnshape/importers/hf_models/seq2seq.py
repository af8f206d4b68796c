"""Encoder-decoder models: T5 (relative position buckets, a shared embedding, cross-attention)
and Whisper's audio encoder."""

from __future__ import annotations

from .common import ACTIVATIONS, Build, ModelType, emit_activation, eps, tied_linear

T5_NEUTRAL = frozenset(
    (
        "dropout_rate", "initializer_factor", "is_encoder_decoder", "use_cache", "decoder_start_token_id",
        "classifier_dropout", "is_decoder", "n_positions", "output_past", "task_specific_params",
        "dense_act_fn", "is_gated_act", "scale_decoder_outputs",
    )
)


def _t5_ff(b: Build, d: int) -> None:
    """T5LayerFF: x + wo(act(wi(ln(x)))), or gated: wo(act(wi_0(ln x)) · wi_1(ln x))."""
    f, w = b.f, b.w
    proj = f.raw("feed_forward_proj")
    parts = proj.split("-") if isinstance(proj, str) else []
    gated = len(parts) == 2 and parts[0] == "gated"
    name = parts[-1] if len(parts) in (1, 2) and (len(parts) == 1 or gated) else None
    if proj == "gated-gelu":
        name = "gelu_new"  # transformers' special case
    if name not in ACTIVATIONS or ACTIVATIONS[name] is None:
        f.fail("feed_forward_proj", "feed_forward_proj must be ACT or gated-ACT with a known activation",
               expected="'relu', 'gated-gelu', 'gated-silu' ...", found=repr(proj)[:40], code="E0704")
    ff = f.int("d_ff")
    with w.block("residual"):
        w.line(f"rmsnorm {eps(f.float('layer_norm_epsilon'))} name=layer_norm", "T5LayerNorm: RMS, a weight, no bias")
        with w.block("block DenseReluDense"):
            if gated:
                with w.block("multiply"):
                    with w.block("branch"):
                        w.line(f"linear {ff} bias=false name=wi_0")
                        emit_activation(w, ACTIVATIONS[name])
                    w.line(f"branch: linear {ff} bias=false name=wi_1")
            else:
                w.line(f"linear {ff} bias=false name=wi")
                emit_activation(w, ACTIVATIONS[name])
            w.line(f"linear {d} bias=false name=wo")


def _t5_stack(b: Build, *, decoder: bool, layers: int) -> None:
    """A T5Stack: the embedding (the shared table), blocks, the final norm. Only block 0 holds the
    relative position table; the later blocks reuse its bias (no parameters, no MACs)."""
    f, w = b.f, b.w
    d, heads, d_kv = f.int("d_model"), f.int("num_heads"), f.int("d_kv")
    norm = f"rmsnorm {eps(f.float('layer_norm_epsilon'))} name=layer_norm"
    attn = f"attention heads={heads} bias=false"
    if heads * d_kv != d:
        attn += f" head_dim={d_kv}"
    cross = attn  # cross-attention: no mask, no position table
    if decoder:
        attn += " causal=true"
    buckets, distance = f.int("relative_attention_num_buckets"), f.int("relative_attention_max_distance")
    rel = f" rel_pos={buckets}" + (f" max_distance={distance}" if distance != 128 else "")
    if decoder:
        w.line(f"embedding {f.int('vocab_size')} {d} tie=shared name=embed_tokens", "decoder.embed_tokens is shared")
    else:
        w.line(f"embedding {f.int('vocab_size')} {d} name=shared", "shared (encoder.embed_tokens)")

    def block(first: bool) -> None:
        with w.block("residual"):
            w.line(norm)
            w.line(f"{attn}{rel if first else ''} name=SelfAttention")
        if decoder:
            with w.block("residual"):
                w.line(norm)
                w.line(f"{cross} kv=encoder_last_hidden_state name=EncDecAttention")
        _t5_ff(b, d)

    with w.block("block block_0", f"{'decoder' if decoder else 'encoder'}.block.0: the relative position table"):
        block(True)
    if layers > 1:
        with w.block(f"repeat {layers - 1}", "block.1 ...: the bias of block 0 again"):
            block(False)
    w.line(f"rmsnorm {eps(f.float('layer_norm_epsilon'))} name=final_layer_norm")


def _t5(b: Build) -> None:
    f, w = b.f, b.w
    f.raw("tie_word_embeddings", None)  # transformers 5 ties the head whatever it says (below)
    w.line("input input_ids L dtype=int64", "encoder token ids; --set L=... for numbers")
    if b.head != "encoder":
        w.line("input decoder_input_ids T dtype=int64", "decoder token ids; --set T=...")
    with w.block("from input_ids as encoder_last_hidden_state"):
        with w.block("block encoder"):
            _t5_stack(b, decoder=False, layers=f.int("num_layers"))
    decoder_layers = f.int("num_decoder_layers", optional=True) or f.int("num_layers")
    if b.head == "encoder":
        return
    with w.block("from decoder_input_ids"):
        with w.block("block decoder"):
            _t5_stack(b, decoder=True, layers=decoder_layers)
        if b.head == "seq2seq-lm":
            scaled = f.raw("tie_word_embeddings", None) is not False
            if scaled:
                w.comment("scaled by d_model ** -0.5 before the head: elementwise, no count")
            tied_linear(b, f.int("vocab_size"), bias=False, name="lm_head", tie="shared",
                        comment="lm_head.weight is shared.weight (transformers ties it)")


MODELS = [
    ModelType(
        "t5",
        {"T5Model": "base", "T5ForConditionalGeneration": "seq2seq-lm", "T5EncoderModel": "encoder"},
        _t5,
        dict(vocab_size=32128, d_model=512, d_kv=64, d_ff=2048, num_layers=6, num_decoder_layers=None, num_heads=8,
             relative_attention_num_buckets=32, relative_attention_max_distance=128, layer_norm_epsilon=1e-6,
             feed_forward_proj="relu", tie_word_embeddings=True),
        neutral=T5_NEUTRAL, summary="T5, T5 v1.1, Flan-T5 (base: the decoder's last hidden state)",
    ),
]


WHISPER_NEUTRAL = frozenset(
    (
        # the decoder's settings: read by the heads that write it (base, seq2seq-lm), no count for the others
        "vocab_size", "decoder_layers", "decoder_attention_heads", "decoder_ffn_dim", "max_target_positions",
        "tie_word_embeddings",
        # no count: the embedding scale is elementwise (and transformers 5 does not apply it)
        "decoder_layerdrop", "decoder_start_token_id", "scale_embedding",
        "suppress_tokens", "begin_suppress_tokens", "forced_decoder_ids", "median_filter_width", "alignment_heads",
        # training-time and generation settings
        "encoder_layerdrop", "use_cache", "is_encoder_decoder", "dropout", "attention_dropout", "activation_dropout",
        "init_std", "apply_spec_augment", "mask_time_prob", "mask_time_length", "mask_time_min_masks",
        "mask_feature_prob", "mask_feature_length", "mask_feature_min_masks", "classifier_dropout",
    )
)


def _whisper_encoder(b: Build, act: str) -> None:
    """Whisper's audio encoder: two convolutions (the second halves the frames), fixed positions
    (a frozen parameter), pre-norm blocks whose k projection has no bias."""
    f, w = b.f, b.w
    d, heads = f.int("d_model"), f.int("encoder_attention_heads")
    frames = f.int("max_source_positions")
    if d % heads:
        f.fail("encoder_attention_heads", f"d_model {d} is not divisible by {heads} heads", code="E0705")
    with w.block("block encoder"):
        w.line(f"conv1d {d} k=3 p=1 name=conv1")
        w.line(act)
        w.line(f"conv1d {d} k=3 s=2 p=1 name=conv2")
        w.line(act)
        w.line("permute 0 2 1")
        w.line(f"posemb {frames} trainable=false name=embed_positions", "sinusoidal, stored as a frozen parameter")
        with w.block(f"repeat {f.int('encoder_layers')}", "encoder.layers.0 ..."):
            with w.block("residual"):
                w.line("layernorm name=self_attn_layer_norm")
                w.line(f"attention heads={heads} k_bias=false name=self_attn")
            _whisper_mlp(w, f.int("encoder_ffn_dim"), d, act)
        w.line("layernorm name=layer_norm")


def _whisper_mlp(w, ffn: int, d: int, act: str) -> None:
    """A Whisper layer's pre-norm MLP (fc1, activation, fc2) and its residual."""
    with w.block("residual"):
        w.line("layernorm name=final_layer_norm")
        w.line(f"linear {ffn} name=fc1")
        w.line(act)
        w.line(f"linear {d} name=fc2")


def _whisper_decoder(b: Build, act: str) -> None:
    """Whisper's text decoder: learned positions, pre-norm blocks of causal self-attention,
    cross-attention to the encoder's states and an MLP (k projections without bias)."""
    f, w = b.f, b.w
    d, heads = f.int("d_model"), f.int("decoder_attention_heads")
    if d % heads:
        f.fail("decoder_attention_heads", f"d_model {d} is not divisible by {heads} heads", code="E0705")
    attn = f"attention heads={heads} k_bias=false"
    with w.block("block decoder"):
        w.line(f"embedding {f.int('vocab_size')} {d} name=embed_tokens")
        w.line(f"posemb {f.int('max_target_positions')} name=embed_positions", "learned; T <= max_target_positions")
        with w.block(f"repeat {f.int('decoder_layers')}", "decoder.layers.0 ..."):
            with w.block("residual"):
                w.line("layernorm name=self_attn_layer_norm")
                w.line(f"{attn} causal=true name=self_attn")
            with w.block("residual"):
                w.line("layernorm name=encoder_attn_layer_norm")
                w.line(f"{attn} kv=encoder_last_hidden_state name=encoder_attn")
            _whisper_mlp(w, f.int("decoder_ffn_dim"), d, act)
        w.line("layernorm name=layer_norm")


def _whisper(b: Build) -> None:
    """The encoder alone (encoder, classifier heads) or the encoder-decoder (base: the decoder's
    last hidden state; seq2seq-lm: proj_out, tied to the token embedding unless tie_word_embeddings
    is false)."""
    f, w = b.f, b.w
    frames = f.int("max_source_positions")
    act = ACTIVATIONS[f.choice("activation_function", tuple(k for k, v in ACTIVATIONS.items() if v))]
    weighted = f.bool("use_weighted_layer_sum")
    proj = f.int("classifier_proj_size")
    if weighted and b.head == "classifier":
        f.fail("use_weighted_layer_sum", "a weighted sum of every layer's states has no spec line yet", code="E0704")
    w.line(f"input input_features ({f.int('num_mel_bins')}, {2 * frames})", "log-mel frames: exactly 2 x max_source_positions")
    if b.head in ("encoder", "classifier"):
        _whisper_encoder(b, act)
    else:
        w.line(f"let T = {f.int('max_target_positions')}", "the decoder's length: --set T=... (learned positions need a value)")
        w.line("input decoder_input_ids T dtype=int64", "decoder token ids")
        with w.block("from input_features as encoder_last_hidden_state"):
            _whisper_encoder(b, act)
        with w.block("from decoder_input_ids"):
            _whisper_decoder(b, act)
            if b.head == "seq2seq-lm":
                tie = f.bool("tie_word_embeddings")
                tied_linear(b, f.int("vocab_size"), bias=False, name="proj_out", tie="embed_tokens" if tie else None,
                            comment="proj_out.weight is decoder.embed_tokens.weight" if tie else None)
    if b.head == "classifier":
        from .common import num_labels

        w.line(f"linear {proj} name=projector")
        w.line("mean 1", "the mean over the frames")
        w.line(f"linear {num_labels(f)} name=classifier")


MODELS.append(
    ModelType(
        "whisper",
        {"WhisperEncoder": "encoder", "WhisperForAudioClassification": "classifier", "WhisperModel": "base",
         "WhisperForConditionalGeneration": "seq2seq-lm"},
        _whisper,
        dict(vocab_size=51865, num_mel_bins=80, encoder_layers=4, encoder_attention_heads=6, decoder_layers=4,
             decoder_attention_heads=6, decoder_ffn_dim=1536, encoder_ffn_dim=1536, activation_function="gelu",
             d_model=384, max_source_positions=1500, max_target_positions=448, use_weighted_layer_sum=False,
             classifier_proj_size=256, tie_word_embeddings=True),
        neutral=WHISPER_NEUTRAL,
        summary="Whisper: the encoder-decoder (base, seq2seq-lm), its audio encoder (--head encoder) and audio classifier",
    )
)
