"""Evaluate spec expressions safely: integers, floats, booleans, strings, tuples, symbols.

No Python evaluation is involved: the tree is walked by hand, integer sizes are bounded and
division by zero is a located error, so a spec from an untrusted source stays data.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from .errors import SpecArgumentError, SpecLimitError, SpecNameError, SpecShapeError
from .suggest import did_you_mean
from .symbolic import MAX_TERMS, NeedsValue, Poly, TooComplex
from .syntax import Binary, BoolOp, Compare, Const, Dims, Expr, FuncCall, Name, SliceExpr, Subscript, TupleExpr, Unary
from .limits import MAX_COEFF_BITS, MAX_DEGREE, MAX_INT


@dataclass(frozen=True, slots=True)
class TensorRef:
    """A def argument that names a tensor (``up 256 e3``): inside the call, the parameter reads
    that tensor (``from skip``, ``kv=skip``, ``skip[1]``). ``key`` is the tensor's key in the
    analysis (unique, where a name local to a def call may be reused by another call)."""

    name: str
    key: str


def describe(value: object) -> str:
    """A value as a user wrote it: ``3x5``, ``true``, ``'same'``."""
    if isinstance(value, TensorRef):
        return value.name
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
    if isinstance(value, TensorRef):
        return "a tensor"
    return "nothing"


class Evaluator:
    """Evaluates expressions against a name lookup.

    ``lookup(name)`` returns the bound value or raises KeyError. When ``symbols`` is true,
    unbound names become symbolic sizes (used for input shapes). ``sizes(name, span)`` gives
    the shape (batch first) of a named tensor, or of ``in``, the tensor entering the line, for
    ``NAME[d]`` / ``in[a:b]`` (None where no tensor can be read: a ``--set`` value).
    """

    def __init__(
        self, lookup: Callable[[str], object], known: Callable[[], list[str]], symbols: bool = False,
        sizes: Callable[[str, object], tuple] | None = None,
    ):
        self.lookup = lookup
        self.known = known
        self.symbols = symbols
        self.sizes = sizes

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
            if expr.op == "not":
                return not truth(value, "not", expr.operand)
            if isinstance(value, bool) or not isinstance(value, (int, float, Poly)):
                raise _operand_error(expr.op, value, expr)
            return value if expr.op == "+" else _check_int(-value, expr)
        if isinstance(expr, Binary):
            return self._binary(expr)
        if isinstance(expr, Subscript):
            return self._subscript(expr)
        if isinstance(expr, FuncCall):
            return _function(expr, [self.eval(arg) for arg in expr.args])
        if isinstance(expr, Compare):
            return self._compare(expr)
        if isinstance(expr, BoolOp):
            for operand in expr.operands:  # short-circuit, as Python: `n == 0 or c // n > 1`
                value = truth(self.eval(operand), expr.op, operand)
                if value == (expr.op == "or"):
                    return value
            return expr.op == "and"
        raise TypeError(expr)

    # ------------------------------------------------------------------ sizes, comparisons
    def _subscript(self, expr: Subscript) -> object:
        seq = self._sequence(expr)
        index = expr.index
        if isinstance(index, SliceExpr):
            parts = [None if part is None else self._index(part) for part in (index.start, index.stop, index.step)]
            if parts[2] == 0:
                raise SpecArgumentError("slice step cannot be zero", index.step.span, found="0", code="E0363")
            return tuple(seq[slice(*parts)])
        i = self._index(index)
        if not -len(seq) <= i < len(seq):
            what = "dims (batch = dim 0)" if _is_tensor(expr, self) else "items"
            raise SpecShapeError(
                f"index {i} is out of range for {expr.target}, which has {len(seq)} {what}",
                index.span,
                expected=f"an index in [{-len(seq)}, {len(seq) - 1}]",
                found=str(i),
                code="E0460",
            )
        return seq[i]

    def _sequence(self, expr: Subscript) -> tuple:
        """What a subscript indexes: a tuple constant, or a tensor's shape (batch first)."""
        name = expr.target
        if name != "in":
            try:
                value = self.lookup(name)
            except KeyError:
                value = None
            else:
                if isinstance(value, tuple):
                    return value
                if not isinstance(value, TensorRef):
                    raise SpecArgumentError(
                        f"'{name}' is {type_name(value)}, which has no sizes to index",
                        expr.target_span,
                        expected="a tensor's name (its sizes), `in` (the tensor entering the line) or a tuple",
                        found=f"{name} = {describe(value)}",
                        code="E0363",
                    )
        if self.sizes is None:
            raise SpecArgumentError(
                f"`{name}[...]` reads a tensor's sizes, which only a spec's lines can",
                expr.span,
                expected="a number or a tuple",
                code="E0363",
            )
        return tuple(self.sizes(name, expr.target_span))

    def _index(self, expr: Expr) -> int:
        value = self.eval(expr)
        if isinstance(value, bool) or not isinstance(value, int):
            raise SpecArgumentError(
                "an index must be an integer",
                expr.span,
                expected="an integer (negative counts from the end)",
                found=f"{describe(value)} ({type_name(value)})",
                code="E0363",
            )
        return value

    def _compare(self, expr: Compare) -> bool:
        left = self.eval(expr.operands[0])
        for op, operand in zip(expr.ops, expr.operands[1:]):
            right = self.eval(operand)
            try:
                result = compare(op, left, right)
            except NeedsValue as exc:
                raise _needs_value(op, exc, expr.span) from None
            if result is None:
                raise SpecArgumentError(
                    f"'{op}' cannot compare {type_name(left)} with {type_name(right)}",
                    expr.span,
                    expected="numbers for < <= > >=; == and != compare any two values",
                    found=f"{describe(left)} {op} {describe(right)}",
                    code="E0304",
                )
            if not result:
                return False
            left = right
        return True

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
            raise _needs_value(op, exc, expr.span) from None
        except OverflowError:
            raise SpecLimitError("number too large", expr.span, code="E0503") from None
        except TooComplex as exc:
            if exc.what == "bits":  # a coefficient past MAX_COEFF_BITS is past 2**63 - 1 as well
                raise SpecLimitError("integer too large", expr.span, expected=f"a value of at most {MAX_INT:,} (2**63 - 1)",
                                     found=f"a coefficient over 2**63 - 1 in a symbolic size ({exc.found} so far)", code="E0503") from None
            raise too_complex(exc, expr.span) from None
        return _check_int(result, expr)


