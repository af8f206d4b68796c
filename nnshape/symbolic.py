"""Symbolic integers for dimensions left unbound (e.g. a sequence length ``L``).

A :class:`Poly` is a polynomial with integer coefficients over named symbols. Shapes,
parameter counts and MACs may be symbolic wherever no rule needs the actual value;
a rule that does (a convolution over ``L``) asks for it through :class:`NeedsValue`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from .limits import MAX_COEFF_BITS, MAX_DEGREE, MAX_TERMS

Monomial = tuple[tuple[str, int], ...]


class TooComplex(ArithmeticError):
    """A symbolic size grew past a bound on its work: MAX_TERMS terms (multiplying long sums
    multiplies their terms), MAX_COEFF_BITS bits in a coefficient or MAX_DEGREE in a term
    (``((L*9223372036854775807)**8)**8...`` took minutes of big-integer arithmetic).
    ``what`` is "terms", "bits" or "degree"; ``found`` says it for the report."""

    def __init__(self, terms: int, what: str = "terms", found: str | None = None):
        self.terms = terms
        self.what = what
        self.found = found or f"a polynomial of {terms:,} terms"
        super().__init__(self.found)


def _bounded(items) -> None:
    """Raise TooComplex when a coefficient or a term's degree is past its bound."""
    for mono, coef in items:
        if coef.bit_length() > MAX_COEFF_BITS:
            raise TooComplex(0, "bits", f"a coefficient of {coef.bit_length():,} bits")
        if len(mono) and sum(e for _, e in mono) > MAX_DEGREE:
            raise TooComplex(0, "degree", f"a term of degree {sum(e for _, e in mono):,}")


class NeedsValue(Exception):
    """Raised when an operation needs the concrete value of a symbol."""

    def __init__(self, symbols: tuple[str, ...]):
        super().__init__(", ".join(symbols))
        self.symbols = symbols


@dataclass(frozen=True)
class Poly:
    terms: tuple[tuple[Monomial, int], ...]  # sorted, no zero coefficients

    # -------------------------------------------------------------- construction
    @staticmethod
    def symbol(name: str) -> "Poly":
        return Poly((((((name, 1),)), 1),))

    @staticmethod
    def _make(table: dict[Monomial, int]) -> "Dim":
        if len(table) > MAX_TERMS:
            raise TooComplex(len(table))
        items = tuple(sorted((m, c) for m, c in table.items() if c != 0))
        _bounded(items)
        if not items:
            return 0
        if len(items) == 1 and items[0][0] == ():
            return items[0][1]
        return Poly(items)

    def _table(self) -> dict[Monomial, int]:
        return dict(self.terms)

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(sorted({s for mono, _ in self.terms for s, _ in mono}))

    # -------------------------------------------------------------- arithmetic
    def __add__(self, other: "Dim") -> "Dim":
        if isinstance(other, int) and not isinstance(other, bool) and other == 0:
            return self
        table = self._table()
        for mono, coef in _as_poly(other).terms:
            table[mono] = table.get(mono, 0) + coef
        return Poly._make(table)

    __radd__ = __add__

    def __neg__(self) -> "Dim":
        return Poly._make({m: -c for m, c in self.terms})

    def __sub__(self, other: "Dim") -> "Dim":
        return self + (-other)

    def __rsub__(self, other: "Dim") -> "Dim":
        return (-self) + other

    def __mul__(self, other: "Dim") -> "Dim":
        if isinstance(other, bool) or not isinstance(other, (int, Poly)):
            return NotImplemented
        if isinstance(other, int):  # the common case (a size times a count): same terms, in order
            if not other:
                return 0
            items = tuple((mono, coef * other) for mono, coef in self.terms)
            _bounded(items)
            return Poly(items)
        table: dict[Monomial, int] = {}
        for m1, c1 in self.terms:
            for m2, c2 in other.terms:
                mono = _mono_mul(m1, m2)
                table[mono] = table.get(mono, 0) + c1 * c2
        return Poly._make(table)

    __rmul__ = __mul__

    def __floordiv__(self, other: "Dim") -> "Dim":
        if isinstance(other, int) and other != 0 and all(c % other == 0 for _, c in self.terms):
            return Poly._make({m: c // other for m, c in self.terms})
        raise NeedsValue(self.symbols)

    def __rfloordiv__(self, other):
        raise NeedsValue(self.symbols)

    def __mod__(self, other):
        if isinstance(other, int) and other != 0 and all(c % other == 0 for _, c in self.terms):
            return 0
        raise NeedsValue(self.symbols)

    def __rmod__(self, other):
        raise NeedsValue(self.symbols)

    def __truediv__(self, other):
        return self.__floordiv__(other)

    def __rtruediv__(self, other):
        raise NeedsValue(self.symbols)

    def __pow__(self, other):
        if isinstance(other, int) and 0 <= other <= 8:
            result: Dim = 1
            for _ in range(other):
                result = result * self
            return result
        raise NeedsValue(self.symbols)

    def __lt__(self, other):
        raise NeedsValue(self.symbols)

    __le__ = __gt__ = __ge__ = __lt__

    def __bool__(self) -> bool:
        return True  # a nonzero polynomial

    def __int__(self):
        raise NeedsValue(self.symbols)

    __index__ = __int__

    def substitute(self, values: dict[str, int]) -> "Dim":
        total: Dim = 0
        for mono, coef in self.terms:
            term: Dim = coef
            for sym, exp in mono:
                base = values.get(sym, Poly.symbol(sym))
                for _ in range(exp):
                    term = term * base
            total = total + term
        return total

    # -------------------------------------------------------------- display
    def __str__(self) -> str:
        return self.format()

    def format(self, group: bool = False) -> str:
        parts = []
        for mono, coef in sorted(self.terms, key=lambda t: (-_degree(t[0]), t[0])):
            factors = [s if e == 1 else f"{s}^{e}" for s, e in mono]
            magnitude = abs(coef)
            number = f"{magnitude:,}" if group else str(magnitude)
            if not factors:
                body = number
            elif magnitude == 1:
                body = "·".join(factors)
            else:
                body = number + "·" + "·".join(factors)
            sign = "-" if coef < 0 else "+"
            parts.append((sign, body))
        text = ("-" if parts[0][0] == "-" else "") + parts[0][1]
        for sign, body in parts[1:]:
            text += f" {sign} {body}"
        return text


Dim = Union[int, Poly]


def _as_poly(value: Dim) -> Poly:
    if isinstance(value, Poly):
        return value
    return Poly(((((), value),)) if value else ())


def _mono_mul(a: Monomial, b: Monomial) -> Monomial:
    powers: dict[str, int] = dict(a)
    for sym, exp in b:
        powers[sym] = powers.get(sym, 0) + exp
    return tuple(sorted(powers.items()))


def _degree(mono: Monomial) -> int:
    return sum(e for _, e in mono)


def format_dim(value: Dim) -> str:
    """A size inside a shape: `L`, `2·L`, or `(L - 2)` when it has several terms."""
    if isinstance(value, Poly):
        text = value.format()
        return f"({text})" if len(value.terms) > 1 else text
    return str(value)


def format_count(value: Dim) -> str:
    """Thousands-separated count, symbolic or not."""
    return value.format(group=True) if isinstance(value, Poly) else f"{value:,}"


def to_json(value: Dim):
    return str(value) if isinstance(value, Poly) else value
