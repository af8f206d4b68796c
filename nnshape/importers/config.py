"""A HuggingFace config.json read as untrusted data: bounded, validated, every field accounted for.

The file comes from a model hub or a pull request, so nothing in it runs or reaches the written
spec unchecked: the size and nesting are bounded, numbers must be finite and in range, names must
be plain identifiers, and a field that no rule reads (and that is not known to leave the counts
alone) is an error naming it, never a silent guess.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any, Callable

from ..limits import MAX_CONFIG_BYTES, MAX_CONFIG_DEPTH, MAX_CONFIG_INT
from ..source import Source, Span
from .errors import ImportFailure

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}\Z")

# Fields of transformers' PretrainedConfig (and of the files save_pretrained writes) that describe
# tokens, generation, training or bookkeeping: none changes a shape, a parameter or a MAC.
COMMON_NEUTRAL = frozenset(
    """
    _name_or_path _commit_hash _attn_implementation _attn_implementation_autoset _attn_implementation_internal
    transformers_version torch_dtype dtype use_cache return_dict output_hidden_states output_attentions
    torchscript use_bfloat16 tf_legacy_loss initializer_range initializer_factor init_std
    bos_token_id eos_token_id pad_token_id sep_token_id cls_token_id mask_token_id unk_token_id
    decoder_start_token_id forced_bos_token_id forced_eos_token_id suppress_tokens begin_suppress_tokens
    tokenizer_class prefix task_specific_params finetuning_task problem_type chunk_size_feed_forward
    max_length min_length do_sample early_stopping num_beams num_beam_groups diversity_penalty
    temperature top_k top_p typical_p repetition_penalty length_penalty no_repeat_ngram_size
    encoder_no_repeat_ngram_size bad_words_ids num_return_sequences output_scores
    return_dict_in_generate remove_invalid_values exponential_decay_length_penalty
    gradient_checkpointing label2id id2label num_labels architectures model_type
    pruned_heads tie_encoder_decoder attn_implementation auto_map
    """.split()
)


def _show(key: str) -> str:
    """A field name as JSON writes it (quotes, escapes, ASCII only): safe in a terminal or CI log."""
    text = json.dumps(key, ensure_ascii=True)
    return text if len(text) <= 60 else text[:57] + '…"'


def _show_value(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=True, default=str)
    return text if len(text) <= 60 else text[:57] + "…"


class _Duplicate(Exception):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number nnshape accepts")


def _depth(value: Any) -> int:
    """Nesting depth of a JSON value, without recursion (a hostile file can nest deeply)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if depth > MAX_CONFIG_DEPTH:
            break
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return deepest


