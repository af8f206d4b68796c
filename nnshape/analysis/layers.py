"""A layer line: find its kind (or the def it calls), bind, infer, and add its row.

The kind's rules do the work (nnshape.kinds); this module checks what every kind needs (the
input's dtype, the output's bounds), reuses an equal layer's inference (reuse.py), follows the
output's receptive field and memory, and writes the row.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import registry
from ..errors import NNShapeError, SpecNameError, SpecShapeError
from ..plan import LayerNode
from ..registry import Call, Kind, num
from ..source import Span
from ..summary import LayerRow, share_text
from ..symbolic import NeedsValue, Poly
from ..syntax import STATEMENT_KEYWORDS, Argument, Layer, TupleExpr
from ..tensor import DTYPE_BYTES, TensorInfo, format_shape
from ..values import describe, type_name
from .binding import bind_kind, kind_call, labelled, split_universal
from .fields import layer_field
from .reuse import Inferred
from .rows import Context, Totals
from .scopes import Scope, call_def
from .sharing import layer_share, note_layer
from .tensors import Tensor, check_shape

if TYPE_CHECKING:
    from .walk import Walker


def layer(walker: "Walker", stmt: Layer, x: Tensor, scope: Scope, ctx: Context) -> tuple[Tensor, Totals]:
    try:
        return _layer(walker, stmt, x, scope, ctx)
    except NNShapeError as err:
        if err.span is not None and err.span.line == stmt.span.line and err.hint is None:
            err.hint = call_syntax_hint(walker, stmt)
        raise


def call_syntax_hint(walker: "Walker", stmt: Layer) -> str | None:
    """For `conv2d(16, 3)` or `stage(64, 2)`: PyTorch's (or Python's) call syntax, which reads
    here as one tuple argument written right after the name."""
    first = stmt.args[0] if stmt.args else None
    if first is None or first.key is not None or not isinstance(first.value, TupleExpr):
        return None
    span = first.value.span
    if span.line != stmt.span.line or span.col != stmt.span.col + len(stmt.kind):
        return None
    line = walker.diagnostics.source.line_text(span.line) or ""
    inner = line[span.col : span.col - 1 + span.length - 1]
    spaced = " ".join(part.strip() for part in inner.split(",") if part.strip())
    if registry.find(stmt.kind) is None:
        return f"`{stmt.kind}(...)` is call syntax; a def's arguments follow its name, separated by spaces: `{stmt.kind} {spaced}`"
    return (
        f"`{stmt.kind}(...)` is call syntax; a layer's arguments follow its kind, separated by spaces: "
        f"`{stmt.kind} {spaced}` (the input's size, PyTorch's in_channels or in_features, is never written)"
    )


def _layer(walker: "Walker", stmt: Layer, x: Tensor, scope: Scope, ctx: Context) -> tuple[Tensor, Totals]:
    kind = registry.find(stmt.kind)
    if kind is None:
        found = scope.find_def(stmt.kind)
        if found is not None:
            return call_def(walker, stmt, found, x, scope, ctx)
        named = kind_from_string(walker, stmt, scope)
        if named is not None:  # `act` where act='hardswish': the line is that kind's (or def's)
            return layer(walker, named, x, scope, ctx)
        unknown_kind(walker, stmt, scope)
        return x, Totals()  # carry on as if it were `identity`, to find further errors
    universal, args = split_universal(stmt.args, scope, lambda key: kind.arg(key) is not None)
    cache = walker.cache
    key = cache.key(stmt, x.info, scope.lookup)
    try:
        inferred = cache.get(key)
    except TypeError:  # a bound value that cannot be hashed: no sharing for this layer
        key = inferred = None
    extra: tuple[Tensor, ...] = ()
    reads: tuple[str, ...] = ()
    if inferred is None:
        recovered = len(walker.diagnostics.recovered)
        call, result, out_info, extra, reads = infer(walker, kind, stmt, args, x, scope)
        inferred = Inferred(call, result, out_info, walker.mem.nbytes(out_info))
        if key is not None and not call.warnings and not call.tensors and len(walker.diagnostics.recovered) == recovered:
            cache.put(key, inferred)
    else:  # the same layer on the same input seen before: only the row's place is new
        call = Call(kind, inferred.call.args, x.info, stmt.span, label=inferred.call.label)
        result = inferred.result
        out_info = inferred.out
    trainable = universal.get("trainable", True) if universal else True
    path = ctx.child(universal.get("name") if universal else None, stmt.span)
    params, buffers = result.params, result.buffers
    grad = bool(trainable) and _nonzero(params)  # its own parameters train
    share = layer_share(walker, kind, stmt, call, result, path, ctx.path, grad)
    if share is not None:  # counted once, at the row it shares with
        params, buffers = params - share.params, buffers - share.buffers
    elementwise = kind.elementwise_flops(call, result) if walker.count_elementwise else 0
    totals = Totals(params, params if trainable else 0, buffers, result.macs, elementwise)
    note_layer(walker, kind, stmt, scope, call, path, share, grad)
    field = layer_field(kind, call, result, x.field)
    if kind.warns_on_field:
        for message, arg, code, hint in kind.field_warnings(call, x.field):
            walker.diagnostics.warn(f"{kind.name}: {message}", call.span_of(arg), code, hint)
    explain = tuple(kind.explain(call, result)) if walker.explain else ()
    if explain and share is not None:  # the formulas are the layer's own; say which of them count elsewhere
        explain += (_share_explained(share, params, buffers),)
    token, saved = walker.mem.layer(
        kind.is_view, x.token, tuple(t.token for t in extra) if extra else (), inferred.out_bytes,
        totals.trainable if share is None else int(share.grad or _nonzero(totals.trainable)), inferred.saved_rule,
    )
    out = Tensor(out_info, field, token)
    if walker.on_layer is not None:
        walker.on_layer(path, call, result)
    node = None
    if ctx.nodes is not None:
        node = LayerNode(path, call, result, trainable=bool(trainable), shares=share[:2] if share is not None else None, reads=reads)
        ctx.nodes.append(node)
    param_bytes = walker.rows.param_bytes
    walker.rows.add(
        LayerRow(
            path=path,
            kind=kind.name,
            label=labelled(call.label, universal) if universal else call.label,
            line=stmt.span.line,
            col=stmt.span.col,
            depth=ctx.depth,
            is_block=False,
            input_shapes=(x.info.shape,) + tuple(t.info.shape for t in extra) if extra else (x.info.shape,),
            output_shape=out_info.shape,
            dtype=out_info.dtype,
            params=params,
            trainable_params=totals.trainable,
            buffers=totals.buffers,
            macs=totals.macs,
            elementwise_flops=elementwise,
            details=result.details,
            activation_bytes=inferred.out_bytes,
            param_bytes=params * param_bytes,
            buffer_bytes=totals.buffers * param_bytes,
            saved_bytes=saved,
            score_bytes=result.scores * DTYPE_BYTES[walker.act_dtype] if result.scores else 0,
            kv_cache_bytes=result.kv_cache * DTYPE_BYTES[walker.act_dtype] if result.kv_cache else 0,
            receptive_field=field,
            explain=explain,
            shares=share[:2] if share is not None else None,
        )
    )
    if stmt.alias is not None:
        key = walker.names.store(stmt.alias, out, stmt.alias_span, scope, walker.mem)
        if node is not None:
            node.alias = key
    return out, totals


def _nonzero(value) -> bool:
    return isinstance(value, Poly) or value != 0


def kind_from_string(walker: "Walker", stmt: Layer, scope: Scope) -> Layer | None:
    """A line whose first word is a constant holding the name of a kind or def (``act`` with
    ``act='relu'``): the same line with that kind. None when the word binds nothing."""
    span = stmt.span
    word = walker.source.lines[span.line - 1][span.col - 1:span.col - 1 + span.length] if span.length else stmt.kind
    if not word.isidentifier():
        word = stmt.kind
    try:
        value = scope.lookup(word)
    except KeyError:
        return None
    memo = walker.named_kinds
    key = (id(stmt), value if isinstance(value, str) else None)
    found = memo.get(key)
    if found is not None:
        return found[1]
    where = Span(span.line, span.col, len(word))
    if not isinstance(value, str):
        raise SpecNameError(
            f"'{word}' is {type_name(value)} ({describe(value)}), not a layer kind",
            where,
            expected="a layer kind, a def, or a string parameter that names one (act='relu')",
            found=f"{word} = {describe(value)}",
            hint="a line starts with what it runs; a value goes after it as an argument",
            code="E0212",
        )
    name = value.lower()
    if registry.find(name) is None and scope.find_def(name) is None:
        raise SpecNameError(
            f"'{word}' is {describe(value)}, which is no layer kind or def",
            where,
            expected="the name of a layer kind (see `nnshape layers`) or of a def",
            found=f"{word} = {describe(value)}",
            hint=registry.kind_hint(name, scope.def_names()) or "run `nnshape layers` to list the kinds",
            code="E0212",
        )
    resolved = stmt._replace(kind=name)
    memo[key] = (stmt, resolved)  # keeps stmt alive, so its id stays unique
    return resolved


def unknown_kind(walker: "Walker", stmt: Layer, scope: Scope) -> None:
    """E0202, recovered: the analysis goes on to find more errors."""
    keyword_hint = None
    if stmt.kind in STATEMENT_KEYWORDS:
        keyword_hint = f"`{stmt.kind}` is a keyword; check the statement's form"
    tensor = next((name for name in walker.names.tensors if name.lower() == stmt.kind), None)
    if tensor is not None:  # `branch: skip` for a stored tensor
        keyword_hint = (
            f"`{tensor}` is a stored tensor, not a layer kind: `from {tensor}` on one line takes it as it is "
            f"(a branch's value), a `from {tensor}:` block runs its body on it"
        )
    walker.diagnostics.recover(SpecNameError(
        f"unknown layer kind '{stmt.kind}'",
        Span(stmt.span.line, stmt.span.col, len(stmt.kind)),
        expected="a layer kind (see `nnshape layers`) or a def",
        found=f"'{stmt.kind}'",
        hint=keyword_hint or registry.kind_hint(stmt.kind, scope.def_names()) or "run `nnshape layers` to list the kinds",
        code="E0202",
    ))


def infer(
    walker: "Walker", kind: Kind, stmt: Layer, args: list[Argument], x: Tensor, scope: Scope
) -> tuple[Call, Any, TensorInfo, tuple[Tensor, ...], tuple[str, ...]]:
    """Bind the arguments and apply the kind's rule: the call, its Inference, the output's info,
    the tensors its tensor arguments name (``kv=memory``) and their keys."""
    bound, params = bind_kind(kind, stmt, args, scope, walker.diagnostics.recover)
    tensors: dict[str, Tensor] = {}
    keys: list[str] = []
    values, spans = bound.values, bound.spans
    for spec in params.tensor_args:
        if values.get(spec.name) is not None:
            key, tensors[spec.name] = walker.names.get(values[spec.name], spans[spec.name], scope)
            keys.append(key)
    call = kind_call(kind, stmt, bound, params, x.info, {name: t.info for name, t in tensors.items()})
    check_dtype(kind, call)
    try:
        result = kind.infer(call)
    except NeedsValue as exc:
        raise SpecShapeError(
            f"{kind.name} needs the value of {', '.join(exc.symbols)}",
            stmt.span,
            expected="a known size",
            found="a symbolic size in " + format_shape(x.info.shape),
            hint=" ".join(f"`--set {s}=...`" for s in exc.symbols) + " or `let` it in the spec",
            code="E0404",
        ) from None
    for message, span, code, hint in call.warnings:
        walker.diagnostics.warn(message, span, code, hint)
    dtype = result.dtype or (x.info.dtype if x.info.is_float else "float32")
    return call, result, TensorInfo(check_shape(result.shape, stmt.span), dtype), tuple(tensors.values()), tuple(keys)


def check_dtype(kind: Kind, call: Call) -> None:
    if kind.accepts == "float" and not call.x.is_float:
        raise SpecShapeError(
            f"{kind.name} needs a floating-point input, found {call.x.dtype}",
            call.span,
            expected="a float tensor",
            found=f"{call.x.dtype} tensor {format_shape(call.x.shape)}",
            hint="token ids go through `embedding NUM DIM` first" if call.x.dtype.startswith("int") else None,
            code="E0413",
        )
    if kind.accepts == "int" and call.x.is_float:
        raise SpecShapeError(
            f"{kind.name} reads integer ids, found {call.x.dtype}",
            call.span,
            expected="an integer tensor (e.g. `input ids 128 dtype=int64`)",
            found=f"{call.x.dtype} tensor {format_shape(call.x.shape)}",
            hint="declare the input with dtype=int64",
            code="E0413",
        )


def _share_explained(share, params, buffers) -> str:
    """The line an explanation ends with for a row that shares: what is counted at the owner, and
    what is left here (the row's params), so the formulas above and the table agree."""
    whose = "its weight's" if share.what == "weight" else "its"
    counted = f"{num(share.params)} params" + (f" and {num(share.buffers)} buffers" if _nonzero(share.buffers) else "")
    left = f"params here = {num(params)}" + (f", buffers here = {num(buffers)}" if _nonzero(buffers) else "")
    return f"{share_text((share.what, share.path))}: {whose} {counted} are counted there; {left}; MACs at every use"
