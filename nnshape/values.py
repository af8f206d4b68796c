"""Evaluate spec expressions safely: integers, floats, booleans, strings, tuples, symbols.

No Python evaluation is involved: the tree is walked by hand, integer sizes are bounded and
division by zero is a located error, so a spec from an untrusted source stays data.
"""

from __future__ import annotations

from collections.abc import Callable

from .errors import SpecArgumentError, SpecLimitError, SpecNameError
from .suggest import did_you_mean
from .symbolic import MAX_TERMS, NeedsValue, Poly, TooComplex
from .syntax import Binary, Const, Dims, Expr, Name, TupleExpr, Unary
from .limits import MAX_COEFF_BITS, MAX_DEGREE, MAX_INT


def describe(value: object) -> str:
    """A value as a user wrote it: ``3x5``, ``true``, ``'same'``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, tuple):
        return "(" + ", ".join(describe(v) for v in value) + ")"
    return str(value)


def type_name(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number with a fraction"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, tuple):
        return f"a tuple of {len(value)}"
    if isinstance(value, Poly):
        return "a symbolic size"
    return "nothing"


class Evaluator:
    """Evaluates expressions against a name lookup.

    ``lookup(name)`` returns the bound value or raises KeyError. When ``symbols`` is true,
    unbound names become symbolic sizes (used for input shapes).
    """

    def __init__(self, lookup: Callable[[str], object], known: Callable[[], list[str]], symbols: bool = False):
        self.lookup = lookup
        self.known = known
        self.symbols = symbols

    def eval(self, expr: Expr) -> object:
        if isinstance(expr, Const):
            return _check_int(expr.value, expr)
        if isinstance(expr, Dims):
            for v in expr.values:
                _check_int(v, expr)
            return tuple(expr.values)
        if isinstance(expr, Name):
            try:
                return self.lookup(expr.name)
            except KeyError:
                if self.symbols:
                    return Poly.symbol(expr.name)
                raise SpecNameError(
                    f"name '{expr.name}' is not defined",
                    expr.span,
                    expected="a number, or a name bound by `let`, a def parameter or `--set`",
                    found=f"'{expr.name}'",
                    hint=did_you_mean(expr.name, self.known())
                    or f"bind it with `let {expr.name} = ...` or `--set {expr.name}=...`",
                    code="E0201",
                ) from None
        if isinstance(expr, TupleExpr):
            return tuple(self.eval(item) for item in expr.items)
        if isinstance(expr, Unary):
            value = self.eval(expr.operand)
            if isinstance(value, bool) or not isinstance(value, (int, float, Poly)):
                raise _operand_error(expr.op, value, expr)
            return value if expr.op == "+" else _check_int(-value, expr)
        if isinstance(expr, Binary):
            return self._binary(expr)
        raise TypeError(expr)

    def _binary(self, expr: Binary) -> object:
        left = self.eval(expr.left)
        right = self.eval(expr.right)
        for value in (left, right):
            if isinstance(value, bool) or not isinstance(value, (int, float, Poly)):
                raise _operand_error(expr.op, value, expr)
        if (isinstance(left, Poly) and isinstance(right, float)) or (isinstance(right, Poly) and isinstance(left, float)):
            raise SpecArgumentError(
                "a symbolic size combines only with integers",
                expr.span,
                expected="integer arithmetic on sizes, e.g. L*2 or L//2",
                found=f"{describe(left)} {expr.op} {describe(right)}",
                code="E0304",
            )
        op = expr.op
        try:
            if op == "+":
                result = left + right
            elif op == "-":
                result = left - right
            elif op == "*":
                result = left * right
            elif op in ("/", "//", "%"):
                if right == 0:
                    raise SpecArgumentError(
                        "division by zero",
                        expr.right.span,
                        expected="a non-zero divisor",
                        found="0",
                        code="E0301",
                    )
                if op == "%":
                    result = left % right
                elif op == "//" or (op == "/" and isinstance(left, (int, Poly)) and isinstance(right, int) and _divides(left, right)):
                    result = left // right
                elif isinstance(left, Poly) or isinstance(right, Poly):
                    raise NeedsValue((left if isinstance(left, Poly) else right).symbols)
                else:
                    result = left / right
            elif op == "**":
                result = _power(left, right, expr)
            else:  # pragma: no cover - the parser produces no other operators
                raise TypeError(op)
        except NeedsValue as exc:
            raise SpecArgumentError(
                f"'{op}' needs the value of {', '.join(exc.symbols)}",
                expr.span,
                hint=" ".join(f"`--set {s}=...`" for s in exc.symbols) + " or bind it with `let`",
                code="E0302",
            ) from None
        except OverflowError:
            raise SpecLimitError("number too large", expr.span, code="E0503") from None
        except TooComplex as exc:
            if exc.what == "bits":  # a coefficient past MAX_COEFF_BITS is past 2**63 - 1 as well
                raise SpecLimitError("integer too large", expr.span, expected=f"a value of at most {MAX_INT:,} (2**63 - 1)",
                                     found=f"a coefficient over 2**63 - 1 in a symbolic size ({exc.found} so far)", code="E0503") from None
            raise too_complex(exc, expr.span) from None
        return _check_int(result, expr)


def _divides(left, right: int) -> bool:
    if isinstance(left, Poly):
        return all(c % right == 0 for _, c in left.terms)
    return left % right == 0


def _power(left, right, expr: Binary):
    if isinstance(right, Poly) or (isinstance(left, Poly) and not isinstance(right, int)):
        raise NeedsValue((right if isinstance(right, Poly) else left).symbols)
    if isinstance(left, int) and isinstance(right, int):
        if right < 0:
            return float(left) ** right if left != 0 else _zero_power(expr)
        if abs(left) > 1 and right * max(abs(left).bit_length() - 1, 1) > 64:
            raise SpecLimitError(
                "integer too large",
                expr.span,
                expected=f"a value of at most {MAX_INT:,} (2**63 - 1)",
                found=f"{left}**{right}",
                code="E0503",
            )
    if isinstance(left, (int, float)) and left == 0 and right < 0:
        return _zero_power(expr)
    if isinstance(left, float) or isinstance(right, float):
        if isinstance(left, (int, float)) and left < 0 and not float(right).is_integer():
            raise SpecArgumentError("negative number to a fractional power", expr.span, code="E0309")
        if abs(right) > 1024:
            raise SpecLimitError("exponent too large", expr.right.span, code="E0503")
    return left**right


def _zero_power(expr: Binary):
    raise SpecArgumentError("zero to a negative power", expr.span, code="E0301")


def too_complex(exc: TooComplex, span) -> SpecLimitError:
    """E0510: a symbolic size with more than MAX_TERMS terms, a coefficient past MAX_COEFF_BITS
    bits or a term of a degree past MAX_DEGREE."""
    expected = {
        "terms": f"at most {MAX_TERMS:,} terms in a size left symbolic",
        "bits": f"coefficients of at most {MAX_COEFF_BITS} bits in a size left symbolic",
        "degree": f"terms of degree at most {MAX_DEGREE} in a size left symbolic",
    }[exc.what]
    return SpecLimitError(
        "a symbolic size is too complex",
        span,
        expected=expected,
        found=exc.found,
        hint="bind some of its names with `--set NAME=...` or `let`, so that the size is a number",
        code="E0510",
    )


def _check_int(value, expr: Expr):
    if isinstance(value, Poly):  # a symbolic size's coefficients obey the integers' bound too
        big = max(abs(coef) for _, coef in value.terms)
        if big > MAX_INT:
            raise SpecLimitError(
                "integer too large",
                expr.span,
                expected=f"a value of at most {MAX_INT:,} (2**63 - 1)",
                found=f"a coefficient of {big.bit_length():,} bits in a symbolic size",
                code="E0503",
            )
        return value
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
        raise SpecLimitError(
            "integer too large",
            expr.span,
            expected=f"a value of at most {MAX_INT:,} (2**63 - 1)",
            found=f"{value:,}" if value.bit_length() < 400 else f"a number of {len(str(value)):,} digits",
            code="E0503",
        )
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        raise SpecLimitError("number is not finite", expr.span, found=str(value), code="E0503")
    return value


def _operand_error(op: str, value, expr: Expr) -> SpecArgumentError:
    return SpecArgumentError(
        f"'{op}' cannot be applied to {type_name(value)}",
        expr.span,
        expected="numbers or sizes",
        found=describe(value),
        code="E0304",
    )
