"""Scopes and defs: the names a line can read, and running a def's body where it is called.

A :class:`Scope` holds constants (``let``, def parameters, ``--set``) and defs, nested as the
spec nests them: a def's body sees the scope it was written in plus its parameters. A def call
is a block row whose children are the rows of the body.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import registry
from ..errors import NNShapeError, SpecLimitError, SpecNameError, SpecSyntaxError
from ..limits import MAX_CALL_DEPTH
from ..plan import SeqNode
from ..syntax import RESERVED_NAMES, Def, Layer, Let
from ..values import Evaluator, TensorRef
from .binding import bind_def, labelled, split_universal
from .rows import Context, Totals
from .sharing import note_block
from .tensors import Tensor

if TYPE_CHECKING:
    from .walk import Walker


class Scope:
    """Names visible at a point: constants (let, def parameters, --set) and defs, lexically nested.

    The spec's scope and each def call's also hold a ``frame``: the tensors stored there by name
    (name -> key in :class:`~nnshape.analysis.names.Names`), so a name stored inside a def is
    local to that call. ``sizes(name, span, scope)`` reads a tensor's shape for ``NAME[d]`` and
    ``in[d]`` (set on the spec's scope by the walk, inherited)."""

    def __init__(self, parent: "Scope | None" = None, frame: dict[str, str] | None = None):
        self.parent = parent
        self.values: dict[str, Any] = {}
        self.defs: dict[str, tuple[Def, Scope]] = {}
        self.frame = frame
        self.stored: list[str] = []  # keys of the tensors stored in this frame (a def call's own)
        self.sizes = parent.sizes if parent is not None else None

    def chain(self):
        """This scope, then each enclosing one."""
        scope: Scope | None = self
        while scope is not None:
            yield scope
            scope = scope.parent

    def lookup(self, name: str) -> Any:
        for scope in self.chain():
            if name in scope.values:
                return scope.values[name]
        raise KeyError(name)

    def find_def(self, name: str) -> tuple[Def, "Scope"] | None:
        return next((scope.defs[name] for scope in self.chain() if name in scope.defs), None)

    def names(self) -> list[str]:
        return [name for scope in self.chain() for name in scope.values]

    def def_names(self) -> list[str]:
        return [name for scope in self.chain() for name in scope.defs]

    def evaluator(self, symbols: bool = False) -> Evaluator:
        sizes = self.sizes
        return Evaluator(self.lookup, self.names, symbols=symbols, sizes=(lambda name, span: sizes(name, span, self)) if sizes else None)


def let(stmt: Let, scope: Scope, overridden: bool) -> None:
    """``let NAME = VALUE``; ``overridden``: --set (or a keyword of summarize()) binds NAME already."""
    if stmt.name.lower() in RESERVED_NAMES:
        raise SpecSyntaxError(f"'{stmt.name}' is a keyword and cannot be a constant's name", stmt.span, code="E0131")
    if overridden:
        return
    scope.values[stmt.name] = scope.evaluator(symbols=False).eval(stmt.value)


def define(stmt: Def, scope: Scope) -> None:
    """``def NAME(params):`` — visible from here on in this scope and the scopes inside it.

    A def is called where a kind is written, so its name cannot be a kind's (nor a keyword:
    the parser refuses that, E0131)."""
    if registry.find(stmt.name) is not None:
        raise SpecNameError(
            f"def '{stmt.name}' has the name of a layer kind",
            stmt.span,
            hint="choose another name; layer kinds cannot be redefined",
            code="E0203",
        )
    scope.defs[stmt.name] = (stmt, scope)


MAX_CALL_NOTES = 4  # calls named under an error from inside nested defs; the outer ones are counted


def add_call_note(err: NNShapeError, name: str, def_line: int, call_line: int) -> None:
    """`note: in def `f` (line 1), called at line 5`, innermost call first; past MAX_CALL_NOTES one
    last note counts the outer calls (a 100-deep chain is not 100 notes)."""
    named = getattr(err, "call_notes", 0)
    if named < MAX_CALL_NOTES:
        err.notes = err.notes + (f"in def `{name}` (line {def_line}), called at line {call_line}",)
    else:
        outer = named - MAX_CALL_NOTES + 1
        last = f"… and {outer} outer call{'s' if outer > 1 else ''}, the outermost at line {call_line}"
        err.notes = (err.notes[:-1] if outer > 1 else err.notes) + (last,)
    err.call_notes = named + 1


def call_def(walker: "Walker", stmt: Layer, found: tuple[Def, Scope], x: Tensor, scope: Scope, ctx: Context) -> tuple[Tensor, Totals]:
    """A line that calls a def: bind its arguments, run its body as a block row."""
    defn, def_scope = found
    call_stack = walker.call_stack
    if defn.name in call_stack:
        chain = " -> ".join(call_stack[call_stack.index(defn.name):] + [defn.name])
        raise SpecLimitError(
            f"def '{defn.name}' calls itself ({chain})",
            stmt.span,
            expected="defs that do not call themselves, directly or indirectly",
            hint="recursion has no base case in a spec; use `repeat N:` to apply a block N times",
            code="E0504",
        )
    if len(call_stack) >= MAX_CALL_DEPTH:
        raise SpecLimitError(f"def calls nest more than {MAX_CALL_DEPTH} deep", stmt.span, code="E0504")
    param_names = [p.name for p in defn.params]
    universal, args = split_universal(stmt.args, scope, lambda key: key in param_names)
    names = walker.names
    values, label = bind_def(defn, def_scope, stmt, args, scope, lambda name: names.find(name, scope))
    frame = {name: value.key for name, value in values.items() if isinstance(value, TensorRef)}
    inner = Scope(def_scope, frame=frame)  # names stored inside the call are its own
    inner.values.update(values)
    rows = walker.rows
    path = ctx.child(universal.get("name"), stmt.span)
    row_index = rows.reserve()
    call_stack.append(defn.name)
    sites = walker.diagnostics.call_sites
    sites.append((defn.name, defn.span.line, stmt.span.line))
    body_ctx = ctx.inner(path)
    try:
        out, totals = walker.statements(defn.body, x, inner, body_ctx)
    except NNShapeError as err:  # name the call, not only the line inside the def
        if err.span is not None:
            add_call_note(err, defn.name, defn.span.line, stmt.span.line)
        raise
    finally:
        call_stack.pop()
        sites.pop()
    node = SeqNode(path, "call", body_ctx.nodes or [], trainable=bool(universal.get("trainable", True)), scoped=bool(inner.stored))
    ctx.record(node)
    if not universal.get("trainable", True):
        totals.trainable = 0
        rows.freeze(row_index + 1)
    assert out is not None
    rows.fill(row_index, path, "call", labelled(label, universal), stmt.span, ctx.depth, (x,), out, totals)
    names.drop(inner.stored, walker.mem)
    if stmt.alias is not None:
        node.alias = names.store(stmt.alias, out, stmt.alias_span, scope, walker.mem)
    note_block(walker, "call", stmt, scope, path)
    return out, totals
