"""Walk the syntax tree and compute every layer's output shape, parameters and MACs.

Pure Python: the rules come from the kinds in the registry. A ``repeat N:`` whose body keeps
the shape is computed once and multiplied (so ``repeat 10**9:`` is instant); any other repeat
is unrolled up to a documented limit.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from . import registry
from .errors import Diagnostic, NNShapeError, SpecArgumentError, SpecLimitError, SpecNameError, SpecShapeError, SpecSyntaxError
from .gcpause import gc_paused
from .memory import Tracker, training_totals
from .parser import STATEMENT_KEYWORDS
from .plan import FromNode, LayerNode, MergeNode, Plan, RepeatNode, ResidualNode, SeqNode
from .registry import GLOBAL, Arg, Call, Field, Kind, coerce, compact_split
from .source import Source, Span
from .suggest import did_you_mean
from .summary import InputInfo, LayerRow, Summary
from .symbolic import Dim, NeedsValue, Poly, TooComplex
from .syntax import Argument, Binary, Block, Const, Def, Dims, Expr, Input, Layer, Let, Name, Output, Spec, Statement, TupleExpr, Unary, expr_text
from .tensor import DTYPE_BYTES, Shape, TensorInfo, format_shape, normalize_dtype
from .values import MAX_INT, Evaluator, describe, too_complex
from .limits import MAX_ROWS, MAX_CALL_DEPTH, MAX_REPORTED_ERRORS, MAX_RANK, MAX_ROW_TEXT, MAX_UNROLLED_ROWS

UNIVERSAL_KEYS = ("name", "trainable")


@dataclass
class Totals:
    params: Dim = 0
    trainable: Dim = 0
    buffers: Dim = 0
    macs: Dim = 0

    def add(self, other: "Totals", times: int = 1) -> None:
        self.params = self.params + other.params * times
        self.trainable = self.trainable + other.trainable * times
        self.buffers = self.buffers + other.buffers * times
        self.macs = self.macs + other.macs * times

    def scaled(self, times: int) -> "Totals":
        result = Totals()
        result.add(self, times)
        return result


class Scope:
    """Names visible at a point: constants (let, def parameters, --set) and defs, lexically nested."""

    def __init__(self, parent: "Scope | None" = None):
        self.parent = parent
        self.values: dict[str, Any] = {}
        self.defs: dict[str, tuple[Def, Scope]] = {}

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
        return Evaluator(self.lookup, self.names, symbols=symbols)


@dataclass
class Context:
    """Where rows produced now go: the parent path, depth and a counter for child names."""

    path: str
    depth: int
    counter: int = 0
    nodes: list | None = None  # plan nodes of the statements run here (when recording)

    def inner(self, path: str, depth: int | None = None) -> "Context":
        return Context(path, self.depth + 1 if depth is None else depth, nodes=[] if self.nodes is not None else None)

    def record(self, node) -> None:
        if self.nodes is not None:
            self.nodes.append(node)

    used: set = field(default_factory=set)

    def child(self, name: str | None, span: Span | None = None) -> str:
        """The next child's path: its index among its siblings, or the name it was given."""
        segment = name if name is not None else str(self.counter)
        self.counter += 1
        if segment in self.used:
            raise SpecNameError(
                f"two rows in the same block are named '{segment}'",
                span,
                expected="names unique within their block (they form the rows' paths)",
                found=f"'{segment}' again",
                hint="rename one of them",
                code="E0208",
            )
        self.used.add(segment)
        return f"{self.path}.{segment}" if self.path else segment


@gc_paused
def analyze(
    spec: Spec,
    source: Source,
    *,
    batch: int = 1,
    bindings: dict[str, Any] | None = None,
    dtype: str = "float32",
    on_layer=None,
    optimizer: str = "adam",
    amp: bool = False,
    explain: bool = False,
) -> Summary:
    """Analyze a parsed spec. Raises an NNShapeError (with the source attached) for a bad spec.

    ``on_layer(path, call, inference)`` is called for every layer (the verifier and the tests use
    it to build each layer's torch twin from exactly the arguments the analysis saw).
    ``explain`` fills each layer row's worked formulas (``Kind.explain``), off by default for speed.
    """
    analyzer = _Analyzer(source, batch, bindings or {}, dtype, on_layer, optimizer=optimizer, amp=amp, explain=explain)
    return _run(analyzer, spec, source)


@gc_paused
def analyze_with_plan(
    spec: Spec, source: Source, *, batch: int = 1, bindings: dict[str, Any] | None = None, dtype: str = "float32",
    optimizer: str = "adam", amp: bool = False,
) -> tuple[Summary, Plan]:
    """Like :func:`analyze`, and also the network's structure for building it again."""
    analyzer = _Analyzer(source, batch, bindings or {}, dtype, record=True, optimizer=optimizer, amp=amp)
    summary = _run(analyzer, spec, source)
    assert analyzer.plan is not None
    return summary, analyzer.plan


def _run(analyzer: "_Analyzer", spec: Spec, source: Source) -> Summary:
    """Run the analysis; every way it can fail becomes one located NNShapeError."""
    try:
        return analyzer.run(spec)
    except NNShapeError as err:
        raise analyzer.report(err, source) from None
    except RecursionError:
        raise SpecLimitError(
            "the spec nests too deeply to analyze",
            analyzer.last_span,
            hint="reduce nesting of blocks and def calls",
            code="E0505",
        ).with_source(source) from None
    except TooComplex as exc:  # a layer's rule multiplied symbolic sizes (in an argument: values.py)
        raise too_complex(exc, analyzer.last_span).with_source(source) from None


