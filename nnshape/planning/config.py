"""The options of a memory plan (``--dp --zero --tp --pp --micro-batch --checkpoint --serve ...``), checked."""

from __future__ import annotations

from dataclasses import dataclass, fields

from ..errors import SpecLimitError
from ..limits import MAX_DEVICES, MAX_INT

CHECKPOINT_MODES = ("none", "full", "selective")


@dataclass(frozen=True)
class Parallel:
    """How the network is spread over devices and what is asked of them (docs/will-it-fit.md).

    ``micro_batch``: samples per device per forward pass (default: the analysis batch).
    ``context``: tokens held in the KV cache per sequence when serving (default: the key length
    each attention layer has in the spec); ``concurrency``: sequences served at once (default: the
    analysis batch). ``device_memory`` (bytes) or ``gpu`` (a name from ``nnshape.planning.gpus``)
    give the budget of the verdict.
    """

    dp: int = 1
    zero: int = 0
    tp: int = 1
    pp: int = 1
    micro_batch: int | None = None
    checkpoint: str = "none"
    serve: bool = False
    context: int | None = None
    concurrency: int | None = None
    device_memory: int | None = None
    gpu: str | None = None

    @property
    def devices(self) -> int:
        return self.dp * self.tp * self.pp

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


KEYWORDS = tuple(f.name for f in fields(Parallel))


def _positive(name: str, value, *, allow_none: bool = False, low: int = 1) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= MAX_INT:
        raise SpecLimitError(
            f"{name.replace('_', '-')} must be an integer ≥ {low}", found=repr(value), code="E0530"
        )


def make_parallel(**options) -> Parallel:
    """A checked :class:`Parallel` from keyword options (None means the default); every problem is
    an E0530 (a bad value) or E0531 (an unknown GPU) error."""
    from .gpus import GPUS, canonical

    unknown = [k for k in options if k not in KEYWORDS]
    if unknown:
        raise SpecLimitError(f"unknown planning option {unknown[0]!r}", expected=", ".join(KEYWORDS), code="E0530")
    values = {k: v for k, v in options.items() if v is not None}
    cfg = Parallel(**values)
    for name in ("dp", "tp", "pp"):
        _positive(name, getattr(cfg, name))
    for name in ("micro_batch", "context", "concurrency"):
        _positive(name, getattr(cfg, name), allow_none=True)
    _positive("device_memory", cfg.device_memory, allow_none=True)
    if isinstance(cfg.zero, bool) or cfg.zero not in (0, 1, 2, 3):
        raise SpecLimitError("zero must be a ZeRO stage: 0, 1, 2 or 3", found=repr(cfg.zero), code="E0530")
    if cfg.checkpoint not in CHECKPOINT_MODES:
        raise SpecLimitError("unknown checkpointing mode", expected=", ".join(CHECKPOINT_MODES), found=repr(cfg.checkpoint), code="E0530")
    if not isinstance(cfg.serve, bool):
        raise SpecLimitError("serve must be true or false", found=repr(cfg.serve), code="E0530")
    if cfg.devices > MAX_DEVICES:
        raise SpecLimitError(f"dp × tp × pp is more than {MAX_DEVICES:,} devices", found=f"{cfg.devices:,}", code="E0530")
    if not cfg.serve and (cfg.context is not None or cfg.concurrency is not None):
        raise SpecLimitError("context and concurrency describe serving", hint="add serve (--serve)", code="E0530")
    if cfg.serve and (cfg.zero or cfg.checkpoint != "none" or cfg.micro_batch is not None):
        raise SpecLimitError(
            "zero, checkpoint and micro-batch describe training, not serving",
            hint="serving holds weights, the KV cache and one forward pass; drop them or drop serve", code="E0530",
        )
    if cfg.gpu is not None:
        if not isinstance(cfg.gpu, str) or canonical(cfg.gpu) not in GPUS:
            from ..suggest import did_you_mean

            raise SpecLimitError(
                "unknown GPU", expected=", ".join(GPUS), found=repr(cfg.gpu),
                hint=did_you_mean(str(cfg.gpu).lower(), list(GPUS)) or "or give --device-memory, e.g. 80GB", code="E0531",
            )
        if cfg.device_memory is not None:
            raise SpecLimitError("give gpu or device-memory, not both", code="E0530")
        cfg = Parallel(**{**cfg.to_dict(), "gpu": canonical(cfg.gpu)})
    return cfg


def is_planning(**options) -> bool:
    """Whether any planning option is set (then the summary carries a per-device plan)."""
    return any(v is not None and v is not False for k, v in options.items() if k in KEYWORDS)
