"""``reuse NAME``: the named layer, ``block NAME:`` or def call run again where the line stands,
with the same weights (sharing.py finds the name and maps the new rows to the ones they repeat)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import SpecArgumentError
from ..syntax import Argument, Block, Const, Layer, Name
from .binding import split_universal
from .blocks import named_block
from .layers import layer
from .rows import Context, Totals
from .tensors import Tensor

if TYPE_CHECKING:
    from .scopes import Scope
    from .walk import Walker


def reuse(walker: "Walker", stmt: Layer, x: Tensor, scope: "Scope", ctx: Context) -> tuple[Tensor, Totals]:
    """``reuse NAME``: the named layer, block or def call once more, on the current tensor, with
    the same weights (0 new parameters; its MACs again)."""
    universal, args = split_universal(stmt.args, scope, lambda key: False)
    if len(args) != 1 or args[0].key is not None or not isinstance(args[0].value, Name) or "trainable" in universal:
        bad = next((a for a in args if a.key is not None or not isinstance(a.value, Name)), args[1] if len(args) > 1 else None)
        raise SpecArgumentError(
            "`reuse` takes the name of one earlier layer, block or def call",
            bad.span if bad is not None else stmt.span,
            expected="reuse NAME (a label, or a dotted path such as encoder.shared)",
            found=f"`{stmt.text}`",
            hint="the reused part keeps its own arguments and weights; write a new layer to change them",
            code="E0371",
        )
    name_expr = args[0].value
    sharing = walker.sharing
    entry = sharing.find(name_expr.name, name_expr.span, ctx.path, f"reuse {name_expr.name}")
    label = universal.get("name")
    segment = label if label is not None else str(ctx.counter)
    path = f"{ctx.path}.{segment}" if ctx.path else segment
    start = len(walker.rows)
    first_node = len(ctx.nodes) if ctx.nodes is not None else 0
    sharing.maps.append((path, entry.path, f"reuse {name_expr.name}", stmt.span))
    try:
        target = entry.stmt
        if isinstance(target, Block):
            out, totals = named_block(walker, target._replace(name=label, name_span=stmt.span), x, entry.scope, ctx)
        else:
            named = (Argument("name", Const(label, stmt.span), stmt.span, stmt.span),) if label is not None else ()
            # the target's own `as NAME` is not stored again; this line's is, below, in its own scope
            again = target._replace(args=named + tuple(a for a in target.args if a.key != "name"), alias=None, alias_span=None)
            out, totals = layer(walker, again, x, entry.scope, ctx)
    finally:
        sharing.maps.pop()
    text = f"reuse {name_expr.name}"
    row = walker.rows.rows[start]
    walker.rows.rows[start] = row._replace(
        label=f"{label}: {text}" if label is not None else text, line=stmt.span.line, col=stmt.span.col,
        shares=("module", entry.root),
    )
    if stmt.alias is not None:  # `reuse NAME as OUT`
        key = walker.names.store(stmt.alias, out, stmt.alias_span, scope, walker.mem)
        if ctx.nodes is not None and len(ctx.nodes) > first_node and hasattr(ctx.nodes[-1], "alias"):
            ctx.nodes[-1].alias = key
    return out, totals
