"""The errors of `nnshape import` (family E07xx): the source cannot be read or cannot be written
as a spec exactly. They are `NNShapeError`s, so the CLI and the API report them like spec errors
(a located report when the problem is a field of a config.json)."""

from __future__ import annotations

from ..errors import NNShapeError


class ImportFailure(NNShapeError):
    """A config or a module that nnshape cannot turn into an exact spec (E07xx)."""

    code = "E0700"


class Unmappable(Exception):
    """One op of a traced module that the spec language cannot say exactly (why, in the message)."""


__all__ = ["ImportFailure", "Unmappable"]
