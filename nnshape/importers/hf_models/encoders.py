"""BERT-style encoders: learned positions, post-norm blocks (bert, roberta, distilbert, albert)."""

from __future__ import annotations

from .common import Build, ModelType, activation, emit_activation, eps, num_labels, tied_linear

ENCODER_NEUTRAL = frozenset(
    (
        "hidden_dropout_prob", "attention_probs_dropout_prob", "classifier_dropout", "is_decoder",
        "gradient_checkpointing", "dropout", "attention_dropout", "qa_dropout", "seq_classif_dropout",
        "output_past", "tie_weights_",
    )
)


def _check_encoder(b: Build) -> None:
    f = b.f
    f.expect("add_cross_attention", lambda v: v is False, "false (an encoder without cross-attention)", default=False)
    f.expect("position_embedding_type", lambda v: v in ("absolute", None), "'absolute'", default="absolute")


def encoder_layers(b: Build, *, d: int, heads: int, ff: int, layers: int, act: str | None, ln_eps: float,
                   names=("attention", "attention_layernorm", "intermediate", "output", "output_layernorm")) -> None:
    """Post-norm blocks: LN(x + attention(x)), LN(x + W2·act(W1·x))."""
    w = b.w
    attn, attn_ln, inter, out, out_ln = names
    if d % heads:
        b.f.fail("num_attention_heads", f"hidden size {d} is not divisible by {heads} heads", code="E0705")
    with w.block(f"repeat {layers}", "encoder.layer.0 ..."):
        with w.block("residual"):
            w.line(f"attention heads={heads} name={attn}")
        w.line(f"layernorm {eps(ln_eps)} name={attn_ln}")
        with w.block("residual"):
            w.line(f"linear {ff} name={inter}")
            emit_activation(w, act)
            w.line(f"linear {d} name={out}")
        w.line(f"layernorm {eps(ln_eps)} name={out_ln}")


def _bert_like(b: Build, kind: str) -> None:
    f, w = b.f, b.w
    _check_encoder(b)
    d = f.int("hidden_size")
    vocab = f.int("vocab_size")
    positions = f.int("max_position_embeddings")
    types = f.int("type_vocab_size")
    heads = f.int("num_attention_heads")
    ff = f.int("intermediate_size")
    layers = f.int("num_hidden_layers")
    ln_eps = f.float("layer_norm_eps")
    act = activation(f, "hidden_act")
    tie = f.bool("tie_word_embeddings")
    prefix = kind  # bert / roberta: the base model's attribute name
    # RoBERTa numbers positions from padding_idx + 1: max_position_embeddings - pad - 1 tokens fit
    longest = positions if kind == "bert" else positions - f.int("pad_token_id", min=0) - 1
    if longest < 1:
        f.fail("max_position_embeddings", "no position is left after the padding index", code="E0705")
    w.line(f"let L = {longest}", "sequence length: --set L=... (learned positions need a value)")
    w.line("input input_ids L dtype=int64")
    w.line("input token_type_ids L dtype=int64", "segment ids (zeros when not given)")
    pooled = b.head in ("base", "classifier") and kind == "bert" or b.head == "base"
    with w.block(f"from input_ids as {'last_hidden_state' if b.head == 'base' else 'hidden'}", prefix):
        with w.block("block embeddings"):
            with w.block("add"):
                w.line(f"branch: embedding {vocab} {d} name=word_embeddings")
                with w.block("branch"):
                    with w.block("from token_type_ids"):
                        w.line(f"embedding {types} {d} name=token_type_embeddings")
            note = None if kind == "bert" else "positions count from padding_idx + 1"
            w.line(f"posemb {positions} name=position_embeddings", note)
            w.line(f"layernorm {eps(ln_eps)} name=LayerNorm")
        with w.block("block encoder"):
            encoder_layers(b, d=d, heads=heads, ff=ff, layers=layers, act=act, ln_eps=ln_eps)
    if pooled:
        with w.block("block pooler", "the first token, dense + tanh"):
            w.line("select dim=1 index=0")
            w.line(f"linear {d} name=dense")
            w.line("tanh")
    if b.head == "base":
        w.line("output last_hidden_state", "the pooler is computed (and counted) too")
    elif b.head == "masked-lm":
        if not tie:
            f.fail("tie_word_embeddings", f"{kind} masked-lm with tie_word_embeddings=false: transformers keeps an unused "
                   "bias vector beside the decoder's, which no spec line can hold", code="E0704")
        with w.block("block lm_head"):
            w.line(f"linear {d} name=dense")
            emit_activation(w, act if kind == "bert" else "gelu")
            w.line(f"layernorm {eps(ln_eps)} name=layer_norm")
            tied_linear(b, vocab, bias=True, name="decoder", tie="word_embeddings" if tie else None)
    elif b.head == "classifier":
        labels = num_labels(f)
        if kind == "bert":
            w.line(f"linear {labels} name=classifier")
        else:
            with w.block("block classifier", "the <s> token, dense + tanh, out_proj"):
                w.line("select dim=1 index=0")
                w.line(f"linear {d} name=dense")
                w.line("tanh")
                w.line(f"linear {labels} name=out_proj")


