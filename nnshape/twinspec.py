"""A layer's torch twin as data: the class and the keyword arguments of its constructor.

Each kind says once how its twin is constructed (``Kind.twin(call) -> Twin``). The verifier calls
:meth:`Twin.build` (``cls(**kwargs)``, torch imported then); ``nnshape export`` writes the same
constructor as source text (:meth:`Twin.source`) without importing torch. So the network that
``verify`` runs and the file that ``export`` writes cannot drift apart.

Pure Python: importing this module loads no torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

TORCH_NN = "torch.nn."
OWN = "nnshape.twins."  # nnshape's own modules (the nnshape/twins package)


class NotLiteral(ValueError):
    """A constructor argument that cannot be written as a Python literal (e.g. a symbolic size)."""

    def __init__(self, value: Any):
        super().__init__(f"not a literal: {value!r}")
        self.value = value


@dataclass(frozen=True)
class Twin:
    """``cls(**kwargs)``. ``cls`` is ``torch.nn.NAME`` or ``nnshape.twins.NAME``; a value is None, a
    bool, int, float, str, a tuple or list of values, or a Twin (a module the twin wraps)."""

    cls: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        prefix = TORCH_NN if self.cls.startswith(TORCH_NN) else OWN if self.cls.startswith(OWN) else None
        if prefix is None or not self.cls[len(prefix):].isidentifier():
            raise ValueError(f"a twin is torch.nn.NAME or nnshape.twins.NAME, not {self.cls!r}")
        if not all(isinstance(k, str) and k.isidentifier() for k in self.kwargs):
            raise ValueError(f"keyword names must be identifiers: {sorted(map(str, self.kwargs))}")

    @classmethod
    def nn(cls, name: str, **kwargs: Any) -> "Twin":
        """A ``torch.nn`` module: ``Twin.nn("Linear", in_features=4, out_features=2)``."""
        return cls(TORCH_NN + name, kwargs)

    @classmethod
    def own(cls, name: str, **kwargs: Any) -> "Twin":
        """A module of the nnshape/twins package: ``Twin.own("Attention", dim=16, ...)``."""
        return cls(OWN + name, kwargs)

    @property
    def name(self) -> str:
        """The class name without its module: ``Linear``, ``Attention``."""
        return self.cls.rsplit(".", 1)[1]

    @property
    def is_own(self) -> bool:
        return self.cls.startswith(OWN)

    def own_names(self) -> list[str]:
        """The nnshape.twins classes this constructor uses (itself and the modules it wraps)."""
        names = [self.name] if self.is_own else []
        for value in self.kwargs.values():
            if isinstance(value, Twin):
                names += value.own_names()
        return names

    def build(self):
        """The torch module: ``cls(**kwargs)`` (imports torch)."""
        if self.is_own:
            from . import twins as module
        else:
            import torch.nn as module
        kwargs = {k: v.build() if isinstance(v, Twin) else v for k, v in self.kwargs.items()}
        return getattr(module, self.name)(**kwargs)

    def source(self) -> str:
        """The constructor as Python source, e.g. ``nn.Linear(in_features=4, out_features=2, bias=True)``.
        torch.nn classes are written ``nn.NAME``, nnshape's own by their bare name. Raises
        :class:`NotLiteral` for a value that has no literal (a symbolic size)."""
        head = self.name if self.is_own else "nn." + self.name
        return head + "(" + ", ".join(f"{k}={literal(v)}" for k, v in self.kwargs.items()) + ")"


def literal(value: Any) -> str:
    """Python source that evaluates to ``value``; only literals, so nothing a spec writes can run."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):  # int(): a subclass could repr itself as anything
        return repr(int(value))
    if isinstance(value, float):
        if math.isnan(value):
            return "float('nan')"
        if math.isinf(value):
            return "float('inf')" if value > 0 else "-float('inf')"
        return repr(float(value))
    if isinstance(value, str):
        return repr(str(value))
    if isinstance(value, tuple):
        items = [literal(v) for v in value]
        return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if isinstance(value, Twin):
        return value.source()
    raise NotLiteral(value)
