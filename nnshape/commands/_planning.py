"""The planning options shared by `summary` and `check` (docs/will-it-fit.md)."""

from __future__ import annotations

import click


def _bytes(ctx, param, value):
    from ..budget import BudgetError, parse_bytes

    if value is None:
        return None
    try:
        return parse_bytes(value, "--device-memory")
    except BudgetError as err:
        raise click.BadParameter(str(err).split(": ", 1)[-1]) from None


OPTIONS = (
    click.option("--dp", type=click.IntRange(min=1), default=None, help="Data-parallel devices (plan per device)."),
    click.option("--zero", type=click.IntRange(0, 3), default=None, help="ZeRO stage: 1 shards the optimizer state, 2 also the gradients, 3 also the weights (FSDP)."),
    click.option("--tp", type=click.IntRange(min=1), default=None, help="Tensor-parallel devices (Megatron-style column/row splits)."),
    click.option("--pp", type=click.IntRange(min=1), default=None, help="Pipeline stages (cut at top-level blocks and repeat passes; 1F1B schedule)."),
    click.option("--micro-batch", type=click.IntRange(min=1), default=None, help="Samples per device per forward pass (default: --batch)."),
    click.option("--checkpoint", type=click.Choice(["none", "full", "selective"]), default=None, help="Activation checkpointing: full keeps block inputs only; selective recomputes attention scores."),
    click.option("--serve", is_flag=True, default=None, help="Plan for serving: weights + KV cache + one forward pass."),
    click.option("--context", type=click.IntRange(min=1), default=None, help="Serving: tokens per sequence held in the KV cache."),
    click.option("--concurrency", type=click.IntRange(min=1), default=None, help="Serving: sequences at once (default: --batch)."),
    click.option("--device-memory", callback=_bytes, metavar="BYTES", default=None, help="Memory of one device for the verdict: 80GB, 24GiB."),
    click.option("--gpu", metavar="NAME", default=None, help="A GPU whose published memory is the budget: h100, a100-40, a100-80, l4, ... (see docs/will-it-fit.md)."),
)
NAMES = ("dp", "zero", "tp", "pp", "micro_batch", "checkpoint", "serve", "context", "concurrency", "device_memory", "gpu")


def planning_options(fn):
    for option in reversed(OPTIONS):
        fn = option(fn)
    return fn


def take(kwargs: dict) -> dict:
    """Pop the planning options out of a command's keyword arguments."""
    return {name: kwargs.pop(name, None) for name in NAMES}


def parallel(options: dict):
    """The checked Parallel, or None when no planning option was given; a bad combination is a usage error."""
    from ..errors import NNShapeError
    from ..planning import is_planning, make_parallel

    if not is_planning(**options):
        return None
    try:
        return make_parallel(**{k: (v or None) if k == "serve" else v for k, v in options.items()})
    except NNShapeError as err:
        raise click.UsageError(err.message + (f" ({err.found})" if err.found else "") + (f"; {err.hint}" if err.hint else "")) from None
