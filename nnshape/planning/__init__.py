"""Will it fit? Per-device memory for distributed training and serving (docs/will-it-fit.md).

Pure Python, like the analysis: ``plan_for(spec_summary, ...)`` needs the recorded structure of
the network (``analyze_with_plan``) and reads each layer's exact call from it. torch appears only
in ``nnshape.verifier.distributed``, which proves the figures on ``torch.distributed``.
"""

from __future__ import annotations

from ..errors import NNShapeError
from .config import CHECKPOINT_MODES, KEYWORDS, Parallel, is_planning, make_parallel
from .gpus import GPUS, gpu_bytes
from .plan import DevicePlan, Stage, device_plan

__all__ = ["CHECKPOINT_MODES", "GPUS", "KEYWORDS", "DevicePlan", "Parallel", "Stage", "device_plan", "gpu_bytes",
           "is_planning", "make_parallel", "plan_source"]


def plan_source(source, cfg: Parallel, *, batch: int = 1, bindings: dict | None = None, dtype: str = "float32",
                optimizer: str = "adam", amp: bool = False) -> DevicePlan:
    """The :class:`DevicePlan` of a spec (a :class:`~nnshape.source.Source`), analyzed with its
    structure recorded at the batches the plan needs (the micro-batch, the searched ones)."""
    from ..analysis import analyze_with_plan
    from ..parser import parse

    tree = parse(source)

    def analyze(b: int):
        return analyze_with_plan(tree, source, batch=b, bindings=bindings or {}, dtype=dtype, optimizer=optimizer, amp=amp)

    summary, recorded = analyze(batch)
    try:
        return device_plan(summary, recorded, cfg, analyze)
    except NNShapeError as err:  # a plan error is about the whole spec: name the file
        raise err.with_source(source) from None