def _bert(b: Build) -> None:
    _bert_like(b, "bert")


def _roberta(b: Build) -> None:
    _bert_like(b, "roberta")


def _distilbert(b: Build) -> None:
    f, w = b.f, b.w
    d = f.int("hidden_size")
    vocab = f.int("vocab_size")
    positions = f.int("max_position_embeddings")
    heads = f.int("num_attention_heads")
    ff = f.int("hidden_dim")
    layers = f.int("num_hidden_layers")
    act = activation(f, "activation")
    sinusoidal = f.bool("sinusoidal_pos_embds")
    tie = f.bool("tie_word_embeddings")
    w.line(f"let L = {positions}", "sequence length: --set L=... (learned positions need a value)")
    w.line("input input_ids L dtype=int64")
    with w.block(f"from input_ids as {'last_hidden_state' if b.head == 'base' else 'hidden'}", "distilbert"):
        with w.block("block embeddings"):
            w.line(f"embedding {vocab} {d} name=word_embeddings")
            if sinusoidal:
                w.line(f"posemb {positions} trainable=false name=position_embeddings", "a fixed sinusoidal table, stored as a frozen parameter")
            else:
                w.line(f"posemb {positions} name=position_embeddings")
            w.line("layernorm eps=1e-12 name=LayerNorm")
        with w.block("block transformer"):
            encoder_layers(b, d=d, heads=heads, ff=ff, layers=layers, act=act, ln_eps=1e-12,
                           names=("attention", "sa_layer_norm", "lin1", "lin2", "output_layer_norm"))
    if b.head == "base":
        w.line("output last_hidden_state")
    elif b.head == "masked-lm":
        w.line(f"linear {d} name=vocab_transform")
        emit_activation(w, act)
        w.line("layernorm eps=1e-12 name=vocab_layer_norm")
        tied_linear(b, vocab, bias=True, name="vocab_projector", tie="word_embeddings" if tie else None)
    elif b.head == "classifier":
        w.line("select dim=1 index=0", "the [CLS] token")
        w.line(f"linear {d} name=pre_classifier")
        w.line("relu")
        w.line(f"linear {num_labels(f)} name=classifier")


