"""A kind's arguments: their declaration (:class:`Arg`), resolved values (:class:`Args`), and the
checks that turn what a spec wrote into them (:func:`coerce`), with the error texts that say what
was expected. Pure Python; the binder (nnshape/analysis/binding.py) applies them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from .errors import SpecArgumentError
from .limits import MAX_INT
from .source import Span
from .suggest import did_you_mean
from .symbolic import Poly
from .values import describe, type_name

REQUIRED = object()

ARG_TYPES = ("int", "float", "bool", "str", "size", "padding", "shape", "ints", "tensor", "any", "number")


@dataclass(frozen=True)
class Arg:
    """One argument of a kind. ``name`` is PyTorch's; ``aliases`` are the short forms."""

    name: str
    type: str
    default: Any = REQUIRED
    aliases: tuple[str, ...] = ()
    positional: bool = False
    variadic: bool = False
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()
    nullable: bool = False
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def keys(self) -> tuple[str, ...]:
        return (self.name,) + self.aliases

    @property
    def short(self) -> str:
        return min(self.keys, key=len)


class Args:
    """Resolved argument values, read as attributes (``args.kernel_size``)."""

    def __init__(self, values: dict[str, Any], given: frozenset[str]):
        self._values = values
        self._given = given

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def given(self, name: str) -> bool:
        """True if the spec wrote this argument (rather than taking its default)."""
        return name in self._given

    def items(self):
        return self._values.items()

    def as_dict(self) -> dict[str, Any]:
        return dict(self._values)


_COMPACT = re.compile(r"^([a-z])0*([0-9]{1,19})$")  # more digits: past 2**63 - 1, and int() of 4,301 raises


def compact_split(word: str) -> tuple[str, int] | None:
    """``k3`` -> ("k", 3): the lecture notes' compact form of a single-letter key. A number past
    2**63 - 1 is no compact form (the word is then looked up as a name: a located E0201)."""
    match = _COMPACT.match(word.lower())
    if not match or int(match.group(2)) > MAX_INT:
        return None
    return match.group(1), int(match.group(2))


def coerce(kind, spec: Arg, value: Any, span: Span, ndim: int | None = None) -> Any:
    """Check and normalize one argument value of ``kind``, or raise a located SpecArgumentError."""

    def fail(expected: str, hint: str | None = None) -> NoReturn:
        raise SpecArgumentError(
            f"{kind.name}: invalid value for '{spec.name}'",
            span,
            expected=expected,
            found=f"{describe(value)} ({type_name(value)})",
            hint=hint,
            code="E0303",
        )

    if value is None:
        if spec.nullable or spec.default is None:
            return None
        fail(_expected_text(spec, ndim))
    t = spec.type
    if t == "any":
        return value
    if t == "tensor":
        if not isinstance(value, str):
            fail("the name of a tensor (a named input or `from ... as NAME`)")
        return value
    if t == "int":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, (int, Poly)):
            fail(_expected_text(spec, ndim))
        _check_range(spec, value, fail, ndim)
        return value
    if t in ("float", "number"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            fail(_expected_text(spec, ndim))
        _check_range(spec, value, fail, ndim)
        return float(value) if t == "float" else value
    if t == "bool":
        if isinstance(value, int) and not isinstance(value, bool) and value in (0, 1):
            return bool(value)
        if not isinstance(value, bool):
            fail("true or false")
        return value
    if t == "str":
        if not isinstance(value, str):
            fail(_expected_text(spec, ndim))
        if spec.choices:
            lowered = value.lower()
            if lowered not in spec.choices:
                fail(_expected_text(spec, ndim), did_you_mean(lowered, spec.choices))
            return lowered
        return value
    if t in ("size", "padding"):
        if t == "padding" and isinstance(value, str):
            lowered = value.lower()
            if lowered in ("same", "valid"):
                return lowered
            fail(_expected_text(spec, ndim), did_you_mean(lowered, ("same", "valid")))
        items = value if isinstance(value, tuple) else (value,) * (ndim or 1)
        if ndim is not None and len(items) != ndim:
            fail(_expected_text(spec, ndim))
        for item in items:
            if isinstance(item, bool) or not isinstance(item, (int, Poly)):
                fail(_expected_text(spec, ndim))
            _check_range(spec, item, fail, ndim)
        return tuple(items)
    if t in ("shape", "ints"):
        items = value if isinstance(value, tuple) else (value,)
        flat: list = []
        for item in items:
            if isinstance(item, tuple):  # `reshape 4x4 16` style: nested tuples flatten
                flat.extend(item)
            else:
                flat.append(item)
        for item in flat:
            if isinstance(item, bool) or not isinstance(item, (int, Poly)):
                fail(_expected_text(spec, ndim))
            _check_range(spec, item, fail, ndim)
        return tuple(flat)
    raise TypeError(f"unknown argument type {t!r}")  # pragma: no cover - a kind definition bug


def _check_range(spec: Arg, value, fail: Callable, ndim) -> None:
    if isinstance(value, Poly):
        return
    if spec.min is not None and value < spec.min:
        fail(_expected_text(spec, ndim))
    if spec.max is not None and value > spec.max:
        fail(_expected_text(spec, ndim))


def _expected_text(spec: Arg, ndim: int | None) -> str:
    t = spec.type
    rng = ""
    if spec.min is not None and spec.max is not None:
        rng = f" in [{_num(spec.min)}, {_num(spec.max)}]"
    elif spec.min is not None:
        rng = " ≥ " + _num(spec.min) if spec.min not in (0, 1) else (" ≥ 0" if spec.min == 0 else " ≥ 1")
    elif spec.max is not None:
        rng = f" ≤ {_num(spec.max)}"
    none = " or none" if spec.nullable else ""
    if t == "int":
        return f"an integer{rng}{none}"
    if t in ("float", "number"):
        return f"a number{rng}{none}"
    if t == "bool":
        return "true or false"
    if t == "str":
        if spec.choices:
            return "one of " + ", ".join(f"'{c}'" for c in spec.choices)
        return "a quoted string"
    if t == "size":
        n = ndim or 1
        example = "x".join(["3"] * n)
        return f"an integer{rng} or {n} of them (e.g. {example})" if n > 1 else f"an integer{rng}"
    if t == "padding":
        n = ndim or 1
        return f"an integer{rng}, {n} of them, 'same' or 'valid'"
    if t in ("shape", "ints"):
        return f"integers{rng} (e.g. 16x5x5 or (16, 5, 5))"
    return spec.type


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def format_default(spec: Arg) -> str:
    if spec.required:
        return "required"
    return describe(spec.default)