class _Analyzer:
    reuse_inference = True  # share one layer's inference among layers with equal layer_key

    def __init__(
        self, source: Source, batch: int, bindings: dict[str, Any], dtype: str, on_layer=None, record: bool = False,
        optimizer: str = "adam", amp: bool = False, explain: bool = False,
    ):
        self.on_layer = on_layer
        self.explain = explain
        self.fields: dict[int, tuple[TensorInfo, Any]] = {}  # id -> (tensor, its receptive field)
        self.optimizer = optimizer
        self.amp = amp
        # activations (and the weights' working copy) are half precision under --amp
        self.act_dtype = ("bfloat16" if dtype == "bfloat16" else "float16") if amp else dtype
        self.mem = Tracker(self.act_dtype)
        self.record = record
        self.plan: Plan | None = None
        self.source = source
        self.batch = batch
        self.bindings = bindings
        self.dtype = dtype
        self.rows: list[LayerRow] = []
        self.warnings: list[Diagnostic] = []
        self.seen_warnings: set[Diagnostic] = set()
        self.inputs: list[InputInfo] = []
        self.tensors: dict[str, TensorInfo] = {}
        self.call_stack: list[str] = []
        self.output: tuple[str, Span] | None = None
        self.last_span: Span | None = None
        self.unrolled_rows = 0
        self.row_chars = 0  # of the rows' paths, labels and symbolic sizes (count_text)
        self.symbolic = False  # an input has a symbolic size: rows may hold polynomials
        self.recovered: list[NNShapeError] = []  # errors analysis could step over (unknown names)
        self.inferred: dict[tuple, _Inferred] = {}  # layer_key -> the first such layer's call, Inference, output
        self.written: dict[int, tuple] = {}  # id(Layer) -> (the Layer, its arguments' key, the names they read)

    def recover(self, error: NNShapeError) -> None:
        """Note an error that does not stop analysis (an unknown kind or key), up to a limit."""
        if any(e.span == error.span and e.code == error.code for e in self.recovered):
            return  # the same place, reached again through another def call
        if len(self.recovered) >= MAX_REPORTED_ERRORS:
            raise self.recovered[0]
        self.recovered.append(error)

    def report(self, error: NNShapeError, source: Source) -> NNShapeError:
        """The error to raise: all recovered errors (a later error may only be their echo)."""
        if not self.recovered:
            return error.with_source(source)
        first, *others = self.recovered
        first.others = [e.with_source(source) for e in others]
        return first.with_source(source)

    # ------------------------------------------------------------------ entry
    def run(self, spec: Spec) -> Summary:
        scope = Scope()
        scope.values.update(self.bindings)
        ctx = Context("", 0, nodes=[] if self.record else None)
        current, totals = self.statements(spec.statements, None, scope, ctx, top=True)
        if self.recovered:
            raise self.recovered[0]
        if not self.inputs:
            raise SpecSyntaxError(
                "the spec declares no input",
                Span(1, 1),
                expected="an `input` statement, e.g. `input 3x224x224`",
                found="no input" if spec.statements else "an empty spec",
                hint="start the spec with `input SHAPE` (per sample, batch excluded)",
                code="E0130",
            )
        out_name = None
        if self.output is not None:
            out_name, span = self.output
            current = self.tensor(out_name, span)
        assert current is not None
        leaves = [r for r in self.rows if not r.is_block]
        memory = training_totals(
            params=totals.params, trainable=totals.trainable, buffers=totals.buffers, dtype=self.act_dtype,
            optimizer=self.optimizer, amp=self.amp,
            activation_bytes=sum((r.activation_bytes * r.repeat for r in leaves), 0),
            peak=self.mem.peak if self.mem.peak_known else None, saved=self.mem.saved_bytes,
        )
        if self.record:
            self.plan = Plan([(i.name, self.tensors[i.name]) for i in self.inputs], SeqNode("", "network", ctx.nodes or []), out_name)
        return Summary(
            source=self.source.name,
            batch=self.batch,
            dtype=self.dtype,
            inputs=tuple(self.inputs),
            output_name=out_name,
            output_shape=current.shape,
            output_dtype=current.dtype,
            layers=tuple(self.rows),
            total_params=totals.params,
            trainable_params=totals.trainable,
            total_buffers=totals.buffers,
            total_macs=totals.macs,
            warnings=tuple(self.warnings),
            bindings=tuple(sorted(self.bindings.items())),
            source_text=self.source.text,
            memory=memory,
        )

    # ------------------------------------------------------------------ statement lists
    def statements(
        self, body: tuple[Statement, ...], x: TensorInfo | None, scope: Scope, ctx: Context, top: bool = False
    ) -> tuple[TensorInfo | None, Totals]:
        try:
            return self._statements(body, x, scope, ctx, top)
        except SpecLimitError as err:
            if err.span is None and body:
                err.span = body[-1].span  # point an unlocated limit at the statement that hit it
            raise

    def _statements(
        self, body: tuple[Statement, ...], x: TensorInfo | None, scope: Scope, ctx: Context, top: bool
    ) -> tuple[TensorInfo | None, Totals]:
        totals = Totals()
        index = 0
        while index < len(body):
            stmt = body[index]
            index += 1
            self.last_span = stmt.span  # where a RecursionError is reported (E0505)
            if type(stmt) is Layer:  # the common statement first
                if x is None:
                    self.require_input(x, stmt.span)
                x, part = self.layer(stmt, x, scope, ctx)
                totals.add(part)
            elif isinstance(stmt, Let):
                if stmt.name.lower() in STATEMENT_KEYWORDS:
                    raise SpecSyntaxError(f"'{stmt.name}' is a keyword and cannot be a constant's name", stmt.span, code="E0131")
                if top and stmt.name in self.bindings:
                    continue  # --set (or a keyword of summarize()) overrides the spec's own `let`
                scope.values[stmt.name] = scope.evaluator(symbols=False).eval(stmt.value)
            elif isinstance(stmt, Def):
                if registry.find(stmt.name) is not None:
                    raise SpecNameError(
                        f"def '{stmt.name}' has the name of a layer kind",
                        stmt.span,
                        hint="choose another name; layer kinds cannot be redefined",
                        code="E0203",
                    )
                scope.defs[stmt.name] = (stmt, scope)
            elif isinstance(stmt, Input):
                x = self.input(stmt, scope, top, x)
            elif isinstance(stmt, Output):
                if not top:
                    raise SpecSyntaxError("`output` belongs at the top level of the spec", stmt.span, code="E0132")
                if len(stmt.names) != 1:
                    raise SpecSyntaxError(
                        "`output` takes one tensor name",
                        stmt.names[1].span,
                        found=" ".join(n.name for n in stmt.names),
                        code="E0132",
                    )
                self.tensor(stmt.names[0].name, stmt.names[0].span)  # must exist by now
                self.output = (stmt.names[0].name, stmt.names[0].span)
            elif isinstance(stmt, Block):
                if stmt.keyword == "residual":
                    shortcut = None
                    if index < len(body) and isinstance(body[index], Block) and body[index].keyword == "shortcut":
                        shortcut = body[index]
                        index += 1
                    x = self.require_input(x, stmt.span)
                    x, part = self.residual(stmt, shortcut, x, scope, ctx)
                elif stmt.keyword == "shortcut":
                    raise SpecSyntaxError(
                        "`shortcut:` must directly follow a `residual:` block",
                        stmt.span,
                        expected="residual: ... then shortcut: ... at the same indentation",
                        code="E0133",
                    )
                elif stmt.keyword == "branch":
                    raise SpecSyntaxError(
                        "`branch:` belongs directly inside `concat:`, `add:` or `multiply:`",
                        stmt.span,
                        code="E0134",
                    )
                elif stmt.keyword == "from":
                    x, part = self.from_block(stmt, scope, ctx)
                else:
                    x = self.require_input(x, stmt.span)
                    x, part = self.block(stmt, x, scope, ctx)
                totals.add(part)
            else:  # pragma: no cover
                raise TypeError(stmt)
        return x, totals

    def require_input(self, x: TensorInfo | None, span: Span) -> TensorInfo:
        if x is None:
            raise SpecSyntaxError(
                "a layer comes before any input is declared",
                span,
                expected="an `input` statement first, e.g. `input 3x224x224`",
                hint="declare the network's input at the top: `input SHAPE` (per sample, batch excluded)",
                code="E0130",
            )
        return x

    def tensor(self, name: str, span: Span) -> TensorInfo:
        if name in self.tensors:
            return self.tensors[name]
        raise SpecNameError(
            f"no tensor named '{name}'",
            span,
            expected="a named input or a tensor stored with `from ... as NAME:`",
            found=f"'{name}'",
            hint=did_you_mean(name, self.tensors) or (
                "known tensors: " + ", ".join(sorted(self.tensors)) if self.tensors else "declare it with `input NAME SHAPE`"
            ),
            code="E0204",
        )

    # ------------------------------------------------------------------ input
    def input(self, stmt: Input, scope: Scope, top: bool, x: TensorInfo | None) -> TensorInfo:
        if not top:
            raise SpecSyntaxError("`input` belongs at the top level of the spec", stmt.span, code="E0135")
        value = scope.evaluator(symbols=True).eval(stmt.shape)
        dims = value if isinstance(value, tuple) else (value,)
        checked: list[Dim] = []
        for dim in dims:
            if isinstance(dim, bool) or not isinstance(dim, (int, Poly)) or (isinstance(dim, int) and dim < 1):
                raise SpecArgumentError(
                    "input sizes must be positive integers or size names",
                    stmt.shape.span,
                    expected="e.g. 3x224x224, 128 or (L, 768)",
                    found=describe(value),
                    code="E0305",
                )
            checked.append(dim)
        check_rank(len(checked) + 1, stmt.shape.span)
        self.symbolic = self.symbolic or any(isinstance(dim, Poly) for dim in checked)
        dtype = "float32"
        for arg in stmt.args:
            if arg.key != "dtype":
                raise SpecNameError(
                    f"unknown input option '{arg.key}'",
                    arg.span,
                    expected="dtype=...",
                    hint=did_you_mean(arg.key or "", ("dtype",)),
                    code="E0205",
                )
            raw = arg.value.name if isinstance(arg.value, Name) else scope.evaluator().eval(arg.value)
            dtype = normalize_dtype(str(raw)) if isinstance(raw, str) else None
            if dtype is None:
                raise SpecArgumentError(
                    "unknown dtype",
                    arg.value.span,
                    expected="one of " + ", ".join(DTYPE_BYTES),
                    found=describe(raw),
                    hint=did_you_mean(str(raw), DTYPE_BYTES),
                    code="E0306",
                )
        name = stmt.name
        if name is None:
            if self.inputs:
                raise SpecSyntaxError(
                    "several inputs need names",
                    stmt.span,
                    expected="input NAME SHAPE",
                    hint=f"name this one, e.g. `input x2 {expr_text(stmt.shape)}`, and the first one too",
                    code="E0136",
                )
            name = "input"
        elif any(inp.name == "input" for inp in self.inputs):
            raise SpecSyntaxError(
                "several inputs need names",
                stmt.span,
                hint="give the first input a name too: `input NAME SHAPE`",
                code="E0136",
            )
        if name in self.tensors:
            raise SpecNameError(f"tensor '{name}' is already defined", stmt.span, code="E0206")
        tensor = TensorInfo((self.batch,) + tuple(checked), dtype)
        # every spatial dim (2…) of an N×C×… input starts as one position: size 1, jump 1, start 0
        self.set_field(tensor, tuple(Field(1, 1, 0) for _ in checked[1:]) if len(checked) >= 2 else None)
        self.mem.input(tensor)
        self.tensors[name] = tensor
        self.inputs.append(InputInfo(name, tensor.shape, dtype, stmt.span.line))
        return x if x is not None else tensor

    # ------------------------------------------------------------------ layers and def calls
    def layer(self, stmt: Layer, x: TensorInfo, scope: Scope, ctx: Context) -> tuple[TensorInfo, Totals]:
        kind = registry.find(stmt.kind)
        if kind is None:
            found = scope.find_def(stmt.kind)
            if found is not None:
                return self.call_def(stmt, found, x, scope, ctx)
            keyword_hint = None
            if stmt.kind in STATEMENT_KEYWORDS:
                keyword_hint = f"`{stmt.kind}` is a keyword; check the statement's form"
            self.recover(SpecNameError(
                f"unknown layer kind '{stmt.kind}'",
                Span(stmt.span.line, stmt.span.col, len(stmt.kind)),
                expected="a layer kind (see `nnshape layers`) or a def",
                found=f"'{stmt.kind}'",
                hint=keyword_hint or registry.kind_hint(stmt.kind, scope.def_names()) or "run `nnshape layers` to list the kinds",
                code="E0202",
            ))
            return x, Totals()  # carry on as if it were `identity`, to find further errors
        universal, args = self.split_universal(stmt.args, scope, lambda key: kind.arg(key) is not None)
        key = self.layer_key(kind, stmt, x, scope)
        try:
            inferred = self.inferred.get(key) if key is not None else None
        except TypeError:  # a bound value that cannot be hashed: no sharing for this layer
            key = inferred = None
        if inferred is None:
            recovered = len(self.recovered)
            call, result, out = self.infer(kind, stmt, args, x, scope)
            inferred = _Inferred(call, result, out, self.mem.nbytes(out))
            if key is not None and not call.warnings and not call.tensors and len(self.recovered) == recovered:
                self.inferred[key] = inferred
        else:  # the same layer on the same input seen before: only the row's place is new
            call = Call(kind, inferred.call.args, x, stmt.span, label=inferred.call.label)
            result = inferred.result
            out = TensorInfo(inferred.out.shape, inferred.out.dtype)
        trainable = universal.get("trainable", True) if universal else True
        params = result.params
        totals = Totals(params, params if trainable else 0, result.buffers, result.macs)
        path = ctx.child(universal.get("name") if universal else None, stmt.span)
        field = self.layer_field(kind, call, result, x)
        if kind.warns_on_field:
            for message, arg, code, hint in kind.field_warnings(call, self.field_of(x)):
                self.warn(f"{kind.name}: {message}", call.span_of(arg), code, hint)
        self.set_field(out, field)
        explain = tuple(kind.explain(call, result)) if self.explain else ()
        saved = self.mem.layer(kind, call, out, inferred.out_bytes, totals.trainable, inferred.saved_rule)
        if self.on_layer is not None:
            self.on_layer(path, call, result)
        if ctx.nodes is not None:
            ctx.nodes.append(LayerNode(path, call, result))
        param_bytes = DTYPE_BYTES[self.dtype]
        self.add_row(
            LayerRow(
                path=path,
                kind=kind.name,
                label=_labelled(call.label, universal) if universal else call.label,
                line=stmt.span.line,
                col=stmt.span.col,
                depth=ctx.depth,
                is_block=False,
                input_shapes=(x.shape,) + tuple(t.shape for t in call.extra_inputs) if call.tensors else (x.shape,),
                output_shape=out.shape,
                dtype=out.dtype,
                params=params,
                trainable_params=totals.trainable,
                buffers=totals.buffers,
                macs=totals.macs,
                details=result.details,
                activation_bytes=inferred.out_bytes,
                param_bytes=params * param_bytes,
                buffer_bytes=totals.buffers * param_bytes,
                saved_bytes=saved,
                score_bytes=result.scores * DTYPE_BYTES[self.act_dtype] if result.scores else 0,
                receptive_field=field,
                explain=explain,
            )
        )
        return out, totals

    def infer(self, kind: Kind, stmt: Layer, args: list[Argument], x: TensorInfo, scope: Scope) -> tuple[Call, Any, TensorInfo]:
        """Bind the arguments and apply the kind's rule: the call, its Inference and the output."""
        call = self.bind(kind, stmt, args, x, scope)
        self.check_dtype(kind, call)
        try:
            result = kind.infer(call)
        except NeedsValue as exc:
            raise SpecShapeError(
                f"{kind.name} needs the value of {', '.join(exc.symbols)}",
                stmt.span,
                expected="a known size",
                found="a symbolic size in " + format_shape(x.shape),
                hint=" ".join(f"`--set {s}=...`" for s in exc.symbols) + " or `let` it in the spec",
                code="E0404",
            ) from None
        for message, span, code, hint in call.warnings:
            self.warn(message, span, code, hint)
        dtype = result.dtype or (x.dtype if x.is_float else "float32")
        return call, result, TensorInfo(self.check_shape(result.shape, stmt.span), dtype)

    def layer_key(self, kind: Kind, stmt: Layer, x: TensorInfo, scope: Scope) -> tuple | None:
        """What a layer's inference depends on: its kind, its arguments as written, the values of
        the names they use, and the input's shape and dtype. Equal keys give equal inferences, so
        a spec that repeats a layer (most do, and a 1 MB spec must) binds and infers it once.
        None when reuse is off (the tests compare); unhashable values make the lookup fail."""
        if not self.reuse_inference:
            return None
        written = self.written.get(id(stmt))
        if written is None or written[0] is not stmt:
            free: list[str] = []
            written = (stmt, tuple(_argument_key(arg, free) for arg in stmt.args), tuple(dict.fromkeys(free)))
            self.written[id(stmt)] = written
        names = written[2]
        if names:
            values = []
            for name in names:
                try:
                    values.append(_typed_key(scope.lookup(name)))
                except KeyError:
                    values.append(_UNBOUND)
            bound: tuple = tuple(values)
        else:
            bound = ()
        return (stmt.kind, written[1], bound, x.shape, x.dtype)  # the kind as written: it starts the label

    def check_dtype(self, kind: Kind, call: Call) -> None:
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

    def split_universal(self, args: tuple[Argument, ...], scope: Scope, owns) -> tuple[dict[str, Any], list[Argument]]:
        """Take out `name=` and `trainable=`, which every layer and call accepts."""
        universal: dict[str, Any] = {}
        rest: list[Argument] = []
        for arg in args:
            if arg.key in UNIVERSAL_KEYS and not owns(arg.key):
                if arg.key == "name":
                    value = arg.value.name if isinstance(arg.value, Name) else scope.evaluator().eval(arg.value)
                    if not isinstance(value, str) or not value.isidentifier() or not value.isascii():
                        raise SpecArgumentError(
                            "a layer name must be a plain identifier",
                            arg.value.span,
                            expected="letters, digits and '_' (e.g. name=conv1)",
                            found=describe(value),
                            code="E0307",
                        )
                else:
                    value = scope.evaluator().eval(arg.value)
                    if not isinstance(value, bool):
                        raise SpecArgumentError(
                            "trainable= takes true or false", arg.value.span, found=describe(value), code="E0307"
                        )
                universal[arg.key] = value
            else:
                rest.append(arg)
        return universal, rest

    def bind(self, kind: Kind, stmt: Layer, args: list[Argument], x: TensorInfo, scope: Scope) -> Call:
        values: dict[str, Any] = {}
        spans: dict[str, Span] = {}
        given: set[str] = set()
        written: list[tuple[str | None, str]] = []  # (key or None, arg name) in the order written
        positional, tensor_args, uniform, defaults = _arg_groups(kind)
        pos_index = 0
        variadic_items: list[tuple[Any, Span]] = []
        variadic_spec: Arg | None = None
        ndim = getattr(kind, "ndim", None)
        evaluator = scope.evaluator()
        call_span = stmt.span  # the kind's token
        for arg in args:
            key = arg.key
            value_expr: Expr | None = arg.value
            compact_value = None
            if key is None and isinstance(arg.value, Name):
                split = compact_split(arg.value.name)
                if split is not None and kind.arg(split[0]) is not None:
                    try:
                        scope.lookup(arg.value.name)
                    except KeyError:
                        key, compact_value = split
            if key is None:
                if pos_index >= len(positional):
                    names = ", ".join(a.name for a in positional) or "none"
                    raise SpecArgumentError(
                        f"{kind.name}: too many positional arguments",
                        arg.span,
                        expected=f"at most {len(positional)} positional ({names}); others as key=value",
                        found=f"'{expr_text(arg.value)}'",
                        hint=self.keys_hint(kind),
                        code="E0310",
                    )
                spec = positional[pos_index]
                if spec.variadic:
                    variadic_spec = spec
                    variadic_items.append((self.eval_arg(spec, arg.value, evaluator), arg.span))
                    spans.setdefault(spec.name, arg.span)
                    if spec.name not in given:
                        written.append((None, spec.name))
                    given.add(spec.name)
                    continue
                pos_index += 1
            else:
                spec = kind.arg(key)
                if spec is None:
                    accepted = [k for a in kind.args for k in a.keys]
                    self.recover(SpecNameError(
                        f"{kind.name} has no argument '{key}'",
                        arg.key_span or arg.span,
                        expected="one of: " + ", ".join(a.name + (f" ({'/'.join(a.aliases)})" if a.aliases else "") for a in kind.args),
                        found=f"'{key}'",
                        hint=did_you_mean(key, accepted + list(UNIVERSAL_KEYS)),
                        code="E0207",
                    ))
                    continue
            if spec.name in given:
                raise SpecArgumentError(
                    f"{kind.name}: '{spec.name}' is given twice",
                    arg.span,
                    hint="pass each argument once, positionally or as key=value",
                    code="E0311",
                )
            given.add(spec.name)
            written.append((None if arg.key is None and compact_value is None else key, spec.name))
            spans[spec.name] = arg.value.span if compact_value is None else arg.span
            raw = compact_value if compact_value is not None else self.eval_arg(spec, value_expr, evaluator)
            values[spec.name] = coerce(kind, spec, raw, spans[spec.name], ndim)
        if variadic_spec is not None:
            raw_items = tuple(v for v, _ in variadic_items)
            raw = raw_items[0] if len(raw_items) == 1 else raw_items
            values[variadic_spec.name] = coerce(kind, variadic_spec, raw, variadic_items[0][1], ndim)
        for spec in kind.args:
            if spec.name not in values:
                if spec.name in defaults:
                    values[spec.name] = defaults[spec.name]
                    continue
                if spec.required:
                    form = f"{spec.name}=..." if not spec.positional else f"{spec.name} (positional)"
                    raise SpecArgumentError(
                        f"{kind.name} needs '{spec.name}'",
                        Span(stmt.span.line, stmt.span.col, len(stmt.kind)),
                        expected=f"{form}" + (f", also written {', '.join(spec.aliases)}" if spec.aliases else ""),
                        found=f"`{stmt.text}`",
                        hint=f"e.g. `{self.example_for(kind)}`",
                        code="E0312",
                    )
                values[spec.name] = coerce(kind, spec, spec.default, call_span, ndim) if spec.type in ("size", "padding") else spec.default
        tensors: dict[str, TensorInfo] = {}
        for spec in tensor_args:
            if values.get(spec.name) is not None:
                tensors[spec.name] = self.tensor(values[spec.name], spans[spec.name])
        call = Call(kind, registry.Args(values, frozenset(given)), x, call_span, spans, tensors)
        shown = [(key, format_value(values[name], name in uniform)) for key, name in written]
        call.label = " ".join([stmt.kind] + [text if key is None else f"{key}={text}" for key, text in shown])
        return call

    def eval_arg(self, spec: Arg, expr: Expr, evaluator: Evaluator) -> Any:
        if spec.type == "tensor":
            if not isinstance(expr, Name):
                raise SpecArgumentError(
                    f"'{spec.name}' takes the name of a tensor",
                    expr.span,
                    expected="a named input or a tensor stored with `from ... as NAME:`",
                    found=expr_text(expr),
                    code="E0308",
                )
            return expr.name
        if isinstance(expr, Name) and spec.type in ("str", "bool", "padding"):
            try:
                return evaluator.lookup(expr.name)
            except KeyError:
                if spec.type in ("str", "padding"):
                    return expr.name  # bare words for string choices: mode=bilinear, p=same
                raise SpecArgumentError(
                    f"'{spec.name}' takes true or false",
                    expr.span,
                    expected="true or false",
                    found=f"'{expr.name}'",
                    hint=did_you_mean(expr.name, ("true", "false")),
                    code="E0303",
                ) from None
        return evaluator.eval(expr)

    def keys_hint(self, kind: Kind) -> str:
        return "keys: " + ", ".join(a.short + "=" for a in kind.args if not a.positional)

    def example_for(self, kind: Kind) -> str:
        if kind.examples:
            return kind.examples[0].split("|", 1)[-1].strip()
        return kind.name

    def check_shape(self, shape: Shape, span: Span) -> Shape:
        check_rank(len(shape), span)
        for dim in shape:
            if isinstance(dim, int) and (dim < 0 or dim > MAX_INT):
                raise SpecLimitError(
                    "a dimension is out of range",
                    span,
                    expected=f"sizes between 0 and {MAX_INT:,}",
                    found=format_shape(shape),
                    code="E0506",
                )
        return tuple(shape)

    def call_def(self, stmt: Layer, found: tuple[Def, Scope], x: TensorInfo, scope: Scope, ctx: Context) -> tuple[TensorInfo, Totals]:
        defn, def_scope = found
        if defn.name in self.call_stack:
            chain = " -> ".join(self.call_stack[self.call_stack.index(defn.name):] + [defn.name])
            raise SpecLimitError(
                f"def '{defn.name}' calls itself ({chain})",
                stmt.span,
                expected="defs that do not call themselves, directly or indirectly",
                hint="recursion has no base case in a spec; use `repeat N:` to apply a block N times",
                code="E0504",
            )
        if len(self.call_stack) >= MAX_CALL_DEPTH:
            raise SpecLimitError(f"def calls nest more than {MAX_CALL_DEPTH} deep", stmt.span, code="E0504")
        param_names = [p.name for p in defn.params]
        universal, args = self.split_universal(stmt.args, scope, lambda key: key in param_names)
        inner = Scope(def_scope)
        evaluator = scope.evaluator()
        pos = 0
        shown: list[str] = [stmt.kind]
        for arg in args:
            key = arg.key
            value: Any = None
            if key is None and isinstance(arg.value, Name):
                split = compact_split(arg.value.name)
                if split is not None and split[0] in param_names:
                    try:
                        scope.lookup(arg.value.name)
                    except KeyError:
                        key, value = split
            if key is None:
                if pos >= len(defn.params):
                    raise SpecArgumentError(
                        f"{defn.name}() takes {len(defn.params)} argument(s)",
                        arg.span,
                        expected=f"at most {len(defn.params)} positional: {', '.join(param_names) or 'none'}",
                        found=f"'{expr_text(arg.value)}'",
                        code="E0310",
                    )
                key = defn.params[pos].name
                pos += 1
            elif key not in param_names and key in {p.lower() for p in param_names}:
                key = next(p for p in param_names if p.lower() == key)
            if key not in param_names:
                raise SpecNameError(
                    f"{defn.name}() has no parameter '{key}'",
                    arg.key_span or arg.span,
                    expected="one of: " + (", ".join(param_names) or "(none)"),
                    found=f"'{key}'",
                    hint=did_you_mean(key, param_names),
                    code="E0207",
                )
            if key in inner.values:
                raise SpecArgumentError(f"{defn.name}(): '{key}' is given twice", arg.span, code="E0311")
            inner.values[key] = value if value is not None else evaluator.eval(arg.value)
            shown.append(format_value(inner.values[key]) if arg.key is None else f"{key}={format_value(inner.values[key])}")
        for param in defn.params:
            if param.name not in inner.values:
                if param.default is None:
                    raise SpecArgumentError(
                        f"{defn.name}() needs '{param.name}'",
                        stmt.span,
                        expected=f"a value for '{param.name}' (defined at line {param.span.line})",
                        found=f"`{stmt.text}`",
                        code="E0312",
                    )
                inner.values[param.name] = def_scope.evaluator().eval(param.default)
        path = ctx.child(universal.get("name"), stmt.span)
        row_index = self.reserve_row()
        self.call_stack.append(defn.name)
        body_ctx = ctx.inner(path)
        try:
            out, totals = self.statements(defn.body, x, inner, body_ctx)
        finally:
            self.call_stack.pop()
        ctx.record(SeqNode(path, "call", body_ctx.nodes or []))
        if not universal.get("trainable", True):
            totals.trainable = 0
            self.freeze_rows(row_index + 1)
        assert out is not None
        self.fill_row(row_index, path, "call", _labelled(" ".join(shown), universal), stmt.span, ctx.depth, (x,), out, totals)
        return out, totals

    # ------------------------------------------------------------------ blocks
    def block(self, stmt: Block, x: TensorInfo, scope: Scope, ctx: Context) -> tuple[TensorInfo, Totals]:
        kw = stmt.keyword
        if kw == "repeat":
            return self.repeat(stmt, x, scope, ctx)
        if kw in ("concat", "add", "multiply"):
            return self.merge(stmt, x, scope, ctx)
        # block NAME:
        self.no_args(stmt)
        path = ctx.child(stmt.name, stmt.name_span)
        row_index = self.reserve_row()
        body_ctx = ctx.inner(path)
        out, totals = self.statements(stmt.body, x, Scope(scope), body_ctx)
        ctx.record(SeqNode(path, "block", body_ctx.nodes or []))
        out = out or x
        self.fill_row(row_index, path, "block", f"block {stmt.name}", stmt.span, ctx.depth, (x,), out, totals)
        return out, totals

    def no_args(self, stmt: Block) -> None:
        if stmt.args:
            raise SpecArgumentError(
                f"`{stmt.keyword}:` takes no arguments",
                stmt.args[0].span,
                found=expr_text(stmt.args[0].value),
                code="E0313",
            )

    def residual(self, stmt: Block, shortcut: Block | None, x: TensorInfo, scope: Scope, ctx: Context) -> tuple[TensorInfo, Totals]:
        self.no_args(stmt)
        path = ctx.child(None)
        row_index = self.reserve_row()
        inner = ctx.inner(path)
        self.mem.hold(x)  # the skip input stays live while the body runs
        body_out, totals = self.statements(stmt.body, x, Scope(scope), inner)
        body_out = body_out or x
        self.mem.hold(body_out)
        skip = x
        node = ResidualNode(path, SeqNode(path, "residual", inner.nodes or []))
        ctx.record(node)
        if shortcut is not None:
            self.no_args(shortcut)
            sc_path = inner.child("shortcut")
            sc_index = self.reserve_row()
            sc_ctx = ctx.inner(sc_path, ctx.depth + 2)
            skip_out, sc_totals = self.statements(shortcut.body, x, Scope(scope), sc_ctx)
            node.shortcut = SeqNode(sc_path, "shortcut", sc_ctx.nodes or [])
            skip = skip_out or x
            self.fill_row(sc_index, sc_path, "shortcut", "shortcut", shortcut.span, ctx.depth + 1, (x,), skip, sc_totals)
            totals.add(sc_totals)
        if body_out.shape != skip.shape:
            what = "the shortcut's output" if shortcut is not None else "its input"
            hint = None
            if shortcut is None:
                proj = self.projection_hint(x.shape, body_out.shape)
                hint = "add a `shortcut:` block right after the residual that maps the input to " + format_shape(body_out.shape) + (
                    f", e.g. `{proj}`" if proj else ""
                )
            raise SpecShapeError(
                f"residual: the body's output cannot be added to {what}",
                stmt.span,
                expected=f"the body to end in the shape of {what}: {format_shape(skip.shape)}",
                found=f"body output {format_shape(body_out.shape)}",
                hint=hint,
                code="E0410",
            )
        out = TensorInfo(body_out.shape, body_out.dtype)
        self.set_field(out, merge_fields([self.field_of(body_out), self.field_of(skip)]))
        self.mem.release(body_out)
        self.mem.release(x)
        self.mem.merge("add", [body_out, skip], out)
        self.fill_row(row_index, path, "residual", "residual", stmt.span, ctx.depth, (x,), out, totals)
        return out, totals

    def projection_hint(self, inp: Shape, out: Shape) -> str | None:
        if len(inp) == 4 and len(out) == 4 and all(isinstance(d, int) for d in inp[2:] + out[2:]):
            stride = inp[2] // out[2] if out[2] else 1
            text = f"conv2d {out[1]} k=1" + (f" s={stride}" if stride > 1 else "") + " bias=false"
            return text
        if len(inp) == len(out) and inp[:-1] == out[:-1]:
            return f"linear {out[-1]}"
        return None

    def merge(self, stmt: Block, x: TensorInfo, scope: Scope, ctx: Context) -> tuple[TensorInfo, Totals]:
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
        path = ctx.child(None)
        row_index = self.reserve_row()
        inner = Context(path, ctx.depth + 1)
        totals = Totals()
        outputs: list[tuple[TensorInfo, Block]] = []
        node = MergeNode(path, kw, dim_value)
        ctx.record(node)
        self.mem.hold(x)  # every branch reads the block's input
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
            self.no_args(child)
            br_path = inner.child(None)
            br_index = self.reserve_row()
            br_ctx = ctx.inner(br_path, ctx.depth + 2)
            br_out, br_totals = self.statements(child.body, x, Scope(scope), br_ctx)
            node.branches.append(SeqNode(br_path, "branch", br_ctx.nodes or []))
            br_out = br_out or x
            self.fill_row(br_index, br_path, "branch", "branch", child.span, ctx.depth + 1, (x,), br_out, br_totals)
            totals.add(br_totals)
            outputs.append((br_out, child))
            self.mem.hold(br_out)  # finished branches wait for the merge
        if not outputs:
            raise SpecSyntaxError(f"`{kw}:` has no branches", stmt.span, code="E0134")
        if kw == "concat":
            out = self.concat(stmt, outputs, dim_value)
        else:
            out = self.broadcast(stmt, outputs)
        self.check_shape(out.shape, stmt.span)
        spatial_concat = kw == "concat" and dim_value % out.rank >= 2  # the grid itself is joined
        self.set_field(out, None if spatial_concat else merge_fields([self.field_of(o) for o, _ in outputs]))
        for br_out, _ in outputs:
            self.mem.release(br_out)
        self.mem.release(x)
        self.mem.merge(kw, [o for o, _ in outputs], out)
        self.fill_row(row_index, path, kw, stmt.keyword + (f" dim={dim_value}" if kw == "concat" and stmt.args else ""), stmt.span, ctx.depth, (x,), out, totals)
        return out, totals

    def concat(self, stmt: Block, outputs: list[tuple[TensorInfo, Block]], dim: int) -> TensorInfo:
        first, _ = outputs[0]
        rank = first.rank
        if not -rank <= dim < rank:
            raise SpecShapeError(
                f"concat: dim {dim} is out of range for {rank}-D branch outputs",
                stmt.args[0].value.span if stmt.args else stmt.span,
                expected=f"a dim in [{-rank}, {rank - 1}] (dim 0 is the batch)",
                found=str(dim),
                code="E0403",
            )
        d = dim % rank
        if d == 0:
            raise SpecShapeError("concat along dim 0 (the batch) is not supported", stmt.span, code="E0417")
        size: Dim = 0
        for out, branch in outputs:
            same = out.rank == rank and all(a == b for i, (a, b) in enumerate(zip(out.shape, first.shape)) if i != d)
            if not same:
                listing = _branch_listing(outputs)
                raise SpecShapeError(
                    f"concat: branch outputs differ outside dim {dim}",
                    branch.span,
                    expected=f"all branches to agree on every dim except {dim}",
                    found=listing,
                    code="E0411",
                )
            size = size + out.shape[d]
        shape = list(first.shape)
        shape[d] = size
        return TensorInfo(tuple(shape), first.dtype)

    def broadcast(self, stmt: Block, outputs: list[tuple[TensorInfo, Block]]) -> TensorInfo:
        shape: list[Dim] = list(outputs[0][0].shape)
        for out, branch in outputs[1:]:
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
                    listing = _branch_listing(outputs)
                    raise SpecShapeError(
                        f"{stmt.keyword}: branch outputs cannot be broadcast together",
                        branch.span,
                        expected="equal sizes, or 1 where a branch broadcasts (PyTorch broadcasting)",
                        found=listing,
                        code="E0412",
                    )
            shape = merged
        return TensorInfo(tuple(shape), outputs[0][0].dtype)

    def repeat(self, stmt: Block, x: TensorInfo, scope: Scope, ctx: Context) -> tuple[TensorInfo, Totals]:
        if len(stmt.args) != 1 or stmt.args[0].key is not None:
            raise SpecArgumentError(
                "`repeat` takes one count",
                stmt.args[1].span if len(stmt.args) > 1 else stmt.span,
                expected="repeat N:",
                code="E0313",
            )
        count = scope.evaluator().eval(stmt.args[0].value)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise SpecArgumentError(
                "repeat count must be a non-negative integer",
                stmt.args[0].value.span,
                expected="an integer ≥ 0",
                found=describe(count),
                code="E0314",
            )
        path = ctx.child(None)
        row_index = self.reserve_row()
        totals = Totals()
        out = x
        collapsed = 0
        node = RepeatNode(path, count, False)
        ctx.record(node)
        for i in range(count):
            first_row = len(self.rows)
            it_ctx = ctx.inner(f"{path}.{i}")
            stored_before = set(self.tensors)
            mark = self.mem.checkpoint(out)
            nxt, part = self.statements(stmt.body, out, Scope(scope), it_ctx)
            nxt = nxt or out
            node.iterations.append(SeqNode(f"{path}.{i}", "iteration", it_ctx.nodes or []))
            stores = set(self.tensors) != stored_before or _stores_tensors(stmt.body)
            if nxt.shape == out.shape and nxt.dtype == out.dtype and not stores:
                # this pass keeps the shape, so every later pass is the same: count it once, multiplied
                collapsed = count - i
                self.mem.repeat_copies(mark, collapsed - 1, out, nxt)
                field = repeat_field(self.field_of(out), self.field_of(nxt), collapsed)
                if field != self.field_of(out):  # the same tensor object, seen after `collapsed` passes
                    after = TensorInfo(out.shape, out.dtype)
                    self.mem.bind(after, self.mem.token(out))
                    self.set_field(after, field)
                    out = after
                node.collapsed = True
                for r in range(first_row, len(self.rows)):
                    self.rows[r] = self.rows[r]._replace(repeat=self.rows[r].repeat * collapsed)
                totals.add(part, collapsed)
                break
            self.mem.drop(mark)
            totals.add(part)
            out = nxt
            if i >= 1:  # passes after the first are what unrolling adds
                self.unrolled_rows += len(self.rows) - first_row
                if self.unrolled_rows > MAX_UNROLLED_ROWS:
                    raise SpecLimitError(
                        f"repeats whose body changes the shape unrolled to more than {MAX_UNROLLED_ROWS:,} rows",
                        stmt.span,
                        expected=f"at most {MAX_UNROLLED_ROWS:,} rows from unrolled passes",
                        found=f"repeat {count:,}: pass {i + 1:,} gives {format_shape(out.shape)}",
                        hint="a `repeat` whose body keeps the shape is computed once; here every pass changes it",
                        code="E0507",
                    )
        label = f"repeat {count}"
        self.fill_row(row_index, path, "repeat", label, stmt.span, ctx.depth, (x,), out, totals, collapsed=collapsed)
        return out, totals

    def from_block(self, stmt: Block, scope: Scope, ctx: Context) -> tuple[TensorInfo, Totals]:
        assert stmt.name is not None
        x = self.tensor(stmt.name, stmt.name_span or stmt.span)
        path = ctx.child(stmt.alias, stmt.alias_span)
        row_index = self.reserve_row()
        body_ctx = ctx.inner(path)
        out, totals = self.statements(stmt.body, x, Scope(scope), body_ctx)
        ctx.record(FromNode(path, stmt.name, stmt.alias, SeqNode(path, "from", body_ctx.nodes or [])))
        out = out or x
        if stmt.alias is not None:
            if stmt.alias in self.tensors and any(inp.name == stmt.alias for inp in self.inputs):
                raise SpecNameError(f"'{stmt.alias}' is an input and cannot be overwritten", stmt.alias_span, code="E0206")
            self.tensors[stmt.alias] = out
            self.mem.hold(out)  # a named tensor stays live to the end of the pass
        label = f"from {stmt.name}" + (f" as {stmt.alias}" if stmt.alias else "")
        self.fill_row(row_index, path, "from", label, stmt.span, ctx.depth, (x,), out, totals)
        return out, totals

    # ------------------------------------------------------------------ receptive field
    def set_field(self, tensor: TensorInfo, field: Any) -> None:
        self.fields[id(tensor)] = (tensor, field)  # the tensor is kept so its id stays unique

    def field_of(self, tensor: TensorInfo) -> Any:
        entry = self.fields.get(id(tensor))
        return entry[1] if entry is not None and entry[0] is tensor else None

    def layer_field(self, kind: Kind, call: Call, result, x: TensorInfo) -> Any:
        """The kind's rule on a grid; GLOBAL stays global (an output that sees everything still
        does after any layer); no grid stays none."""
        field = self.field_of(x)
        if not isinstance(field, tuple):
            return field
        try:
            return kind.receptive_field(call, result, field)
        except (NeedsValue, NNShapeError):
            return None

    # ------------------------------------------------------------------ rows
    def reserve_row(self) -> int:
        if len(self.rows) >= MAX_ROWS:
            raise SpecLimitError(
                f"the network has more than {MAX_ROWS:,} rows",
                hint="split the spec, or fold repeated layers into a `repeat` (a body that keeps the shape is computed once)",
                code="E0507",
            )
        self.rows.append(None)  # type: ignore[arg-type]
        return len(self.rows) - 1

    def add_row(self, row: LayerRow) -> None:
        index = self.reserve_row()
        self.count_text(row)
        self.rows[index] = row

    def count_text(self, row: LayerRow) -> None:
        """Bound the rows' text: a long name inside a def called many times, or a long symbol in
        the input's shape, is copied into every row, and would make a 100 kB spec into gigabytes
        of paths, labels and symbolic sizes."""
        chars = len(row.path) + len(row.label)
        if self.symbolic:
            chars += sum(_symbolic_chars(value) for value in _sizes(row))
        self.row_chars += chars
        if self.row_chars > MAX_ROW_TEXT:
            raise SpecLimitError(
                f"the rows' paths, labels and symbolic sizes pass {MAX_ROW_TEXT:,} characters",
                expected=f"at most {MAX_ROW_TEXT:,} characters of paths, labels and symbolic sizes in all",
                found=f"row {len(self.rows):,} with {chars:,} characters of them",
                hint="shorten the names given with `name=`, to defs and to size symbols, or call long-named defs fewer times",
                code="E0507",
            )

    def fill_row(self, index, path, kind, label, span, depth, inputs, out, totals: Totals, collapsed: int = 0) -> None:
        self.rows[index] = LayerRow(
            path=path,
            kind=kind,
            label=label,
            line=span.line,
            col=span.col,
            depth=depth,
            is_block=True,
            input_shapes=tuple(t.shape for t in inputs),
            output_shape=out.shape,
            dtype=out.dtype,
            params=totals.params,
            trainable_params=totals.trainable,
            buffers=totals.buffers,
            macs=totals.macs,
            collapsed=collapsed,
            activation_bytes=self.mem.nbytes(out),
            param_bytes=totals.params * DTYPE_BYTES[self.dtype],
            buffer_bytes=totals.buffers * DTYPE_BYTES[self.dtype],
            receptive_field=self.field_of(out),
        )
        self.count_text(self.rows[index])

    def freeze_rows(self, start: int) -> None:
        for i in range(start, len(self.rows)):
            if self.rows[i] is not None:
                self.rows[i] = self.rows[i]._replace(trainable_params=0)

    def warn(self, message: str, span: Span, code: str = "W0401", hint: str | None = None) -> None:
        warning = Diagnostic("warning", code, message, span, self.source, hint=hint)
        if warning not in self.seen_warnings:  # a def called many times warns once
            self.seen_warnings.add(warning)
            self.warnings.append(warning)


