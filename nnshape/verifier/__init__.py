"""Prove a spec's numbers against a real PyTorch network: ``nnshape.verify(spec) -> VerifyReport``.

torch is imported only when a network is built or run, never by importing this package.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import SpecArgumentError
from ..summary import Summary
from ..tensor import VERIFY_DTYPES
from .report import LayerCheck, TrainStep, Values, VerifyReport
from .runner import INSTALL_HINT, TorchMissingError

DTYPES = VERIFY_DTYPES


def analyze_spec(spec, *, batch: int = 1, bindings: dict[str, Any] | None = None):
    """(Summary, Plan) of a spec given as text, a path, a Source, or a Summary read from a file."""
    from ..analysis import analyze_with_plan
    from ..api import check_batch, check_bindings, load_source
    from ..parser import parse
    from ..source import Source

    values = check_bindings(bindings)
    if isinstance(spec, Summary):
        # a Summary keeps the text it was made from: analyze it again, with the same options
        source = Source(spec.source, spec.source_text)
        values = {**dict(spec.bindings), **values}
        memory = spec.memory
        options = {"optimizer": memory.optimizer, "amp": memory.amp} if memory is not None else {}
        return analyze_with_plan(parse(source), source, batch=spec.batch, bindings=values, dtype=spec.dtype, **options)
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise SpecArgumentError("batch must be a positive integer", found=repr(batch), code="E0320")
    source = spec if isinstance(spec, Source) else load_source(spec)
    return analyze_with_plan(parse(source), source, batch=batch, bindings=values)


def verify(
    spec: str | os.PathLike | Summary,
    *,
    device: str = "auto",
    batch: int = 1,
    dtype: str | None = None,
    train_step: bool = False,
    bindings: dict[str, Any] | None = None,
    progress=None,
    force: bool = False,
    **named_bindings: Any,
) -> VerifyReport:
    """Build the spec as one torch network, run it, and compare every row with the analysis.

    ``device``: auto (cuda if available, else cpu), cpu, cuda or meta (shapes, parameters and
    MACs without memory). ``dtype``: parameters and float inputs (default: as declared).
    Keyword arguments bind names used in the spec, like ``--set``. Raises an NNShapeError for
    a bad spec, TorchMissingError when torch is not installed, and E0508 before building a network
    past the module limit or the memory the process can get (``force=True`` tries anyway).
    """
    from .runner import run

    from ..api import check_bindings

    if dtype is not None and (not isinstance(dtype, str) or dtype not in DTYPES):
        raise SpecArgumentError("unknown dtype for verify", found=repr(dtype)[:80], expected=", ".join(DTYPES), code="E0306")
    if not isinstance(device, str):
        raise SpecArgumentError("unknown device", found=repr(device)[:80], expected="auto, cpu, cuda or meta", code="E0321")
    summary, plan = analyze_spec(spec, batch=batch, bindings=check_bindings(bindings, named_bindings))
    return run(summary, plan, device=device, dtype=None if dtype == "float32" else dtype, train_step=train_step, progress=progress,
               force=bool(force))


__all__ = ["INSTALL_HINT", "LayerCheck", "TorchMissingError", "TrainStep", "Values", "VerifyReport", "analyze_spec", "verify"]
