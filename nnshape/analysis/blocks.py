"""The blocks that run one body: ``block NAME:``, ``residual:`` (with its ``shortcut:``) and
``from NAME [as ALIAS]:``. Merges of branches are in merges.py, ``repeat`` in repeat.py.

Each block is a row whose totals are its body's; its row is reserved before the body runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import SpecArgumentError, SpecShapeError
from ..plan import FromNode, ResidualNode, SeqNode
from ..syntax import Block, expr_text
from ..tensor import format_shape, numel
from .fields import merge_fields
from .merge_rules import explain_residual, residual_projection
from .rows import Context, Totals
from .scopes import Scope
from .sharing import note_block
from .tensors import Tensor

if TYPE_CHECKING:
    from .walk import Walker


def no_args(stmt: Block) -> None:
    if stmt.args:
        raise SpecArgumentError(
            f"`{stmt.keyword}:` takes no arguments",
            stmt.args[0].span,
            found=expr_text(stmt.args[0].value),
            code="E0313",
        )


def named_block(walker: "Walker", stmt: Block, x: Tensor, scope: Scope, ctx: Context) -> tuple[Tensor, Totals]:
    """``block NAME:``: a named group of rows."""
    no_args(stmt)
    path = ctx.child(stmt.name, stmt.name_span)
    row_index = walker.rows.reserve()
    body_ctx = ctx.inner(path)
    out, totals = walker.statements(stmt.body, x, Scope(scope), body_ctx)
    ctx.record(SeqNode(path, "block", body_ctx.nodes or []))
    out = out or x
    walker.rows.fill(row_index, path, "block", f"block {stmt.name}", stmt.span, ctx.depth, (x,), out, totals)
    note_block(walker, "block", stmt, scope, path)
    return out, totals


def residual(walker: "Walker", stmt: Block, shortcut: Block | None, x: Tensor, scope: Scope, ctx: Context) -> tuple[Tensor, Totals]:
    """``residual:`` adds its body's output to its input, or to its ``shortcut:``'s output."""
    no_args(stmt)
    rows, mem = walker.rows, walker.mem
    path = ctx.child(None)
    row_index = rows.reserve()
    inner = ctx.inner(path)
    mem.hold(x.token)  # the skip input stays live while the body runs
    body_out, totals = walker.statements(stmt.body, x, Scope(scope), inner)
    parts = [totals.scaled(1)]  # the body's, then the shortcut's (for explain)
    body_out = body_out or x
    mem.hold(body_out.token)
    skip = x
    node = ResidualNode(path, SeqNode(path, "residual", inner.nodes or []))
    ctx.record(node)
    if shortcut is not None:
        no_args(shortcut)
        sc_path = inner.child("shortcut")
        sc_index = rows.reserve()
        sc_ctx = ctx.inner(sc_path, ctx.depth + 2)
        skip_out, sc_totals = walker.statements(shortcut.body, x, Scope(scope), sc_ctx)
        node.shortcut = SeqNode(sc_path, "shortcut", sc_ctx.nodes or [])
        skip = skip_out or x
        rows.fill(sc_index, sc_path, "shortcut", "shortcut", shortcut.span, ctx.depth + 1, (x,), skip, sc_totals)
        totals.add(sc_totals)
        parts.append(sc_totals)
    if body_out.info.shape != skip.info.shape:
        what = "the shortcut's output" if shortcut is not None else "its input"
        hint = None
        if shortcut is None:
            proj = residual_projection(x.info.shape, body_out.info.shape)
            hint = "add a `shortcut:` block right after the residual that maps the input to " + format_shape(body_out.info.shape) + (
                f", e.g. `{proj}`" if proj else ""
            )
        raise SpecShapeError(
            f"residual: the body's output cannot be added to {what}",
            stmt.span,
            expected=f"the body to end in the shape of {what}: {format_shape(skip.info.shape)}",
            found=f"body output {format_shape(body_out.info.shape)}",
            hint=hint,
            code="E0410",
        )
    field = merge_fields([body_out.field, skip.field])
    mem.release(body_out.token)
    mem.release(x.token)
    info = body_out.info
    out = Tensor(info, field, mem.merge("add", [body_out.token, skip.token], mem.nbytes(info)))
    if walker.count_elementwise:  # the addition itself
        totals.elementwise = totals.elementwise + numel(info.shape)
    explain = explain_residual(body_out.info.shape, skip.info.shape, shortcut is not None, parts) if walker.explain else ()
    rows.fill(row_index, path, "residual", "residual", stmt.span, ctx.depth, (x,), out, totals, explain=explain)
    return out, totals


def from_block(walker: "Walker", stmt: Block, scope: Scope, ctx: Context) -> tuple[Tensor, Totals]:
    """``from NAME [as ALIAS]:`` runs its body on a named tensor (and names the result). On one
    line, ``from NAME`` (no body) makes the named tensor the current one: a branch's value."""
    assert stmt.name is not None
    names = walker.names
    key, x = names.get(stmt.name, stmt.name_span or stmt.span, scope)
    path = ctx.child(stmt.alias, stmt.alias_span)
    row_index = walker.rows.reserve()
    body_ctx = ctx.inner(path)
    out, totals = walker.statements(stmt.body, x, Scope(scope), body_ctx)
    node = FromNode(path, key, None, SeqNode(path, "from", body_ctx.nodes or []))
    ctx.record(node)
    out = out or x
    if stmt.alias is not None:
        node.alias = names.store(stmt.alias, out, stmt.alias_span, scope, walker.mem)
    label = f"from {stmt.name}" + (f" as {stmt.alias}" if stmt.alias else "")
    walker.rows.fill(row_index, path, "from", label, stmt.span, ctx.depth, (x,), out, totals)
    return out, totals