def merge_fields(fields: list[Any]) -> Any:
    """Receptive field of an add/multiply/concat of branches: global if any branch is; otherwise,
    per axis, the span covering every branch's window (the largest one when the branches are
    aligned) and the largest jump; none if a branch has no grid."""
    if any(f == GLOBAL for f in fields):
        return GLOBAL
    if not fields or any(not isinstance(f, tuple) for f in fields) or len({len(f) for f in fields}) != 1:
        return None
    out = []
    for axis in zip(*fields):
        start = min(f.start for f in axis)
        end = max(f.start + f.size for f in axis)
        out.append(Field(end - start, max(f.jump for f in axis), start))
    return tuple(out)


def repeat_field(before: Any, after: Any, passes: int) -> Any:
    """The field after ``passes`` passes of a shape-keeping body, from one pass (before → after).
    Per axis a pass maps (r, j, s) to (r + a·j, m·j, s + b·j), so the passes sum a geometric series."""
    if not isinstance(before, tuple) or not isinstance(after, tuple) or len(before) != len(after):
        return after if passes == 1 else (GLOBAL if after == GLOBAL else None)
    out = []
    for f, g in zip(before, after):
        a, b, m = (g.size - f.size) // f.jump, (g.start - f.start) // f.jump, g.jump // f.jump
        if m == 1:
            out.append(Field(f.size + passes * a * f.jump, f.jump, f.start + passes * b * f.jump))
        elif passes > 64:
            return None  # the jump grows as mᴺ: no useful number
        else:
            series = (m**passes - 1) // (m - 1)
            out.append(Field(f.size + a * f.jump * series, f.jump * m**passes, f.start + b * f.jump * series))
    return tuple(out)


