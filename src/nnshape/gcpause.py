"""Pause Python's cyclic garbage collector while a spec is parsed, analyzed or rendered.

These phases allocate hundreds of thousands of small container objects (syntax nodes, rows,
shape tuples) and free almost none, so the collector's generation scans find nothing to collect
while costing a third of the time on a 1 MB spec (benchmarks/run.py). Nothing they build is
cyclic: reference counting still frees everything. Collection resumes when the outermost paused
call returns, so a long-lived program that imports nnshape keeps its own GC behaviour.
"""

from __future__ import annotations

import functools
import gc
from typing import Callable, TypeVar

F = TypeVar("F", bound=Callable)


def gc_paused(func: F) -> F:
    """Run ``func`` with the cyclic collector off (unless it is already off: nesting is free)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if not gc.isenabled():
            return func(*args, **kwargs)
        gc.disable()
        try:
            return func(*args, **kwargs)
        finally:
            gc.enable()

    return wrapper  # type: ignore[return-value]
