"""Shape rules of the merge blocks, as pure functions of the branches' outputs.

``concat`` joins along one dim (every other dim equal); ``add`` and ``multiply`` broadcast as
PyTorch does; ``matmul`` is ``torch.matmul`` of two branches. Each branch comes with the span of
its ``branch:`` line, which the errors point at and list.
"""

from __future__ import annotations

from ..errors import SpecShapeError
from ..source import Span
from ..symbolic import Dim
from ..tensor import TensorInfo, format_shape, numel

Branches = list[tuple[TensorInfo, Span]]  # each branch's output and its `branch:` line


def concat(branches: Branches, dim: int, dim_span: Span, block_span: Span) -> TensorInfo:
    """torch.cat along ``dim`` (written at ``dim_span``; the block at ``block_span``)."""
    first, _ = branches[0]
    rank = first.rank
    if not -rank <= dim < rank:
        raise SpecShapeError(
            f"concat: dim {dim} is out of range for {rank}-D branch outputs",
            dim_span,
            expected=f"a dim in [{-rank}, {rank - 1}] (dim 0 is the batch)",
            found=str(dim),
            code="E0403",
        )
    d = dim % rank
    if d == 0:
        raise SpecShapeError("concat along dim 0 (the batch) is not supported", block_span, code="E0417")
    size: Dim = 0
    for out, span in branches:
        same = out.rank == rank and all(a == b for i, (a, b) in enumerate(zip(out.shape, first.shape)) if i != d)
        if not same:
            raise SpecShapeError(
                f"concat: branch outputs differ outside dim {dim}",
                span,
                expected=f"all branches to agree on every dim except {dim}",
                found=branch_listing(branches),
                hint=concat_hint(first.shape, out.shape, d),
                code="E0411",
            )
        size = size + out.shape[d]
    shape = list(first.shape)
    shape[d] = size
    return TensorInfo(tuple(shape), first.dtype)


def broadcast(keyword: str, branches: Branches) -> TensorInfo:
    """The broadcast shape of ``add:``/``multiply:`` branches (PyTorch's rule), the first one's dtype."""
    shape: list[Dim] = list(branches[0][0].shape)
    for out, span in branches[1:]:
        other = list(out.shape)
        rank = max(len(shape), len(other))
        a = [1] * (rank - len(shape)) + shape
        b = [1] * (rank - len(other)) + other
        merged: list[Dim] = []
        for da, db in zip(a, b):
            if da == db or db == 1:
                merged.append(da)
            elif da == 1:
                merged.append(db)
            else:
                raise SpecShapeError(
                    f"{keyword}: branch outputs cannot be broadcast together",
                    span,
                    expected="equal sizes, or 1 where a branch broadcasts (PyTorch broadcasting)",
                    found=branch_listing(branches),
                    hint=broadcast_hint(keyword, a, b),
                    code="E0412",
                )
        shape = merged
    return TensorInfo(tuple(shape), branches[0][0].dtype)


def concat_hint(a: tuple, b: tuple, d: int) -> str:
    """What to change when two branches cannot be joined along dim ``d``."""
    if len(a) != len(b):
        return f"the branches have {len(a)}-D and {len(b)}-D outputs: `flatten` or `reshape` one so both have the same rank"
    differ = [i for i, (x, y) in enumerate(zip(a, b)) if x != y and i != d]
    if len(differ) == 1 and differ[0] != 0:
        other = differ[0]
        if all(x == y for i, (x, y) in enumerate(zip(a, b)) if i != other):
            return f"the branches differ only in dim {other}: to join along it, write `concat dim={other}:`"
    if len(a) >= 4 and all(i >= 2 for i in differ):
        return (
            f"concat joins along dim {d}; the branches' spatial sizes differ ({_sizes(a[2:])} vs {_sizes(b[2:])}): "
            "keep them equal, e.g. padding a k=3 convolution with p=1, or resize one branch (adaptiveavgpool2d, upsample)"
        )
    return f"concat joins along dim {d}: every other dim must be equal; dims {', '.join(map(str, differ))} differ"


