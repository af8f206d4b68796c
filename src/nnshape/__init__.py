"""nnshape: shapes, parameters, MACs and memory of a neural network from a textual spec.

Importing nnshape loads neither torch nor rich: the core is pure Python.
"""

from __future__ import annotations

from .api import summarize
from .errors import (
    Diagnostic,
    NNShapeError,
    SpecArgumentError,
    SpecLimitError,
    SpecNameError,
    SpecReadError,
    SpecShapeError,
    SpecSyntaxError,
)
from .summary import LayerRow, Summary

__version__ = "0.1.0"

__all__ = [
    "summarize",
    "Summary",
    "LayerRow",
    "Diagnostic",
    "NNShapeError",
    "SpecArgumentError",
    "SpecLimitError",
    "SpecNameError",
    "SpecReadError",
    "SpecShapeError",
    "SpecSyntaxError",
    "__version__",
]
