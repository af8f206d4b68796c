"""The importable entry point: ``nnshape.summarize(spec, batch=..., **bindings)``."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

from .analysis import analyze
from .errors import SpecArgumentError, SpecLimitError, SpecReadError
from .gcpause import gc_paused
from .limits import MAX_EXPR_DEPTH, MAX_INT
from .parser import parse
from .source import Source
from .summary import Summary
from .tensor import normalize_dtype


def load_source(spec: str | os.PathLike | Source) -> Source:
    """A Source, a path (``os.PathLike``), or a string: a path when it is one line that names
    something on disk (a FIFO or a folder is then refused as a spec file, E0001) or that looks
    like a path (no spaces, and a '/' or a '.nn' ending: a missing file is E0001, not a syntax
    error); otherwise spec text. Anything else is E0004."""
    if isinstance(spec, Source):
        return spec
    if isinstance(spec, os.PathLike):
        return Source.from_path(spec)
    if not isinstance(spec, str):
        raise SpecReadError(
            f"a spec is text, a path or a Source, not {type(spec).__name__}",
            expected="str (the spec text or a file's path), os.PathLike or nnshape.source.Source",
            found=_short_repr(spec),
            hint="decode bytes first (data.decode()), or use Source.from_bytes(name, data)" if isinstance(spec, (bytes, bytearray)) else None,
            code="E0004",
        ).with_source(Source("<spec>", ""))
    if "\n" not in spec and spec.strip() and _names_a_path(spec):
        return Source.from_path(spec)
    return Source("<string>", spec)


def _names_a_path(text: str) -> bool:
    if os.path.lexists(text):  # False, not OSError, for names too long for the file system, or with NUL
        return True
    word = text.strip()
    return word == text and not any(ch.isspace() for ch in word) and ("/" in word or word.endswith(".nn"))


def _short_repr(value: object) -> str:
    text = object.__repr__(value) if not isinstance(value, (bytes, bytearray, list, tuple, dict, int, float)) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


_BINDABLE = (bool, int, float, str, type(None))


def check_bindings(bindings: object, named: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The names a caller binds (``bindings=`` and keyword arguments), checked: names are
    identifiers; values are what `--set` can give (integers up to 2**63 - 1, finite floats,
    strings, booleans, none, tuples of them). Bad ones are E0005, a SpecReadError like every
    problem with what the caller hands in (E0503 for a number out of range)."""
    if bindings is not None and not isinstance(bindings, Mapping):
        raise SpecReadError(
            "bindings must be a mapping of names to values",
            expected="a dict such as {'L': 128}",
            found=_short_repr(bindings),
            code="E0005",
        )
    values = {**dict(bindings or {}), **dict(named or {})}
    for name, value in values.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise SpecReadError("a binding's name must be an identifier", expected="a name such as L or d_model",
                                    found=_short_repr(name), code="E0005")
        stack = [(value, 0)]
        while stack:
            item, depth = stack.pop()
            if isinstance(item, tuple) and depth < MAX_EXPR_DEPTH:
                stack.extend((part, depth + 1) for part in item)
            elif not isinstance(item, _BINDABLE):
                raise SpecReadError(
                    f"binding '{name}': a value of type {type(item).__name__} cannot be bound",
                    expected="an integer, a float, a string, true/false, none, or a tuple of them",
                    found=_short_repr(item),
                    code="E0005",
                )
            elif isinstance(item, int) and not isinstance(item, bool) and abs(item) > MAX_INT:
                raise SpecLimitError(f"binding '{name}': integer too large", expected=f"a value of at most {MAX_INT:,} (2**63 - 1)",
                                     found=f"a number of {item.bit_length():,} bits", code="E0503")
            elif isinstance(item, float) and not math.isfinite(item):
                raise SpecLimitError(f"binding '{name}': number is not finite", found=repr(item), code="E0503")
    return values


