"""`nnshape import hf`: a HuggingFace config.json -> spec text. Pure JSON reading: neither
transformers nor a download is needed, and the file is treated as untrusted data (config.py)."""

from __future__ import annotations

import os

from .config import Fields, identifier, read_config
from .errors import ImportFailure
from .hf_models import HEADS, MODEL_TYPES, Build
from .writer import SpecWriter, comment_text


def supported() -> str:
    return ", ".join(sorted(MODEL_TYPES))


def _model_type(data: dict, source):
    from .config import locate

    value = data.get("model_type")
    if value is None:
        raise ImportFailure(
            "the config has no model_type",
            expected=f"one of {supported()}",
            hint="is this a model's config.json? (a tokenizer or generation config has none)",
            code="E0702",
        ).with_source(source)
    if not identifier(value) or value not in MODEL_TYPES:
        shown = value if identifier(value) else comment_text(repr(value)[:40])
        raise ImportFailure(
            f"nnshape cannot import model_type {shown!r}",
            locate(source, "model_type"),
            expected=f"one of {supported()}",
            found=shown,
            hint="`nnshape import hf --list` shows what each type covers",
            code="E0702",
        ).with_source(source)
    return MODEL_TYPES[value]


def _head(model, data: dict, source, head: str | None) -> tuple[str, str]:
    """(head, where it came from): --head wins, else architectures[0]."""
    from .config import locate

    archs = data.get("architectures")
    if head is not None:
        if head not in HEADS:
            raise ImportFailure(f"unknown head {head!r}", expected=", ".join(HEADS), found=head, code="E0707")
        if head not in model.heads:
            raise ImportFailure(
                f"{model.name}: nnshape has no {head} head for this model type",
                expected=", ".join(model.heads),
                found=head,
                code="E0707",
            ).with_source(source)
        return head, f"--head {head}"
    if archs is None:
        raise ImportFailure(
            f"{model.name}: the config names no architectures, so the head is not known",
            expected="--head " + "|".join(model.heads),
            hint="pass --head (base is the bare model)",
            code="E0707",
        ).with_source(source)
    if not isinstance(archs, list) or not archs or not all(identifier(a) for a in archs):
        raise ImportFailure(
            "architectures must be a list of class names", locate(source, "architectures"),
            expected='["LlamaForCausalLM"]', code="E0705",
        ).with_source(source)
    arch = archs[0]
    if arch not in model.architectures:
        raise ImportFailure(
            f"{model.name}: nnshape cannot import the architecture {arch}",
            locate(source, "architectures"),
            expected=", ".join(model.architectures),
            found=arch,
            hint="pass --head " + "|".join(model.heads) + " to import one of those instead",
            code="E0707",
        ).with_source(source)
    return model.architectures[arch], f"architectures[0] = {arch}"


def import_hf(config: str | os.PathLike | dict, *, head: str | None = None, ignore=(), check: bool = True) -> str:
    """Spec text for a HuggingFace config (a config.json path, its directory, or a dict).

    ``head`` is base | causal-lm | masked-lm | classifier | seq2seq-lm | encoder (default: from ``architectures[0]``);
    ``ignore`` names fields the caller vouches change no count. With ``check`` the written spec is
    analyzed once, so a spec nnshape would reject is never handed out.
    """
    data, source = read_config(config)
    model = _model_type(data, source)
    chosen, why = _head(model, data, source, head)
    fields = Fields(data, source, model.name, model.defaults, model.aliases)
    fields.neutral(*model.neutral)
    if "is_encoder_decoder" not in model.neutral:  # an encoder-decoder type writes both halves
        fields.expect("is_encoder_decoder", lambda v: v is False, "false (a decoder-only or encoder-only model)", default=False)
    if chosen not in ("causal-lm", "masked-lm", "seq2seq-lm"):
        fields.neutral("tie_word_embeddings")  # no output projection to tie
    writer = SpecWriter()
    writer.comment(f"nnshape import hf {source.name}")
    writer.comment(f"model_type {model.name}, head {chosen} ({why})")
    try:
        model.build(Build(fields, chosen, writer, model))
        fields.finish(frozenset(str(k) for k in ignore))
        text = writer.text()
        if check:
            check_spec(text, f"{model.name} ({chosen})")
    except ImportFailure as err:
        raise err.with_source(source) from None
    return text


def check_spec(text: str, what: str) -> None:
    """The written spec must analyze: anything else is reported, never written."""
    from ..api import summarize
    from ..errors import NNShapeError

    try:
        summarize(text)
    except NNShapeError as err:
        raise ImportFailure(
            f"the spec written for {what} does not analyze: [{err.code}] {err.message}",
            found=err.found,
            notes=tuple(str(err).splitlines()[:3]),
            hint="the config's sizes are out of nnshape's range, or this is a bug in the importer (please report it)",
            code="E0709",
        ) from None


def list_types() -> list[tuple[str, str, str]]:
    """(model_type, heads, what it covers) for `--list` and the docs."""
    return [(m.name, ", ".join(m.heads), m.summary) for m in sorted(MODEL_TYPES.values(), key=lambda m: m.name)]
