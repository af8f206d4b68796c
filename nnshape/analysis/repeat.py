"""``repeat N:`` and ``repeat N as i:``: a body applied N times, computed once when a pass keeps the shape.
``repeat N shared:`` applies one set of weights N times (sharing.py): pass 0 owns them, and the
passes after it, computed as one when they keep the shape, share them.

The first pass whose output has its input's shape and dtype (and that names no tensor) stands
for every pass left: its rows are multiplied (``× N``), its memory counted for the copies and
its receptive field summed as a series. So ``repeat 10**9:`` is instant; a body that changes the
shape every pass is unrolled, up to MAX_UNROLLED_ROWS rows (rows.py).

With ``as i`` each pass sees its index (0 … N−1). A body that does not read ``i`` is the plain
repeat above. One that does may differ from pass to pass (a drop rate, a stride on the first
pass only), so every pass is analyzed (each counts toward MAX_UNROLLED_ROWS), and a pass folds
into the one before it when it *agrees* with it: it keeps the shape, and each of its rows has
the same kind, place, shapes, dtype, parameters, buffers, MACs and memory bytes as the previous
pass's row; only labels and details (the values of its arguments) and receptive fields (which grow with
every pass, as in a collapsed repeat) may differ. The folded rows are listed once with ``× k``
and a label that shows the first and last values (``droppath 0…0.18``). The totals, memory and
the repeat's receptive field are those of every pass, exactly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import SpecArgumentError, SpecSyntaxError
from ..plan import RepeatNode, SeqNode
from ..summary import LayerRow
from ..syntax import RESERVED_NAMES, Block, If, Layer, Statement, reads_name
from ..tensor import format_shape
from ..values import describe
from .fields import repeat_field
from .rows import Context, Totals
from .scopes import Scope
from .sharing import shared_option
from .tensors import Tensor

if TYPE_CHECKING:
    from .walk import Walker


def repeat(walker: "Walker", stmt: Block, x: Tensor, scope: Scope, ctx: Context) -> tuple[Tensor, Totals]:
    args, shared = shared_option(stmt.args, scope)
    if len(args) != 1 or args[0].key is not None:
        raise SpecArgumentError(
            "`repeat` takes one count",
            args[1].span if len(args) > 1 else stmt.span,
            expected="repeat N: (or repeat N shared:, repeat N as i:)",
            code="E0313",
        )
    count = scope.evaluator().eval(args[0].value)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise SpecArgumentError(
            "repeat count must be a non-negative integer",
            args[0].value.span,
            expected="an integer ≥ 0",
            found=describe(count),
            code="E0314",
        )
    index = stmt.alias
    if index is not None and index.lower() in RESERVED_NAMES:
        raise SpecSyntaxError(f"'{index}' is a keyword and cannot be a repeat's index", stmt.alias_span, code="E0131")
    if index is not None and reads_index(walker, stmt):
        return indexed(walker, stmt, count, shared, x, scope, ctx)
    rows, mem, names = walker.rows, walker.mem, walker.names
    path = ctx.child(None)
    row_index = rows.reserve()
    totals = Totals()
    out = x
    collapsed = 0
    node = RepeatNode(path, count, False, shared=shared)
    ctx.record(node)
    for i in range(count):
        first_row = len(rows)
        stored_before = set(names.tensors)
        mark = mem.checkpoint(out.token)
        # the index, when there is one, is not read by the body (reads_index): bound all the same
        nxt, part = one_pass(walker, stmt, node, ctx, i, out, scope, index, shared, count)
        stores = set(names.tensors) != stored_before or stores_tensors(stmt.body)
        # a shared repeat's first pass owns the weights: the passes that share them start at pass 1
        if nxt.same_type(out) and not stores and not (shared and i == 0 and count > 1):
            # this pass keeps the shape, so every later pass is the same: count it once, multiplied
            collapsed = count - i
            mem.repeat_copies(mark, collapsed - 1, out.token, nxt.token)
            field = repeat_field(out.field, nxt.field, collapsed)
            if field != out.field:  # the same storage, seen after `collapsed` passes
                out = Tensor(out.info, field, out.token)
            node.collapsed = True
            rows.repeat(first_row, collapsed)
            totals.add(part, collapsed)
            break
        mem.drop(mark)
        totals.add(part)
        out = nxt
        if i >= 1:  # passes after the first are what unrolling adds
            rows.count_unrolled(
                len(rows) - first_row, stmt.span, lambda: f"repeat {count:,}: pass {i + 1:,} gives {format_shape(out.info.shape)}"
            )
    rows.fill(row_index, path, "repeat", header(stmt, count, shared), stmt.span, ctx.depth, (x,), out, totals, collapsed=collapsed)
    return out, totals


def one_pass(walker: "Walker", stmt: Block, node: RepeatNode, ctx: Context, i: int, out: Tensor, scope: Scope,
             index: str | None, shared: bool, count: int) -> tuple[Tensor, Totals]:
    """Pass ``i`` of a repeat's body: its own context and scope (the index bound to i), inside the
    sharing pass that tells whose weights it uses; recorded as one of the node's iterations."""
    path = node.path
    it_ctx = ctx.inner(f"{path}.{i}")
    inner = Scope(scope)
    if index is not None:
        inner.values[index] = i
    walker.sharing.enter_pass(f"{path}.{i}", f"{path}.0", shared, count)
    try:
        nxt, part = walker.statements(stmt.body, out, inner, it_ctx)
    finally:
        walker.sharing.leave_pass()
    node.iterations.append(SeqNode(f"{path}.{i}", "iteration", it_ctx.nodes or []))
    return nxt or out, part