def check_batch(batch: object) -> None:
    """E0320: the batch is a whole number from 1 to 2**63 - 1."""
    if isinstance(batch, bool) or not isinstance(batch, int) or not 1 <= batch <= MAX_INT:
        found = f"an integer of {batch.bit_length():,} bits" if isinstance(batch, int) and batch.bit_length() > 64 else _short_repr(batch)
        raise SpecArgumentError("batch must be a positive integer", expected=f"1 to {MAX_INT:,}", found=found, code="E0320")


@gc_paused
def summarize(
    spec: str | os.PathLike | Source,
    *,
    batch: int = 1,
    dtype: str = "float32",
    optimizer: str = "adam",
    amp: bool = False,
    explain: bool = False,
    count_elementwise: bool = False,
    bindings: dict[str, Any] | None = None,
    dp: int | None = None,
    zero: int | None = None,
    tp: int | None = None,
    pp: int | None = None,
    micro_batch: int | None = None,
    checkpoint: str | None = None,
    serve: bool | None = None,
    context: int | None = None,
    concurrency: int | None = None,
    device_memory: int | str | None = None,
    gpu: str | None = None,
    **named_bindings: Any,
) -> Summary:
    """Analyze a spec (text or path) and return its :class:`Summary`.

    ``dtype`` is the dtype of parameters and activations for the memory figures; ``optimizer``
    (sgd, momentum, adam, adamw) and ``amp`` shape the training-memory estimate; ``explain``
    fills each row's worked formulas; ``count_elementwise`` adds the FLOPs of activations, norms,
    softmax and the like to FLOPs (docs/conventions.md). Other keyword arguments bind names used in the spec, like
    ``--set`` on the command line: ``summarize("model.nn", L=128)`` (or ``bindings={...}`` for
    names that clash with these options).

    Any of ``dp, zero, tp, pp, micro_batch, checkpoint, serve, context, concurrency,
    device_memory`` (bytes, or text such as ``"80GB"``) and ``gpu`` adds the per-device plan
    (``summary.device_plan``; docs/will-it-fit.md).
    """
    from .memory import OPTIMIZER_STATES

    if not isinstance(optimizer, str) or optimizer not in OPTIMIZER_STATES:
        raise SpecArgumentError(
            "unknown optimizer", expected=", ".join(OPTIMIZER_STATES), found=_short_repr(optimizer), code="E0306"
        )
    check_batch(batch)
    dtype_name = normalize_dtype(dtype) if isinstance(dtype, str) else None
    if dtype_name is None:
        raise SpecArgumentError("unknown dtype", found=_short_repr(dtype), code="E0306")
    values = check_bindings(bindings, named_bindings)
    source = load_source(spec)
    planning = dict(dp=dp, zero=zero, tp=tp, pp=pp, micro_batch=micro_batch, checkpoint=checkpoint, serve=serve,
                    context=context, concurrency=concurrency, device_memory=device_memory, gpu=gpu)
    cfg = _parallel(planning)
    tree = parse(source)
    summary = analyze(
        tree, source, batch=batch, bindings=values, dtype=dtype_name, optimizer=optimizer, amp=bool(amp), explain=explain,
        count_elementwise=bool(count_elementwise),
    )
    if cfg is None:
        return summary
    from dataclasses import replace

    from .planning import plan_source

    plan = plan_source(source, cfg, batch=batch, bindings=values, dtype=dtype_name, optimizer=optimizer, amp=bool(amp))
    return replace(summary, device_plan=plan)


def _parallel(options: dict[str, Any]):
    """The checked planning options, or None when none is given."""
    from .planning import is_planning, make_parallel

    if not is_planning(**options):
        return None
    memory = options.get("device_memory")
    if isinstance(memory, str):
        from .budget import BudgetError, parse_bytes

        try:
            options["device_memory"] = parse_bytes(memory, "device_memory")
        except BudgetError as err:
            raise SpecLimitError("device_memory: " + str(err).split(": ", 1)[-1], found=repr(memory), code="E0530") from None
    return make_parallel(**options)


