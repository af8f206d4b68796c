"""``concat:``, ``add:``, ``multiply:`` and ``matmul:``: run each ``branch:`` on the block's
input, then merge.

The shape rules are pure functions in merge_rules.py; this module runs the branches, keeps
their outputs live until the merge (memory), and writes the block's and branches' rows.
``matmul:`` takes exactly two branches (y = b1 @ b2); its product's MACs are the block row's own
(added to its branches' totals), as FlopCounterMode counts them in the module that runs it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import SpecArgumentError, SpecSyntaxError
from ..arguments import Args
from ..plan import LayerNode, MergeNode, SeqNode
from ..registry import Call, Inference
from ..summary import LayerRow
from ..syntax import Block, expr_text
from ..tensor import numel
from ..values import describe
from . import merge_rules
from .blocks import no_args
from .fields import merge_fields
from .rows import Context, Totals
from .scopes import Scope
from .tensors import Tensor, check_shape

if TYPE_CHECKING:
    from .walk import Walker

MERGES = ("concat", "add", "multiply", "matmul")


def merge(walker: "Walker", stmt: Block, x: Tensor, scope: Scope, ctx: Context) -> tuple[Tensor, Totals]:
    kw = stmt.keyword
    dim_value = 1
    for i, arg in enumerate(stmt.args):
        if kw != "concat" or not ((arg.key is None and i == 0) or arg.key == "dim"):
            raise SpecArgumentError(
                f"`{kw}:` takes {'only dim=N' if kw == 'concat' else 'no arguments'}",
                arg.span,
                found=expr_text(arg.value),
                code="E0313",
            )
        dim_value = scope.evaluator().eval(arg.value)
        if isinstance(dim_value, bool) or not isinstance(dim_value, int):
            raise SpecArgumentError("concat: dim must be an integer", arg.value.span, found=describe(dim_value), code="E0303")
    rows, mem = walker.rows, walker.mem
    path = ctx.child(None)
    row_index = rows.reserve()
    inner = Context(path, ctx.depth + 1)
    totals = Totals()
    outputs: list[tuple[Tensor, Block]] = []
    parts: list[Totals] = []  # each branch's totals, for explain
    node = MergeNode(path, kw, dim_value)
    ctx.record(node)
    mem.hold(x.token)  # every branch reads the block's input
    if kw == "matmul" and sum(1 for c in stmt.body if isinstance(c, Block) and c.keyword == "branch") != 2:
        raise SpecSyntaxError(
            "`matmul:` takes exactly two branches",
            stmt.span,
            expected="matmul: with two `branch:` blocks (y = branch1 @ branch2)",
            found=f"{sum(1 for c in stmt.body if isinstance(c, Block) and c.keyword == 'branch')} branch(es)",
            hint="a product of more tensors is a chain of matmul blocks",
            code="E0153",
        )
    for child in stmt.body:
        if not isinstance(child, Block) or child.keyword != "branch":
            span = child.span
            raise SpecSyntaxError(
                f"`{kw}:` holds `branch:` blocks only",
                span,
                expected="branch: followed by the branch's layers, indented",
                found=f"'{getattr(child, 'kind', None) or getattr(child, 'keyword', None) or type(child).__name__.lower()}'",
                hint="wrap each path in its own `branch:`; `branch: identity` passes the input through",
                code="E0134",
            )
        no_args(child)
        br_path = inner.child(None)
        br_index = rows.reserve()
        br_ctx = ctx.inner(br_path, ctx.depth + 2)
        br_out, br_totals = walker.statements(child.body, x, Scope(scope), br_ctx)
        node.branches.append(SeqNode(br_path, "branch", br_ctx.nodes or []))
        br_out = br_out or x
        rows.fill(br_index, br_path, "branch", "branch", child.span, ctx.depth + 1, (x,), br_out, br_totals)
        totals.add(br_totals)
        parts.append(br_totals)
        outputs.append((br_out, child))
        mem.hold(br_out.token)  # finished branches wait for the merge
    if not outputs:
        raise SpecSyntaxError(f"`{kw}:` has no branches", stmt.span, code="E0134")
    branches = [(o.info, b.span) for o, b in outputs]
    copies: tuple = ()
    if kw == "concat":
        info = merge_rules.concat(branches, dim_value, stmt.args[0].value.span if stmt.args else stmt.span, stmt.span)
    elif kw == "matmul":
        info, product_macs, copies = merge_rules.matmul(branches, stmt.span)
        macs = product_macs
        totals.macs = totals.macs + macs
    else:
        info = merge_rules.broadcast(kw, branches)
    check_shape(info.shape, stmt.span)
    spatial_concat = kw == "concat" and dim_value % info.rank >= 2  # the grid itself is joined
    field = None if spatial_concat or kw == "matmul" else merge_fields([o.field for o, _ in outputs])
    for br_out, _ in outputs:
        mem.release(br_out.token)
    mem.release(x.token)
    saved_before = mem.saved_bytes
    out = Tensor(info, field, mem.merge(kw, [o.token for o, _ in outputs], mem.nbytes(info), copies))
    if walker.count_elementwise and kw in ("add", "multiply"):  # the additions or products themselves
        totals.elementwise = totals.elementwise + (len(outputs) - 1) * numel(info.shape)
    if kw == "matmul":
        node.product = product_row(walker, inner, outputs, out, macs, mem.saved_bytes - saved_before, stmt)
    label = stmt.keyword + (f" dim={dim_value}" if kw == "concat" and stmt.args else "")
    explain = ()
    if walker.explain:
        if kw == "concat":
            explain = merge_rules.explain_concat(branches, dim_value % info.rank, info, parts)
        elif kw == "matmul":
            explain = merge_rules.explain_matmul(branches, info, product_macs, parts)
        else:
            explain = merge_rules.explain_broadcast(kw, branches, info, parts)
    rows.fill(row_index, path, kw, label, stmt.span, ctx.depth, (x,), out, totals, explain=explain)
    return out, totals


def product_row(walker: "Walker", inner: Context, outputs: list, out: Tensor, macs, saved, stmt: Block) -> LayerNode:
    """The leaf row of a matmul's product (after its branches' rows), and its plan node."""
    from ..kinds._matmul import MatmulProduct

    (a, _), (b, _) = outputs
    kind = MatmulProduct(b.info.shape, a.info.shape[-1])
    path = inner.child(None)
    label = "branch 0 @ branch 1"
    call = Call(kind, Args({}, frozenset()), a.info, stmt.span, label=label)
    result = Inference(out.info.shape, macs=macs)
    rows = walker.rows
    rows.add(LayerRow(
        path=path, kind="matmul", label=label, line=stmt.span.line, col=stmt.span.col, depth=inner.depth, is_block=False,
        input_shapes=(a.info.shape, b.info.shape), output_shape=out.info.shape, dtype=out.info.dtype,
        params=0, trainable_params=0, buffers=0, macs=macs, activation_bytes=rows.nbytes(out.info), saved_bytes=saved,
        explain=tuple(kind.explain(call, result)) if walker.explain else (),
    ))
    return LayerNode(path, call, result)
