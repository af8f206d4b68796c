"""Inference reuse: a layer with the same arguments on the same input is inferred once.

Most specs repeat layers (a 1 MB spec must), so binding and inferring each line anew would
dominate the analysis. :func:`layer_key` says what an inference depends on; equal keys give
equal inferences, and :class:`InferenceCache` keeps the first one for each key. The reuse must
be invisible: tests/test_analysis_reuse.py compares every summary, warning and error with it off.
"""

from __future__ import annotations

from typing import Any, Callable

from ..registry import Call, Inference
from ..symbolic import Dim
from ..syntax import Argument, Binary, BoolOp, Compare, Const, Dims, Expr, FuncCall, Layer, Name, SliceExpr, Subscript, TupleExpr, Unary
from ..tensor import TensorInfo

_UNBOUND = object()  # a name that no scope binds (a bare word such as p=same)
_SIZES = "\0sizes"  # in `free`: the line reads a named tensor's sizes (NAME[d]), which no key holds


def written_key(stmt: Layer) -> tuple[tuple, tuple[str, ...]]:
    """A layer line's arguments as written, without their spans, and the names they read
    (``in[d]`` reads the input's shape, which the key holds; ``NAME[d]`` reads another tensor's:
    such a line is not shared, see :meth:`InferenceCache.key`)."""
    free: list[str] = []
    args = tuple(_argument_key(arg, free) for arg in stmt.args)
    return args, tuple(dict.fromkeys(free))


def layer_key(kind: str, args: tuple, names: tuple[str, ...], lookup: Callable[[str], Any], x: TensorInfo) -> tuple:
    """What a layer's inference depends on: its kind as written (it starts the label), its
    arguments as written (:func:`written_key`), the values of the names they read (``lookup``
    raises KeyError for a name nothing binds), and the input's shape and dtype."""
    if names:
        values = []
        for name in names:
            try:
                values.append(_typed_key(lookup(name)))
            except KeyError:
                values.append(_UNBOUND)
        bound: tuple = tuple(values)
    else:
        bound = ()
    return (kind, args, bound, x.shape, x.dtype)


class Inferred:
    """A layer's bound call, inference and output, shared by the layers with its layer_key."""

    __slots__ = ("call", "result", "out", "out_bytes", "rule")

    def __init__(self, call: Call, result: Inference, out: TensorInfo, out_bytes: Dim):
        self.call, self.result, self.out, self.out_bytes = call, result, out, out_bytes
        self.rule = None

    def saved_rule(self):
        """What the layer's backward keeps (nnshape.memory.Saved), worked out once."""
        if self.rule is None:
            self.rule = self.call.kind.saved(self.call, self.result)
        return self.rule


class InferenceCache:
    """The first inference of each layer_key in one analysis."""

    enabled = True  # tests switch reuse off to compare

    def __init__(self):
        self.on = self.enabled
        self.inferred: dict[tuple, Inferred] = {}
        # id(Layer) -> (the Layer, written_key(Layer)): a line inside a def or a repeat is keyed
        # once; the Layer is kept so that its id stays unique
        self.written: dict[int, tuple] = {}

    def key(self, stmt: Layer, x: TensorInfo, lookup: Callable[[str], Any]) -> tuple | None:
        """The layer's key, or None when reuse is off."""
        if not self.on:
            return None
        written = self.written.get(id(stmt))
        if written is None or written[0] is not stmt:
            written = (stmt, *written_key(stmt))
            self.written[id(stmt)] = written
        if _SIZES in written[2]:
            return None
        return layer_key(stmt.kind, written[1], written[2], lookup, x)

    def get(self, key: tuple | None) -> Inferred | None:
        """The inference stored for ``key``; TypeError when a bound value cannot be hashed."""
        return self.inferred.get(key) if key is not None else None

    def put(self, key: tuple, inferred: Inferred) -> None:
        self.inferred[key] = inferred


def _argument_key(arg: Argument, free: list[str]) -> tuple:
    return (arg.key, arg.compact, _expr_key(arg.value, free))


def _expr_key(expr: Expr, free: list[str]) -> tuple:
    """An expression without its spans, each constant with its type (1, 1.0 and true are equal
    in Python but not in a spec); the names it reads go to ``free``."""
    if isinstance(expr, Const):
        return ("c", type(expr.value), expr.value)
    if isinstance(expr, Name):
        free.append(expr.name)
        return ("n", expr.name)
    if isinstance(expr, Dims):
        return ("d", expr.values)
    if isinstance(expr, TupleExpr):
        return ("t",) + tuple(_expr_key(item, free) for item in expr.items)
    if isinstance(expr, Unary):
        return ("u", expr.op, _expr_key(expr.operand, free))
    if isinstance(expr, Binary):
        return ("b", expr.op, _expr_key(expr.left, free), _expr_key(expr.right, free))
    if isinstance(expr, Subscript):
        if expr.target != "in":  # a tuple constant's value is keyed by name; a tensor's sizes are not
            free.append(expr.target)
            free.append(_SIZES)
        return ("s", expr.target, _expr_key(expr.index, free))
    if isinstance(expr, SliceExpr):
        return ("sl",) + tuple(None if p is None else _expr_key(p, free) for p in (expr.start, expr.stop, expr.step))
    if isinstance(expr, FuncCall):
        return ("f", expr.name) + tuple(_expr_key(a, free) for a in expr.args)
    if isinstance(expr, Compare):
        return ("cmp", expr.ops) + tuple(_expr_key(o, free) for o in expr.operands)
    if isinstance(expr, BoolOp):
        return ("bool", expr.op) + tuple(_expr_key(o, free) for o in expr.operands)
    raise TypeError(expr)


def _typed_key(value: Any) -> Any:
    """A bound value with its type, recursively (see _expr_key)."""
    if isinstance(value, tuple):
        return (tuple,) + tuple(_typed_key(v) for v in value)
    return (type(value), value)