def export(
    spec: str | os.PathLike | Source | Summary,
    path: str | os.PathLike | None = None,
    *,
    class_name: str = "Model",
    twins: str = "copy",
    bindings: dict[str, Any] | None = None,
    **named_bindings: Any,
) -> str:
    """`nnshape export` from Python: the source of a standalone PyTorch module that builds the
    spec (text, a path or a Summary), written to ``path`` too when given. Needs no torch.
    ``twins``: "copy" (nnshape's own modules written into the file) or "import"."""
    from .verifier import analyze_spec
    from .verifier.export import export_source

    summary, plan = analyze_spec(spec, bindings={**(bindings or {}), **named_bindings})
    text = export_source(summary, plan, class_name=class_name, twins=twins)
    if path is not None:
        from pathlib import Path

        Path(path).write_text(text, encoding="utf-8")
    return text


def check(
    spec: str | os.PathLike | Source | Summary,
    *,
    output: str | int | tuple | None = None,
    max_params: int | str | None = None,
    min_params: int | str | None = None,
    max_macs: int | str | None = None,
    max_memory: int | str | None = None,
    memory_for: str = "training",
    trainable_only: bool = False,
    batch: int = 1,
    dtype: str = "float32",
    optimizer: str = "adam",
    amp: bool = False,
    bindings: dict[str, Any] | None = None,
    **named_bindings: Any,
):
    """`nnshape check` from Python: the spec's result against the limits given (counts as ints or
    as `nnshape check` writes them: "30M", "2GB"; ``output`` per sample, batch excluded). Returns
    the SpecResult (``.ok``, ``.checks``, ``.summary``, ``.to_dict()`` as one `check` JSON result);
    an invalid spec raises its NNShapeError, a malformed limit a ValueError (BudgetError)."""
    from .budget import Limit, Limits, make_limit
    from .checking import SpecResult, evaluate

    if memory_for not in ("training", "inference"):
        raise ValueError(f"memory_for must be 'training' or 'inference', not {memory_for!r}")
    given = {"output": output, "max-params": max_params, "min-params": min_params, "max-macs": max_macs, "max-memory": max_memory}
    limits = {
        key.replace("-", "_"): make_limit(key, "x".join(map(str, raw)) if isinstance(raw, tuple) else raw, f"nnshape.check({key.replace('-', '_')}=...)")
        for key, raw in given.items()
        if raw is not None
    }
    if trainable_only:
        limits["trainable_only"] = Limit(True, "true", "nnshape.check(trainable_only=True)")
    values = {**(bindings or {}), **named_bindings}
    if isinstance(spec, Summary):
        summary = spec
        values = {**dict(spec.bindings), **values}
    else:
        summary = summarize(spec, batch=batch, dtype=dtype, optimizer=optimizer, amp=amp, bindings=values)
    result = SpecResult(summary.source, summary)
    result.checks = evaluate(summary.source, summary, Limits(**limits), values, memory_for)
    return result


def diff(
    old: str | os.PathLike | Source | Summary,
    new: str | os.PathLike | Source | Summary,
    *,
    batch: int = 1,
    bindings: dict[str, Any] | None = None,
    **named_bindings: Any,
):
    """`nnshape diff` from Python: a :class:`nnshape.compare.Diff` of two specs (text, paths or
    Summaries): ``.rows`` aligned on structure, ``.counts()``, ``.totals()``, ``.changed``,
    ``.to_dict()`` (the JSON); ``str()`` of it is the table. Raises NNShapeError for a bad spec."""
    from .compare import compare

    values = {**(bindings or {}), **named_bindings}
    sides = [s if isinstance(s, Summary) else summarize(s, batch=batch, bindings=values) for s in (old, new)]
    return compare(*sides)
