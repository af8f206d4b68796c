"""The syntax tree of a spec: immutable nodes (named tuples: cheap to define and to create,
which matters for start-up time and 1 MB specs), each with its span (line:col)."""

from __future__ import annotations

from typing import NamedTuple, Union

from .source import Span

# ----------------------------------------------------------------------------- expressions


class Const(NamedTuple):
    value: object  # int | float | bool | str | None
    span: Span


class Dims(NamedTuple):
    """A literal like ``3x224x224``."""

    values: tuple[int, ...]
    span: Span


class Name(NamedTuple):
    name: str
    span: Span


class TupleExpr(NamedTuple):
    items: tuple["Expr", ...]
    span: Span


class Unary(NamedTuple):
    op: str
    operand: "Expr"
    span: Span


class Binary(NamedTuple):
    op: str
    left: "Expr"
    right: "Expr"
    span: Span


Expr = Union[Const, Dims, Name, TupleExpr, Unary, Binary]


def expr_text(expr: Expr) -> str:
    """Render an expression back to spec text (for labels and messages)."""
    if isinstance(expr, Const):
        if isinstance(expr.value, str):
            return repr(expr.value)
        if isinstance(expr.value, bool):
            return "true" if expr.value else "false"
        if expr.value is None:
            return "none"
        return str(expr.value)
    if isinstance(expr, Dims):
        return "x".join(str(v) for v in expr.values)
    if isinstance(expr, Name):
        return expr.name
    if isinstance(expr, TupleExpr):
        inner = ", ".join(expr_text(item) for item in expr.items)
        return f"({inner},)" if len(expr.items) == 1 else f"({inner})"
    if isinstance(expr, Unary):
        return f"{expr.op}{expr_text(expr.operand)}"
    if isinstance(expr, Binary):
        return f"{_operand_text(expr.left)}{expr.op}{_operand_text(expr.right)}"
    raise TypeError(expr)


def _operand_text(expr: Expr) -> str:
    text = expr_text(expr)
    return f"({text})" if isinstance(expr, Binary) else text


# ----------------------------------------------------------------------------- statements


class Argument(NamedTuple):
    """One argument of a layer or block header: positional (``key`` is None) or ``key=value``."""

    key: str | None
    value: Expr
    span: Span  # of the whole argument
    key_span: Span | None = None
    compact: bool = False  # written as `k3` rather than `k=3`


class Input(NamedTuple):
    name: str | None
    shape: Expr
    args: tuple[Argument, ...]
    span: Span


class Let(NamedTuple):
    name: str
    value: Expr
    span: Span


class Output(NamedTuple):
    names: tuple[Name, ...]
    span: Span


class Layer(NamedTuple):
    """``KIND args...``: a layer of the catalogue or a call of a ``def``."""

    kind: str
    args: tuple[Argument, ...]
    span: Span  # of the kind token

    @property
    def text(self) -> str:
        parts = [self.kind]
        for arg in self.args:
            value = expr_text(arg.value)
            if arg.key is None:
                parts.append(value)
            elif arg.compact:
                parts.append(f"{arg.key}{value}")
            else:
                parts.append(f"{arg.key}={value}")
        return " ".join(parts)


BLOCK_KEYWORDS = ("residual", "shortcut", "concat", "add", "multiply", "branch", "repeat", "block", "from")
STATEMENT_KEYWORDS = ("input", "let", "output", "def", "reuse") + BLOCK_KEYWORDS  # a line starting with one is not a layer


class Block(NamedTuple):
    """A block header and its indented body.

    keyword is one of BLOCK_KEYWORDS. ``name`` is the block's name (``block NAME``) or the
    tensor read by ``from NAME``; ``alias`` is ``from NAME as ALIAS``.
    """

    keyword: str
    args: tuple[Argument, ...]
    body: tuple["Statement", ...]
    span: Span
    name: str | None = None
    name_span: Span | None = None
    alias: str | None = None
    alias_span: Span | None = None


class Param(NamedTuple):
    name: str
    default: Expr | None
    span: Span


class Def(NamedTuple):
    name: str
    params: tuple[Param, ...]
    body: tuple["Statement", ...]
    span: Span


Statement = Union[Input, Let, Output, Layer, Block, Def]


class Spec(NamedTuple):
    statements: tuple[Statement, ...]
