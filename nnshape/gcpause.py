"""Pause Python's cyclic garbage collector while a spec is parsed, analyzed or rendered.

These phases allocate hundreds of thousands of small container objects (syntax nodes, rows,
shape tuples) and free almost none, so the collector's generation scans find nothing to collect
while costing a third of the time on a 1 MB spec (benchmarks/run.py). Nothing they build is
cyclic: reference counting still frees everything. Two places pause it: the command line's
entry (``cli.run``, for the whole command) and ``nnshape.summarize``. Collection resumes when the
outermost paused call returns, so a long-lived program that imports nnshape keeps its own GC
behaviour.
"""

from __future__ import annotations

import contextlib
import functools
import gc
from typing import Callable, Iterator, TypeVar

F = TypeVar("F", bound=Callable)


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """The cyclic collector off inside the block (unless it is already off: nesting is free)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def gc_paused(func: F) -> F:
    """Run ``func`` with the cyclic collector off (see :func:`paused_gc`)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with paused_gc():
            return func(*args, **kwargs)

    return wrapper  # type: ignore[return-value]