def _stores_tensors(body: tuple[Statement, ...]) -> bool:
    for stmt in body:
        if isinstance(stmt, Block):
            if stmt.keyword == "from" and stmt.alias:
                return True
            if _stores_tensors(stmt.body):
                return True
    return False


__all__ = ["analyze", "analyze_with_plan", "MAX_ROWS"]


def _arg_groups(kind: Kind):
    """Per kind, once: positional args, tensor args, size-like args, and the defaults that need
    no coercion at call time (``bind`` runs for every layer of a spec)."""
    groups = kind.__dict__.get("_arg_groups")
    if groups is None:
        positional = [a for a in kind.args if a.positional]
        tensor_args = [a for a in kind.args if a.type == "tensor"]
        uniform = {a.name for a in kind.args if a.type in ("size", "padding")}
        ndim = getattr(kind, "ndim", None)
        defaults = {}
        for a in kind.args:
            if not a.required:
                defaults[a.name] = coerce(kind, a, a.default, Span(1, 1), ndim) if a.type in ("size", "padding") else a.default
        groups = (positional, tensor_args, uniform, defaults)
        kind.__dict__["_arg_groups"] = groups
    return groups


_SIZE_FIELDS = ("params", "trainable_params", "buffers", "macs", "activation_bytes", "param_bytes", "buffer_bytes", "saved_bytes", "score_bytes")


