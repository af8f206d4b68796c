"""``repeat N:``: a body applied N times, computed once when a pass keeps the shape.
``repeat N shared:`` applies one set of weights N times (sharing.py): pass 0 owns them, and the
passes after it, computed as one when they keep the shape, share them.

The first pass whose output has its input's shape and dtype (and that names no tensor) stands
for every pass left: its rows are multiplied (``× N``), its memory counted for the copies and
its receptive field summed as a series. So ``repeat 10**9:`` is instant; a body that changes the
shape every pass is unrolled, up to MAX_UNROLLED_ROWS rows (rows.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import SpecArgumentError
from ..plan import RepeatNode, SeqNode
from ..syntax import Block, Statement
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
            expected="repeat N: (or repeat N shared:)",
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
        it_ctx = ctx.inner(f"{path}.{i}")
        stored_before = set(names.tensors)
        mark = mem.checkpoint(out.token)
        walker.sharing.enter_pass(f"{path}.{i}", f"{path}.0", shared, count)
        try:
            nxt, part = walker.statements(stmt.body, out, Scope(scope), it_ctx)
        finally:
            walker.sharing.leave_pass()
        nxt = nxt or out
        node.iterations.append(SeqNode(f"{path}.{i}", "iteration", it_ctx.nodes or []))
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
    label = f"repeat {count}" + (" shared" if shared else "")
    rows.fill(row_index, path, "repeat", label, stmt.span, ctx.depth, (x,), out, totals, collapsed=collapsed)
    return out, totals


def stores_tensors(body: tuple[Statement, ...]) -> bool:
    """Whether a body names a tensor (``from … as NAME:``): its passes then differ."""
    for stmt in body:
        if isinstance(stmt, Block):
            if stmt.keyword == "from" and stmt.alias:
                return True
            if stores_tensors(stmt.body):
                return True
    return False