def _albert(b: Build) -> None:
    """ALBERT: a factorized embedding (E, projected to the hidden size) and groups of layers whose
    weights every pass of the group shares (``repeat N shared:``)."""
    f, w = b.f, b.w
    _check_encoder(b)
    d, e = f.int("hidden_size"), f.int("embedding_size")
    vocab = f.int("vocab_size")
    positions = f.int("max_position_embeddings")
    heads = f.int("num_attention_heads")
    layers, groups, inner = f.int("num_hidden_layers"), f.int("num_hidden_groups"), f.int("inner_group_num")
    ln_eps = f.float("layer_norm_eps")
    act = activation(f, "hidden_act")
    tie = f.bool("tie_word_embeddings")
    if layers % groups:
        # transformers applies group int(i / (layers / groups)) at layer i: uneven runs
        f.fail("num_hidden_groups", f"{layers} layers do not split evenly into {groups} groups", code="E0704")
    if d % heads:
        f.fail("num_attention_heads", f"hidden size {d} is not divisible by {heads} heads", code="E0705")
    w.line(f"let L = {positions}", "sequence length: --set L=... (learned positions need a value)")
    w.line("input input_ids L dtype=int64")
    w.line("input token_type_ids L dtype=int64", "segment ids (zeros when not given)")
    with w.block(f"from input_ids as {'last_hidden_state' if b.head == 'base' else 'hidden'}", "albert"):
        with w.block("block embeddings"):
            with w.block("add"):
                w.line(f"branch: embedding {vocab} {e} name=word_embeddings")
                with w.block("branch"):
                    with w.block("from token_type_ids"):
                        w.line(f"embedding {f.int('type_vocab_size')} {e} name=token_type_embeddings")
            w.line(f"posemb {positions} name=position_embeddings")
            w.line(f"layernorm {eps(ln_eps)} name=LayerNorm")
        with w.block("block encoder"):
            w.line(f"linear {d} name=embedding_hidden_mapping_in")
            for g in range(groups):
                with w.block(f"repeat {layers // groups} shared", f"albert_layer_groups.{g}: one set of weights"):
                    for i in range(inner):
                        with w.block(f"block albert_layers_{i}" if inner > 1 else "block albert_layers_0"):
                            with w.block("residual"):
                                w.line(f"attention heads={heads} name=attention", "q, k, v, dense; the LayerNorm after the sum")
                            w.line(f"layernorm {eps(ln_eps)} name=attention_LayerNorm")
                            with w.block("residual"):
                                w.line(f"linear {f.int('intermediate_size')} name=ffn")
                                emit_activation(w, act)
                                w.line(f"linear {d} name=ffn_output")
                            w.line(f"layernorm {eps(ln_eps)} name=full_layer_layer_norm")
    if b.head in ("base", "classifier"):
        with w.block(f"from {'last_hidden_state' if b.head == 'base' else 'hidden'} as pooled", "the first token, pooler + tanh"):
            w.line("select dim=1 index=0")
            w.line(f"linear {d} name=pooler")
            w.line("tanh")
    if b.head == "base":
        w.line("output last_hidden_state, pooled")
    elif b.head == "masked-lm":
        with w.block("block predictions"):
            w.line(f"linear {e} name=dense")
            emit_activation(w, act)
            w.line(f"layernorm {eps(ln_eps)} name=LayerNorm")
            tied_linear(b, vocab, bias=True, name="decoder", tie="word_embeddings" if tie else None)
    elif b.head == "classifier":
        w.line(f"linear {num_labels(f)} name=classifier")


_BERT_DEFAULTS = dict(
    pad_token_id=0, vocab_size=30522, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
    hidden_act="gelu", max_position_embeddings=512, type_vocab_size=2, layer_norm_eps=1e-12, tie_word_embeddings=True,
)

MODELS = [
    ModelType(
        "bert",
        {"BertModel": "base", "BertForMaskedLM": "masked-lm", "BertForSequenceClassification": "classifier"},
        _bert, _BERT_DEFAULTS, neutral=ENCODER_NEUTRAL, summary="BERT, its fine-tunes (base, large, multilingual ...)",
    ),
    ModelType(
        "roberta",
        {"RobertaModel": "base", "RobertaForMaskedLM": "masked-lm", "RobertaForSequenceClassification": "classifier"},
        _roberta, dict(_BERT_DEFAULTS, vocab_size=50265, pad_token_id=1), neutral=ENCODER_NEUTRAL, summary="RoBERTa, and models that reuse it",
    ),
    ModelType(
        "distilbert",
        {"DistilBertModel": "base", "DistilBertForMaskedLM": "masked-lm", "DistilBertForSequenceClassification": "classifier"},
        _distilbert,
        dict(vocab_size=30522, max_position_embeddings=512, sinusoidal_pos_embds=False, num_hidden_layers=6,
             num_attention_heads=12, hidden_size=768, hidden_dim=3072, activation="gelu", tie_word_embeddings=True),
        aliases={"hidden_size": "dim", "num_attention_heads": "n_heads", "num_hidden_layers": "n_layers"},
        neutral=ENCODER_NEUTRAL, summary="DistilBERT",
    ),
    ModelType(
        "albert",
        {"AlbertModel": "base", "AlbertForMaskedLM": "masked-lm", "AlbertForSequenceClassification": "classifier"},
        _albert,
        dict(vocab_size=30000, embedding_size=128, hidden_size=4096, num_hidden_layers=12, num_hidden_groups=1,
             num_attention_heads=64, intermediate_size=16384, inner_group_num=1, hidden_act="gelu_new",
             max_position_embeddings=512, type_vocab_size=2, layer_norm_eps=1e-12, tie_word_embeddings=True),
        neutral=ENCODER_NEUTRAL | {"classifier_dropout_prob"}, summary="ALBERT (shared layers)",
    ),
]