def _sizes(row: LayerRow):
    """Every size a row prints: its shapes' dims and its counts."""
    for shape in row.input_shapes:
        yield from shape
    yield from row.output_shape
    for name in _SIZE_FIELDS:
        yield getattr(row, name)


@functools.lru_cache(maxsize=4096)
def _symbolic_chars(value: Dim) -> int:
    """How long a size prints, for the symbolic ones (numbers print short: they are not counted)."""
    return len(str(value)) if isinstance(value, Poly) else 0


def _branch_listing(outputs: list[tuple[TensorInfo, Block]], shown: int = 8) -> str:
    """The branches' output shapes for an error: the first few of a merge of thousands."""
    parts = [f"branch {i + 1} (line {b.span.line}): {format_shape(o.shape)}" for i, (o, b) in enumerate(outputs[:shown])]
    if len(outputs) > shown:
        parts.append(f"… {len(outputs) - shown:,} more")
    return "; ".join(parts)


def check_rank(rank: int, span: Span) -> None:
    """E0506 for a tensor of more than MAX_RANK dimensions: every row prints its shapes, so
    30,000 dimensions on 20,000 rows would be gigabytes of text."""
    if rank > MAX_RANK:
        raise SpecLimitError(
            f"a tensor has {rank:,} dimensions",
            span,
            expected=f"at most {MAX_RANK} dimensions, the batch included",
            found=f"{rank:,} dimensions",
            code="E0506",
        )


