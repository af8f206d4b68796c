"""The importable entry point: ``nnshape.summarize(spec, batch=..., **bindings)``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .analysis import analyze
from .errors import SpecArgumentError, SpecLimitError
from .gcpause import gc_paused
from .parser import parse
from .source import Source
from .summary import Summary
from .tensor import normalize_dtype


def load_source(spec: str | os.PathLike | Source) -> Source:
    """Text or a path: a string with a newline, or one that names no existing file, is spec text."""
    if isinstance(spec, Source):
        return spec
    if isinstance(spec, os.PathLike):
        return Source.from_path(spec)
    if "\n" not in spec and spec.strip() and len(spec) < 4096 and Path(spec).is_file():
        return Source.from_path(spec)
    return Source("<string>", spec)


@gc_paused
def summarize(
    spec: str | os.PathLike | Source,
    *,
    batch: int = 1,
    dtype: str = "float32",
    optimizer: str = "adam",
    amp: bool = False,
    explain: bool = False,
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
    fills each row's worked formulas. Other keyword arguments bind names used in the spec, like
    ``--set`` on the command line: ``summarize("model.nn", L=128)`` (or ``bindings={...}`` for
    names that clash with these options).

    Any of ``dp, zero, tp, pp, micro_batch, checkpoint, serve, context, concurrency,
    device_memory`` (bytes, or text such as ``"80GB"``) and ``gpu`` adds the per-device plan
    (``summary.device_plan``; docs/will-it-fit.md).
    """
    from .memory import OPTIMIZER_STATES

    if optimizer not in OPTIMIZER_STATES:
        raise SpecArgumentError(
            "unknown optimizer", expected=", ".join(OPTIMIZER_STATES), found=repr(optimizer), code="E0306"
        )
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise SpecArgumentError("batch must be a positive integer", found=repr(batch), code="E0320")
    dtype_name = normalize_dtype(dtype)
    if dtype_name is None:
        raise SpecArgumentError("unknown dtype", found=repr(dtype), code="E0306")
    source = load_source(spec)
    values = dict(bindings or {})
    values.update(named_bindings)
    planning = dict(dp=dp, zero=zero, tp=tp, pp=pp, micro_batch=micro_batch, checkpoint=checkpoint, serve=serve,
                    context=context, concurrency=concurrency, device_memory=device_memory, gpu=gpu)
    cfg = _parallel(planning)
    tree = parse(source)
    summary = analyze(tree, source, batch=batch, bindings=values, dtype=dtype_name, optimizer=optimizer, amp=bool(amp), explain=explain)
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