def _is_tensor(expr: Subscript, evaluator: Evaluator) -> bool:
    try:
        return not isinstance(evaluator.lookup(expr.target), tuple)
    except KeyError:
        return True


def truth(value: object, what: str, expr: Expr) -> bool:
    """A condition's value: a boolean, nothing else (``if c:`` with c = 64 is a mistake, not true)."""
    if isinstance(value, bool):
        return value
    raise SpecArgumentError(
        f"'{what}' needs true or false, found {type_name(value)}",
        expr.span,
        expected="a boolean: a comparison (c == 64), true/false, or a name bound to one",
        found=describe(value),
        hint="compare it to something: `c > 0`, `act == 'relu'`",
        code="E0360",
    )


def _kind_of(value) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float, Poly)):
        return "number"
    return type(value).__name__


def compare(op: str, left, right) -> bool | None:
    """``left op right`` as Python, for spec values: numbers compare with each other, any two
    values may be ``==``/``!=`` (true and 1 are not equal in a spec); None when the two cannot
    be ordered. Raises NeedsValue when a symbolic size decides it."""
    if op in ("==", "!="):
        if _kind_of(left) != _kind_of(right):
            equal = False
        elif isinstance(left, Poly) or isinstance(right, Poly):
            if (left - right) == 0:
                equal = True
            else:
                raise NeedsValue(sorted({*getattr(left, "symbols", ()), *getattr(right, "symbols", ())}))
        else:
            equal = _typed_equal(left, right)
        return equal if op == "==" else not equal
    if _kind_of(left) != "number" or _kind_of(right) != "number":
        return None
    if isinstance(left, Poly) or isinstance(right, Poly):
        raise NeedsValue(sorted({*getattr(left, "symbols", ()), *getattr(right, "symbols", ())}))
    return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[op]


def _typed_equal(left, right) -> bool:
    if isinstance(left, tuple) and isinstance(right, tuple):
        return len(left) == len(right) and all(_kind_of(a) == _kind_of(b) and _typed_equal(a, b) for a, b in zip(left, right))
    return left == right


_FORMS = {"min": "min(a, b, ...) or min(tuple)", "max": "max(a, b, ...) or max(tuple)", "round": "round(x) or round(x, ndigits)",
          "floor": "floor(x)", "ceil": "ceil(x)", "abs": "abs(x)"}


def _function(expr: FuncCall, args: list) -> object:
    """min max round floor ceil abs, as Python's (round is banker's rounding: round(2.5) is 2)."""
    name = expr.name
    if name in ("min", "max"):
        one_tuple = len(args) == 1 and isinstance(args[0], tuple)
        if one_tuple:
            args = list(args[0])  # max((a, b)) as max(a, b)
        valid = len(args) >= 2 or (one_tuple and len(args) == 1)
    else:
        valid = len(args) == 1 or (name == "round" and len(args) == 2)
    if not valid:
        raise SpecArgumentError(
            f"{name}() cannot take {len(args)} value{'' if len(args) == 1 else 's'}",
            expr.span,
            expected=_FORMS[name],
            found=f"{len(args)} argument{'' if len(args) == 1 else 's'}",
            code="E0362",
        )
    for value in args:
        if isinstance(value, bool) or not isinstance(value, (int, float, Poly)):
            raise SpecArgumentError(
                f"{name}() cannot be applied to {type_name(value)}",
                expr.span,
                expected="numbers",
                found=describe(value),
                code="E0304",
            )
    if any(isinstance(value, Poly) for value in args):
        symbols = sorted({s for value in args if isinstance(value, Poly) for s in value.symbols})
        raise SpecArgumentError(
            f"{name}() needs the value of {', '.join(symbols)}",
            expr.span,
            hint=" ".join(f"`--set {s}=...`" for s in symbols) + " or bind it with `let`",
            code="E0302",
        )
    if name == "min":
        result = min(args)
    elif name == "max":
        result = max(args)
    elif name == "abs":
        result = abs(args[0])
    elif name == "floor":
        result = math.floor(args[0])
    elif name == "ceil":
        result = math.ceil(args[0])
    else:
        if len(args) == 2 and not isinstance(args[1], int):
            raise SpecArgumentError("round(): ndigits must be an integer", expr.args[1].span, found=describe(args[1]), code="E0304")
        if len(args) == 2 and abs(args[1]) > 400:
            raise SpecLimitError("round(): ndigits too large", expr.args[1].span, found=str(args[1]), code="E0503")
        result = round(*args)
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


def _needs_value(op: str, exc: NeedsValue, span) -> SpecArgumentError:
    """An operator met a symbolic size it can only apply to a number: name the --set that binds it."""
    return SpecArgumentError(
        f"'{op}' needs the value of {', '.join(exc.symbols)}",
        span,
        hint=" ".join(f"`--set {s}=...`" for s in exc.symbols) + " or bind it with `let`",
        code="E0302",
    )