def broadcast_hint(keyword: str, a: list, b: list) -> str:
    """What to change when two branches cannot be added or multiplied element by element."""
    differ = [i for i, (x, y) in enumerate(zip(a, b)) if x != y and x != 1 and y != 1]
    rank = len(a)
    if rank >= 4 and differ == [1]:
        return (
            f"the branches end with {a[1]} and {b[1]} channels: project one to the other's count "
            f"(`conv2d {a[1]} k=1`, a 1×1 convolution, or `linear` on features), or use `concat:` to stack them"
        )
    if rank >= 4 and differ and all(i >= 2 for i in differ):
        return (
            f"the branches' spatial sizes differ ({_sizes(a[2:])} vs {_sizes(b[2:])}): a stride or pooling in one "
            "branch must be matched in the other (e.g. a `conv2d C k=1 s=2` shortcut)"
        )
    if differ == [rank - 1]:
        return f"the branches end with {a[-1]} and {b[-1]} features: end one with `linear {a[-1]}`, or use `concat:`"
    return f"{keyword}: sizes must be equal or 1 in each dim (counted from the right); dims {', '.join(map(str, differ))} differ"


def _sizes(dims) -> str:
    return "×".join(str(d) for d in dims)


def explain_concat(branches: Branches, d: int, out: TensorInfo, parts: list) -> tuple[str, ...]:
    """`nnshape explain` of a concat: the sizes along the joined dim add up, the others agree.
    ``parts``: each branch's totals (params, macs), which the block's row holds."""
    sizes = [o.shape[d] for o, _ in branches]
    rest = "×".join("_" if i == d else str(x) for i, x in enumerate(out.shape))
    return (
        f"concat along dim {d}: {' + '.join(map(str, sizes))} = {out.shape[d]} → {format_shape(out.shape)}",
        f"every other dim equal in all {len(branches)} branches: {rest}",
        *_branch_totals(parts, "branches'", "the concat itself: 0, a copy"),
    )


def explain_broadcast(keyword: str, branches: Branches, out: TensorInfo, parts: list) -> tuple[str, ...]:
    """`nnshape explain` of an add/multiply: PyTorch broadcasting of the branches' shapes."""
    op = " + " if keyword == "add" else " ⊙ "
    shapes = op.join(format_shape(o.shape) for o, _ in branches)
    times = f"{len(branches) - 1}·" if len(branches) > 2 else ""
    what = "additions" if keyword == "add" else "products"
    return (
        f"{keyword}: {shapes} → {format_shape(out.shape)} (element by element, PyTorch broadcasting)",
        *_branch_totals(parts, "branches'", f"the {keyword} itself: 0, {times}{numel_text(out.shape)} element-wise {what}"),
    )


def explain_residual(body: tuple, skip: tuple, shortcut: bool, parts: list) -> tuple[str, ...]:
    """`nnshape explain` of a residual: body + input (or shortcut), equal shapes."""
    other = "shortcut" if shortcut else "input"
    return (
        f"residual: body {format_shape(body)} + {other} {format_shape(skip)} → {format_shape(body)} (equal shapes)",
        *_branch_totals(parts, "body's and shortcut's" if shortcut else "body's", f"the addition itself: 0, {numel_text(body)} element-wise additions"),
    )


def explain_matmul(branches: Branches, out: TensorInfo, macs: Dim, parts: list) -> tuple[str, ...]:
    """`nnshape explain` of a matmul: the two shapes, the inner size, the product's MACs."""
    (a, _), (b, _) = branches
    k = a.shape[-1]
    return (
        f"matmul: {format_shape(a.shape)} @ {format_shape(b.shape)} → {format_shape(out.shape)} "
        f"(torch.matmul: last two dims multiply, the others broadcast)",
        f"product MACs = numel(out) · k = {numel_text(out.shape)} · {k} = {_num(macs)}",
        *_branch_totals(parts, "branches'", "the product row: the MACs above"),
    )


def _branch_totals(parts: list, whose: str, own: str) -> tuple[str, str]:
    """`params = a + b = N (the branches')`: a merge row holds its branches' totals."""

    def line(what: str, values: list) -> str:
        total = sum(values[1:], values[0]) if values else 0
        terms = " + ".join(_num(v) for v in values)
        return f"{what} = {terms + ' = ' if len(values) > 1 else ''}{_num(total)}"

    return (
        line("params", [p.params for p in parts]) + f" (the {whose})",
        line("MACs", [p.macs for p in parts]) + f" (the {whose}; {own})",
    )


def _num(value: Dim) -> str:
    return f"{value:,}" if isinstance(value, int) else value.format(group=True)


def numel_text(shape: tuple) -> str:
    total: Dim = 1
    for d in shape:
        total = total * d
    return f"{total:,}" if isinstance(total, int) else total.format(group=True)