def read_config(config: str | os.PathLike | dict) -> tuple[dict, Source]:
    """The JSON object of a config.json (a path, a directory holding one, or a dict), and the
    text errors point into."""
    if isinstance(config, dict):
        try:
            text = json.dumps(config, indent=2, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ImportFailure(f"the config is not plain JSON data: {exc}", code="E0701") from None
        source = Source("<config>", text)
        data = config
    else:
        path = Path(config)
        if path.is_dir():
            path = path / "config.json"
        shown = str(path)
        try:
            with open(path, "rb") as handle:
                raw = handle.read(MAX_CONFIG_BYTES + 1)
        except OSError as exc:
            raise ImportFailure(
                f"cannot read config {shown!r}: {exc.strerror or exc}",
                hint="give a config.json or the directory that holds one",
                code="E0701",
            ).with_source(Source(shown, "")) from None
        if len(raw) > MAX_CONFIG_BYTES:
            raise ImportFailure(
                "the config is too large",
                expected=f"at most {MAX_CONFIG_BYTES:,} bytes",
                found=f"more than {MAX_CONFIG_BYTES:,} bytes",
                code="E0701",
            ).with_source(Source(shown, ""))
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ImportFailure("the config is not UTF-8 text", code="E0701").with_source(Source(shown, "")) from None
        source = Source(shown, text)
        try:
            data = json.loads(text, object_pairs_hook=_pairs, parse_constant=_no_constant)
        except _Duplicate as dup:
            key = str(dup.args[0])
            raise ImportFailure(
                f"the field {_show(key)} is given twice",
                locate(source, key, last=True),
                hint="a JSON object with a repeated key is ambiguous; keep one",
                code="E0701",
            ).with_source(source) from None
        except json.JSONDecodeError as exc:
            raise ImportFailure(
                f"the config is not valid JSON: {exc.msg}", Span(exc.lineno, exc.colno), code="E0701"
            ).with_source(source) from None
        except (ValueError, RecursionError) as exc:
            message = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            raise ImportFailure(f"the config is not valid JSON: {message}", code="E0701").with_source(source) from None
    if not isinstance(data, dict):
        raise ImportFailure(
            "the config is not a JSON object", expected="{ \"model_type\": ..., ... }", found=type(data).__name__, code="E0701"
        ).with_source(source)
    if _depth(data) > MAX_CONFIG_DEPTH:
        raise ImportFailure(
            "the config nests too deeply", expected=f"at most {MAX_CONFIG_DEPTH} levels", code="E0701"
        ).with_source(source)
    return data, source


def locate(source: Source, key: str, last: bool = False) -> Span | None:
    """Where `"key":` is written in the text (the first, or the last, occurrence)."""
    pattern = re.compile(re.escape(json.dumps(key)) + r"\s*:")
    matches = list(pattern.finditer(source.text))
    if not matches:
        return None
    match = matches[-1] if last else matches[0]
    start = match.start()
    line = source.text.count("\n", 0, start) + 1
    col = start - (source.text.rfind("\n", 0, start) + 1) + 1
    return Span(line, col, len(json.dumps(key)))


_MISSING = object()


class Fields:
    """Typed, bounded access to a config's fields that remembers which ones were read.

    ``defaults`` are transformers' defaults of the model type (what a missing field means:
    save_pretrained omits fields equal to them); a default may be a function of the fields read so
    far. ``aliases`` are transformers' attribute_map (``hidden_size`` -> ``n_embd``): a rule asks
    for the canonical name and either spelling in the file answers.
    """

    def __init__(self, data: dict, source: Source, model_type: str, defaults: dict, aliases: dict | None = None):
        self.data = data
        self.source = source
        self.model_type = model_type
        self.defaults = defaults
        self.aliases = dict(aliases or {})
        self.read: set[str] = set()
        self.values: dict[str, Any] = {}

    # -- errors -------------------------------------------------------------------------------
    def fail(self, key: str, message: str, *, code: str, expected: str | None = None, found: str | None = None, hint: str | None = None):
        raise ImportFailure(
            message, locate(self.source, self._stored(key)), expected=expected, found=found, hint=hint, code=code
        ).with_source(self.source)

    def _stored(self, key: str) -> str:
        stored = self.aliases.get(key)
        if stored is not None and stored in self.data:
            return stored
        return key

    # -- raw access -------------------------------------------------------------------------
    def has(self, key: str) -> bool:
        return key in self.data or self.aliases.get(key, key) in self.data

    def raw(self, key: str, default: Any = _MISSING) -> Any:
        names = [key] + ([self.aliases[key]] if key in self.aliases else [])
        present = [n for n in names if n in self.data]
        self.read.update(names)
        if len(present) == 2 and self.data[present[0]] != self.data[present[1]]:
            self.fail(
                present[1],
                f"the fields {_show(present[0])} and {_show(present[1])} are the same setting with different values",
                expected="one of them, or equal values",
                found=f"{_show_value(self.data[present[0]])} and {_show_value(self.data[present[1]])}",
                code="E0705",
            )
        if present:
            value = self.data[present[0]]
        else:
            value = self.defaults.get(key, default) if default is _MISSING else default
            if callable(value):
                value = value(self)
            if value is _MISSING:
                self.fail(
                    key,
                    f"{self.model_type}: the config has no {_show(key)}, and transformers has no default for it",
                    expected=f"a field {_show(key)}",
                    code="E0706",
                )
        self.values[key] = value
        return value

    def neutral(self, *keys: str) -> None:
        """Fields read and known to change no count (dropout rates, eps of a formula we keep...)."""
        for key in keys:
            self.read.add(key)
            if key in self.aliases:
                self.read.add(self.aliases[key])

    # -- typed access -------------------------------------------------------------------------
    def int(self, key: str, default: Any = _MISSING, *, min: int = 1, optional: bool = False) -> int | None:
        value = self.raw(key, default)
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not (min <= value <= MAX_CONFIG_INT):
            self.fail(
                key,
                f"{self.model_type}: {_show(key)} must be an integer from {min} to {MAX_CONFIG_INT:,}",
                expected=f"an integer ≥ {min}" + (" or null" if optional else ""),
                found=_show_value(value),
                code="E0705",
            )
        return value

    def float(self, key: str, default: Any = _MISSING, *, optional: bool = False) -> float | None:
        value = self.raw(key, default)
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            self.fail(
                key,
                f"{self.model_type}: {_show(key)} must be a finite number ≥ 0",
                expected="a number",
                found=_show_value(value),
                code="E0705",
            )
        return float(value)

    def bool(self, key: str, default: Any = _MISSING) -> bool:
        value = self.raw(key, default)
        if not isinstance(value, bool):
            self.fail(key, f"{self.model_type}: {_show(key)} must be true or false", expected="true or false", found=_show_value(value), code="E0705")
        return value

    def choice(self, key: str, choices, default: Any = _MISSING):
        """A string (or null) from a fixed set; anything else is a value nnshape cannot map."""
        value = self.raw(key, default)
        if value not in choices:
            shown = ", ".join("null" if c is None else c for c in choices)
            self.fail(
                key,
                f"{self.model_type}: {_show(key)}={_show_value(value)} is not a setting nnshape can import",
                expected=f"one of {shown}",
                found=_show_value(value),
                hint="it changes the network in a way no spec line here describes; please report it",
                code="E0704",
            )
        return value

    def expect(self, key: str, allowed: Callable[[Any], bool], what: str, default: Any = _MISSING) -> Any:
        """A field whose other values change the counts in a way nnshape does not map."""
        value = self.raw(key, default)
        if not allowed(value):
            self.fail(
                key,
                f"{self.model_type}: {_show(key)}={_show_value(value)} is not supported",
                expected=what,
                found=_show_value(value),
                hint="this setting changes the network in a way the importer does not map; the counts would be wrong",
                code="E0704",
            )
        return value

    # -- the end ------------------------------------------------------------------------------
    def finish(self, ignore: frozenset | set = frozenset()) -> None:
        """Every field is read or known to be neutral: otherwise name the first unknown one."""
        unknown = [k for k in self.data if k not in self.read and k not in COMMON_NEUTRAL and k not in ignore]
        if unknown:
            shown = ", ".join(_show(k) for k in unknown[:8]) + (f" and {len(unknown) - 8} more" if len(unknown) > 8 else "")
            raise ImportFailure(
                f"{self.model_type}: the config has a field nnshape does not know: {_show(unknown[0])}",
                locate(self.source, unknown[0]),
                expected=f"the fields of transformers' {self.model_type} config",
                found=shown,
                hint="nnshape cannot tell whether it changes the counts; if it does not (a tokenizer or "
                "generation setting), pass --ignore FIELD (ignore=[...] in Python)",
                code="E0703",
            ).with_source(self.source)


def identifier(value: Any) -> bool:
    return isinstance(value, str) and bool(IDENT.match(value))
