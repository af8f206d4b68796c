"""A tensor as the analysis follows it, and the bounds on its shape.

Kinds see only the :class:`~nnshape.tensor.TensorInfo` (shape and dtype, ``call.x``). The walk
carries one :class:`Tensor` per value instead: the info, its receptive field and the storage
token the memory tracker counts. A view shares its input's token; a collapsed repeat's output
is the same storage as one pass's, with another field. Carrying them together replaces side
tables keyed by ``id()`` (which had to keep every object alive for the ids to stay unique).
"""

from __future__ import annotations

from typing import Any

from ..errors import SpecLimitError
from ..limits import MAX_INT, MAX_RANK
from ..source import Span
from ..tensor import Shape, TensorInfo, format_shape
from .tracker import Token


class Tensor:
    """One value of the forward pass: ``info`` (what kinds see), ``field`` (the receptive field of
    output position 0: a tuple of Field, GLOBAL, or None) and ``token`` (its storage)."""

    __slots__ = ("info", "field", "token")

    def __init__(self, info: TensorInfo, field: Any, token: Token):
        self.info = info
        self.field = field
        self.token = token

    @property
    def shape(self) -> Shape:
        return self.info.shape

    @property
    def dtype(self) -> str:
        return self.info.dtype

    def same_type(self, other: "Tensor") -> bool:
        """Equal shapes and dtypes (a repeat's pass that keeps them can be collapsed)."""
        return self.info.shape == other.info.shape and self.info.dtype == other.info.dtype


def check_rank(rank: int, span: Span | None) -> None:
    """E0506 for a tensor of more than MAX_RANK dimensions: every row prints its shapes, so
    30,000 dimensions on 20,000 rows would be gigabytes of text."""
    if rank > MAX_RANK:
        raise SpecLimitError(
            f"a tensor has {rank:,} dimensions",
            span,
            expected=f"at most {MAX_RANK} dimensions, the batch included",
            found=f"{rank:,} dimensions",
            code="E0506",
        )


def check_shape(shape: Shape, span: Span | None) -> Shape:
    """A rule's output shape, bounded: rank (E0506) and every integer size in [0, MAX_INT]."""
    check_rank(len(shape), span)
    for dim in shape:
        if isinstance(dim, int) and (dim < 0 or dim > MAX_INT):
            raise SpecLimitError(
                "a dimension is out of range",
                span,
                expected=f"sizes between 0 and {MAX_INT:,}",
                found=format_shape(shape),
                code="E0506",
            )
    return tuple(shape)