def matmul(branches: Branches, block_span: Span) -> tuple[TensorInfo, Dim, tuple[Dim | None, Dim | None]]:
    """``torch.matmul(b1, b2)``: the output, its MACs and what autograd saves of each operand.

    Shapes: the last two dims multiply (n×k @ k×m → n×m; a 1-D operand is a vector), the dims
    before them broadcast. MACs: n·k·m per matrix product, for every broadcast batch entry: what
    FlopCounterMode counts for the mm/bmm torch.matmul dispatches to (numel(out) · k).
    Saved for backward (each operand: None for its own storage, else the elements of a copy):
    torch reshapes each operand to a batch of matrices; an operand whose batch dims are the
    broadcast ones is saved as it is, one that must be expanded is saved as its expanded copy
    (unless one operand's batch dims are all 1: torch then folds the batch into one matrix
    product and saves storages of the operands' sizes)."""
    (a, a_span), (b, b_span) = branches
    if not (a.is_float and b.is_float) or a.dtype != b.dtype:
        raise SpecShapeError(
            f"matmul: the branches give {a.dtype} and {b.dtype}",
            b_span,
            expected="two floating-point tensors of one dtype (torch.matmul casts nothing)",
            found=branch_listing(branches),
            code="E0461",
        )
    sa, sb = list(a.shape), list(b.shape)
    if not sa or not sb:
        raise SpecShapeError("matmul: a branch output has no dims", block_span, code="E0461")
    va, vb = len(sa) == 1, len(sb) == 1
    if va:
        sa = [1] + sa
    if vb:
        sb = sb + [1]
    k_a, k_b = sa[-1], sb[-2]
    if k_a != k_b:
        raise SpecShapeError(
            f"matmul: the first branch's last dim ({k_a}) differs from the second's dim -2 ({k_b})",
            b_span,
            expected=f"b1 ...×n×k @ b2 ...×k×m with the same k (here {k_a})",
            found=branch_listing(branches),
            hint="transpose one branch (`transpose -2 -1`), or project it to the right width",
            code="E0461",
        )
    batch_a, batch_b = sa[:-2], sb[:-2]
    rank = max(len(batch_a), len(batch_b))
    pa = [1] * (rank - len(batch_a)) + batch_a
    pb = [1] * (rank - len(batch_b)) + batch_b
    batch: list[Dim] = []
    for da, db in zip(pa, pb):
        if da == db or db == 1:
            batch.append(da)
        elif da == 1:
            batch.append(db)
        else:
            raise SpecShapeError(
                "matmul: the branches' batch dims (all but the last two) cannot be broadcast together",
                b_span,
                expected="equal sizes, or 1 where a branch broadcasts (PyTorch broadcasting)",
                found=branch_listing(branches),
                code="E0461",
            )
    shape = batch + ([] if va else [sa[-2]]) + ([] if vb else [sb[-1]])
    out_numel = numel(tuple(batch)) * sa[-2] * sb[-1]
    macs = out_numel * k_a
    copies: list[Dim | None] = [None, None]
    ones_a, ones_b = all(d == 1 for d in batch_a), all(d == 1 for d in batch_b)
    if not (ones_a or ones_b):
        for i, (padded, matrix) in enumerate(((pa, sa[-2:]), (pb, sb[-2:]))):
            if padded != batch:
                copies[i] = numel(tuple(batch)) * matrix[0] * matrix[1]
    return TensorInfo(tuple(shape), a.dtype), macs, (copies[0], copies[1])


def branch_listing(branches: Branches, shown: int = 8) -> str:
    """The branches' output shapes for an error: the first few of a merge of thousands."""
    parts = [f"branch {i + 1} (line {span.line}): {format_shape(o.shape)}" for i, (o, span) in enumerate(branches[:shown])]
    if len(branches) > shown:
        parts.append(f"… {len(branches) - shown:,} more")
    return "; ".join(parts)


def residual_projection(inp: tuple, out: tuple) -> str | None:
    """A shortcut that would map a residual's input shape to its body's output, for a hint."""
    if len(inp) == 4 and len(out) == 4 and all(isinstance(d, int) for d in inp[2:] + out[2:]):
        stride = inp[2] // out[2] if out[2] else 1
        text = f"conv2d {out[1]} k=1" + (f" s={stride}" if stride > 1 else "") + " bias=false"
        return text
    if len(inp) == len(out) and inp[:-1] == out[:-1]:
        return f"linear {out[-1]}"
    return None