class _Inferred:
    """A layer's bound call, inference and output, shared by the layers with its layer_key."""

    __slots__ = ("call", "result", "out", "out_bytes", "rule")

    def __init__(self, call: Call, result, out: TensorInfo, out_bytes: Dim):
        self.call, self.result, self.out, self.out_bytes = call, result, out, out_bytes
        self.rule = None

    def saved_rule(self):
        """What the layer's backward keeps (nnshape.memory.Saved), worked out once."""
        if self.rule is None:
            self.rule = self.call.kind.saved(self.call, self.result)
        return self.rule


_UNBOUND = object()  # a name that no scope binds (a bare word such as p=same)


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
    raise TypeError(expr)


def _typed_key(value: Any) -> Any:
    """A bound value with its type, recursively (see _expr_key)."""
    if isinstance(value, tuple):
        return (tuple,) + tuple(_typed_key(v) for v in value)
    return (type(value), value)


def format_value(value: Any, uniform: bool = False) -> str:
    """A resolved argument as spec text: 64, 3x5, 0.5, true, 'same'. With ``uniform``, a size
    whose entries are all equal is shown once (k=3 is stored as (3, 3))."""
    if isinstance(value, tuple) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        if uniform and len(set(value)) == 1:
            return str(value[0])
        return "x".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return describe(value)


def _labelled(text: str, universal: dict[str, Any]) -> str:
    """Row label: the statement with resolved values, its name first, a freeze marked."""
    if universal.get("trainable") is False:
        text += " trainable=false"
    if "name" in universal:
        text = f"{universal['name']}: {text}"
    return text
