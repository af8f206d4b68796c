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


class Subscript(NamedTuple):
    """``in[1]``, ``low[2:]``, ``k[0]``: an index (an Expr) or a slice (a SliceExpr) of a named
    tensor's sizes (``in`` is the tensor entering the line) or of a tuple constant."""

    target: str
    index: "Expr | SliceExpr"
    span: Span
    target_span: Span


class SliceExpr(NamedTuple):
    """``a:b`` or ``a:b:c`` inside a subscript; a part left out is None (Python's slicing)."""

    start: "Expr | None"
    stop: "Expr | None"
    step: "Expr | None"
    span: Span


class FuncCall(NamedTuple):
    """``max(8, c // 4)``: one of FUNCTIONS applied to its arguments."""

    name: str
    args: tuple["Expr", ...]
    span: Span


class Compare(NamedTuple):
    """``a == b``, ``0 < i <= n`` (chained as in Python): ops[i] compares operands[i] and operands[i + 1]."""

    ops: tuple[str, ...]
    operands: tuple["Expr", ...]
    span: Span


class BoolOp(NamedTuple):
    """``a and b and c`` / ``a or b``."""

    op: str
    operands: tuple["Expr", ...]
    span: Span


FUNCTIONS = ("min", "max", "round", "floor", "ceil", "abs")  # name(...) in an expression
COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")

Expr = Union[Const, Dims, Name, TupleExpr, Unary, Binary, Subscript, FuncCall, Compare, BoolOp]


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
        return f"not {_operand_text(expr.operand)}" if expr.op == "not" else f"{expr.op}{_operand_text(expr.operand)}"
    if isinstance(expr, Binary):
        return f"{_operand_text(expr.left)}{expr.op}{_operand_text(expr.right)}"
    if isinstance(expr, Subscript):
        return f"{expr.target}[{expr_text(expr.index)}]"
    if isinstance(expr, SliceExpr):
        parts = [expr_text(p) if p is not None else "" for p in (expr.start, expr.stop, expr.step)]
        return ":".join(parts if expr.step is not None else parts[:2])
    if isinstance(expr, FuncCall):
        return f"{expr.name}({', '.join(expr_text(a) for a in expr.args)})"
    if isinstance(expr, Compare):
        text = _operand_text(expr.operands[0])
        for op, operand in zip(expr.ops, expr.operands[1:]):
            text += f" {op} {_operand_text(operand)}"
        return text
    if isinstance(expr, BoolOp):
        return f" {expr.op} ".join(_operand_text(o) for o in expr.operands)
    raise TypeError(expr)


def _operand_text(expr: Expr) -> str:
    text = expr_text(expr)
    return f"({text})" if isinstance(expr, (Binary, Compare, BoolOp)) or (isinstance(expr, Unary) and expr.op == "not") else text


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
    """``KIND args... [as NAME]``: a layer of the catalogue or a call of a ``def``; ``alias``
    is the name its output is stored under."""

    kind: str
    args: tuple[Argument, ...]
    span: Span  # of the kind token
    alias: str | None = None
    alias_span: Span | None = None

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
        if self.alias is not None:
            parts += ["as", self.alias]
        return " ".join(parts)


BLOCK_KEYWORDS = (
    "residual", "shortcut", "concat", "add", "multiply", "matmul", "branch", "repeat", "block", "from", "if", "elif", "else",
)
STATEMENT_KEYWORDS = ("input", "let", "output", "def", "reuse") + BLOCK_KEYWORDS  # a line starting with one is not a layer
# words that cannot name a constant, a def, a parameter or a stored tensor: the keywords that start a
# statement and those of expressions and headers (`in[1]`, `as NAME`, `not`, `and`, `or`)
RESERVED_NAMES = STATEMENT_KEYWORDS + ("as", "in", "and", "or", "not")


class Block(NamedTuple):
    """A block header and its indented body.

    keyword is one of BLOCK_KEYWORDS. ``name`` is the block's name (``block NAME``) or the
    tensor read by ``from NAME``; ``alias`` is ``from NAME as ALIAS`` or the index of
    ``repeat N as i``. A one-line ``from NAME [as ALIAS]`` is a ``from`` block with no body.
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


class IfBranch(NamedTuple):
    """One arm of an ``if``: its condition (None for ``else``) and body."""

    keyword: str  # if | elif | else
    condition: Expr | None
    body: tuple["Statement", ...]
    span: Span


class If(NamedTuple):
    """``if C: … elif C: … else: …``, decided at analysis time: only the arm taken runs."""

    branches: tuple[IfBranch, ...]
    span: Span


Statement = Union[Input, Let, Output, Layer, Block, Def, If]


class Spec(NamedTuple):
    statements: tuple[Statement, ...]


# ----------------------------------------------------------------------------- names read


def expr_names(expr: "Expr | SliceExpr | None"):
    """The names an expression reads (constants, tensors whose sizes it reads), in order."""
    stack = [expr]
    while stack:
        item = stack.pop()
        if item is None or isinstance(item, (Const, Dims)):
            continue
        if isinstance(item, Name):
            yield item.name
        elif isinstance(item, Subscript):
            yield item.target
            stack.append(item.index)
        elif isinstance(item, SliceExpr):
            stack.extend((item.start, item.stop, item.step))
        elif isinstance(item, (TupleExpr, FuncCall)):
            stack.extend(item.items if isinstance(item, TupleExpr) else item.args)
        elif isinstance(item, Unary):
            stack.append(item.operand)
        elif isinstance(item, Binary):
            stack.extend((item.left, item.right))
        elif isinstance(item, (Compare, BoolOp)):
            stack.extend(item.operands)


def names_read(body: tuple["Statement", ...]):
    """The names ``body`` reads, nested statements and defs written inside included: in its
    expressions, and as the word of a layer line (a string parameter naming a kind: lower case)."""
    stack = list(body)
    while stack:
        stmt = stack.pop()
        if isinstance(stmt, Layer):
            yield stmt.kind
            for arg in stmt.args:
                yield from expr_names(arg.value)
        elif isinstance(stmt, Let):
            yield from expr_names(stmt.value)
        elif isinstance(stmt, Block):
            for arg in stmt.args:
                yield from expr_names(arg.value)
            stack.extend(stmt.body)
        elif isinstance(stmt, If):
            for arm in stmt.branches:
                yield from expr_names(arm.condition)
                stack.extend(arm.body)
        elif isinstance(stmt, Def):
            for param in stmt.params:
                yield from expr_names(param.default)
            stack.extend(stmt.body)
        elif isinstance(stmt, Input):
            yield from expr_names(stmt.shape)
            for arg in stmt.args:
                yield from expr_names(arg.value)


def reads_name(body: tuple["Statement", ...], name: str) -> bool:
    """Whether ``body`` reads ``name`` (see :func:`names_read`)."""
    lowered = name.lower()
    return any(read == name or read == lowered for read in names_read(body))
