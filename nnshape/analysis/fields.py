"""Receptive fields through the network (docs/conventions.md, "Receptive field").

A field is a tuple of :class:`~nnshape.registry.Field` (one per spatial dim 2…), ``GLOBAL``
(every output position sees the whole input) or None (the grid ended). Layers apply their
kind's rule; these functions cover what the walk itself does: inputs, merges and repeats.
"""

from __future__ import annotations

from typing import Any

from ..errors import NNShapeError
from ..registry import GLOBAL, Call, Field, Inference, Kind
from ..symbolic import Dim, NeedsValue


def input_field(sample: list[Dim]) -> Any:
    """Every spatial dim (2…) of an N×C×… input starts as one position: size 1, jump 1, start 0."""
    return tuple(Field(1, 1, 0) for _ in sample[1:]) if len(sample) >= 2 else None


def layer_field(kind: Kind, call: Call, result: Inference, field: Any) -> Any:
    """The kind's rule on a grid; GLOBAL stays global (an output that sees everything still
    does after any layer), except across a view that keeps the rank but ends every grid (a
    permute to channels last: the dims after it are no longer C then space, and a linear there
    is no missing flatten); no grid stays none."""
    if field == GLOBAL and kind.is_view and len(result.shape) == call.x.rank:
        unit = tuple(Field(1, 1, 0) for _ in call.x.shape[2:])
        try:
            return GLOBAL if kind.receptive_field(call, result, unit) is not None else None
        except (NeedsValue, NNShapeError):
            return None
    if not isinstance(field, tuple):
        return field
    try:
        return kind.receptive_field(call, result, field)
    except (NeedsValue, NNShapeError):
        return None


def merge_fields(fields: list[Any]) -> Any:
    """Receptive field of an add/multiply/concat of branches: global if any branch is; otherwise,
    per axis, the span covering every branch's window (the largest one when the branches are
    aligned) and the largest jump; none if a branch has no grid."""
    if any(f == GLOBAL for f in fields):
        return GLOBAL
    if not fields or any(not isinstance(f, tuple) for f in fields) or len({len(f) for f in fields}) != 1:
        return None
    out = []
    for axis in zip(*fields):
        start = min(f.start for f in axis)
        end = max(f.start + f.size for f in axis)
        out.append(Field(end - start, max(f.jump for f in axis), start))
    return tuple(out)


def repeat_field(before: Any, after: Any, passes: int) -> Any:
    """The field after ``passes`` passes of a shape-keeping body, from one pass (before → after).
    Per axis a pass maps (r, j, s) to (r + a·j, m·j, s + b·j), so the passes sum a geometric series."""
    if not isinstance(before, tuple) or not isinstance(after, tuple) or len(before) != len(after):
        return after if passes == 1 else (GLOBAL if after == GLOBAL else None)
    out = []
    for f, g in zip(before, after):
        a, b, m = (g.size - f.size) // f.jump, (g.start - f.start) // f.jump, g.jump // f.jump
        if m == 1:
            out.append(Field(f.size + passes * a * f.jump, f.jump, f.start + passes * b * f.jump))
        elif passes > 64:
            return None  # the jump grows as mᴺ: no useful number
        else:
            series = (m**passes - 1) // (m - 1)
            out.append(Field(f.size + a * f.jump * series, f.jump * m**passes, f.start + b * f.jump * series))
    return tuple(out)