def header(stmt: Block, count: int, shared: bool) -> str:
    return f"repeat {count}" + (" shared" if shared else "") + (f" as {stmt.alias}" if stmt.alias is not None else "")


def reads_index(walker: "Walker", stmt: Block) -> bool:
    """Whether the body reads the repeat's index (worked out once per statement)."""
    memo = walker.index_reads
    found = memo.get(id(stmt))
    if found is None or found[0] is not stmt:
        found = (stmt, reads_name(stmt.body, stmt.alias or ""))
        memo[id(stmt)] = found
    return found[1]


class _Run:
    """Consecutive passes that agree: the first pass's index and rows (from ``start`` to ``end``),
    how many passes they stand for, and each row's label in the last pass of the run."""

    __slots__ = ("first", "start", "end", "passes", "last_labels", "keeps")

    def __init__(self, first: int, start: int, end: int, keeps: bool):
        self.first, self.start, self.end, self.passes, self.keeps = first, start, end, 1, keeps
        self.last_labels: list[str] | None = None


def indexed(walker: "Walker", stmt: Block, count: int, shared: bool, x: Tensor, scope: Scope, ctx: Context) -> tuple[Tensor, Totals]:
    """``repeat N as i:`` whose body reads ``i``: every pass analyzed, agreeing passes folded."""
    rows = walker.rows
    path = ctx.child(None)
    row_index = rows.reserve()
    totals = Totals()
    out = x
    node = RepeatNode(path, count, False, shared=shared)
    ctx.record(node)
    runs: list[_Run] = []
    for i in range(count):
        first_row = len(rows)
        nxt, part = one_pass(walker, stmt, node, ctx, i, out, scope, stmt.alias, shared, count)
        totals.add(part)
        made = len(rows) - first_row
        if i >= 1:
            rows.count_unrolled(
                max(1, made), stmt.span,
                lambda: f"repeat {count:,} as {stmt.alias}: pass {i + 1:,} (a body that reads its index is analyzed pass by pass)",
            )
        keeps = nxt.same_type(out)
        last = runs[-1] if runs else None
        if last is not None and keeps and last.keeps and agree(rows.rows, last.start, last.end, first_row, f"{path}.{i - last.passes}", f"{path}.{i}"):
            last.passes += 1
            last.last_labels = [r.label for r in rows.rows[first_row:]]
            del rows.rows[first_row:]  # the pass is listed by its run's first
        else:
            runs.append(_Run(i, first_row, len(rows), keeps))
        out = nxt
    node.runs = [0] * count
    for run in runs:
        node.runs[run.first] = run.passes
        if run.passes > 1:
            rows.repeat(run.start, run.passes, run.end)
            if run.last_labels is not None:
                for r, last_label in zip(range(run.start, run.end), run.last_labels):
                    rows.rows[r] = rows.rows[r]._replace(label=label_range(rows.rows[r].label, last_label))
    collapsed = runs[-1].passes if runs and runs[-1].passes > 1 else 0
    rows.fill(row_index, path, "repeat", header(stmt, count, shared), stmt.span, ctx.depth, (x,), out, totals, collapsed=collapsed)
    return out, totals


def agree(table: list[LayerRow], start: int, end: int, new: int, old_prefix: str, new_prefix: str) -> bool:
    """Whether the rows from ``new`` on (a pass under ``new_prefix``) repeat rows ``start:end``
    (the first pass of a run, under ``old_prefix``) in everything but their labels."""
    if len(table) - new != end - start:
        return False
    cut = len(old_prefix)
    for a, b in zip(table[start:end], table[new:]):
        if a.path[cut:] != b.path[len(new_prefix):]:
            return False
        if a._replace(path="", label="", details=(), explain=(), receptive_field=None) != b._replace(
            path="", label="", details=(), explain=(), receptive_field=None
        ):
            return False
    return True


def label_range(first: str, last: str) -> str:
    """The label of rows that stand for passes with other argument values: ``droppath 0…0.18``
    (each word that differs shows its first and last value)."""
    if first == last:
        return first
    a, b = first.split(" "), last.split(" ")
    if len(a) != len(b):
        return f"{first} … {last}"
    return " ".join(x if x == y else f"{x}…{_value_of(y, x)}" for x, y in zip(a, b))


def _value_of(word: str, like: str) -> str:
    """``p=0.2`` after ``p=0.1`` shows as ``0.2`` (the key once)."""
    if "=" in word and "=" in like and word.split("=", 1)[0] == like.split("=", 1)[0]:
        return word.split("=", 1)[1]
    return word


def stores_tensors(body: tuple[Statement, ...]) -> bool:
    """Whether a body names a tensor (``as NAME``, ``from … as NAME``) where later lines can
    read it: its passes then differ. (What a def call stores is its own: it ends with the call.)"""
    for stmt in body:
        if isinstance(stmt, Layer):
            if stmt.alias is not None:
                return True
        elif isinstance(stmt, Block):
            if stmt.keyword == "from" and stmt.alias:
                return True
            if stores_tensors(stmt.body):
                return True
        elif isinstance(stmt, If):
            if any(stores_tensors(arm.body) for arm in stmt.branches):
                return True
    return False
