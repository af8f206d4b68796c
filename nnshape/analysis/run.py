"""Analyze a parsed spec into a Summary (and, when asked, the Plan to rebuild it).

Every way an analysis can fail ends as one located NNShapeError: a spec error (with the errors
recovered before it), Python's recursion limit (E0505) or a symbolic size too complex (E0510).
"""

from __future__ import annotations

from typing import Any

from ..errors import NNShapeError, SpecLimitError, SpecSyntaxError
from ..memory import training_totals
from ..plan import Plan, SeqNode
from ..source import Source, Span
from ..summary import OutputInfo, Summary
from ..symbolic import TooComplex
from ..suggest import did_you_mean
from ..syntax import Spec, names_read
from ..values import too_complex
from .rows import Context
from .scopes import Scope
from .walk import Walker


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
    count_elementwise: bool = False,
) -> Summary:
    """Analyze a parsed spec. Raises an NNShapeError (with the source attached) for a bad spec.

    ``on_layer(path, call, inference)`` is called for every layer (the verifier and the tests use
    it to build each layer's torch twin from exactly the arguments the analysis saw).
    ``explain`` fills each layer row's worked formulas (``Kind.explain``), off by default for speed.
    ``count_elementwise`` adds each row's element-wise FLOPs (``Kind.elementwise_flops``) to FLOPs.
    """
    walker = Walker(source, batch, bindings or {}, dtype, on_layer, optimizer=optimizer, amp=amp, explain=explain, count_elementwise=count_elementwise)
    return _run(walker, spec)[0]


def analyze_with_plan(
    spec: Spec, source: Source, *, batch: int = 1, bindings: dict[str, Any] | None = None, dtype: str = "float32",
    optimizer: str = "adam", amp: bool = False,
) -> tuple[Summary, Plan]:
    """Like :func:`analyze`, and also the network's structure for building it again."""
    walker = Walker(source, batch, bindings or {}, dtype, record=True, optimizer=optimizer, amp=amp)
    summary, plan = _run(walker, spec)
    assert plan is not None
    return summary, plan


def _run(walker: Walker, spec: Spec) -> tuple[Summary, Plan | None]:
    """Run the analysis; every way it can fail becomes one located NNShapeError."""
    try:
        return _walk(walker, spec)
    except NNShapeError as err:
        raise walker.diagnostics.report(err) from None
    except RecursionError:
        raise SpecLimitError(
            "the spec nests too deeply to analyze",
            walker.last_span,
            hint="reduce nesting of blocks and def calls",
            code="E0505",
        ).with_source(walker.source) from None
    except TooComplex as exc:  # a layer's rule multiplied symbolic sizes (in an argument: values.py)
        raise too_complex(exc, walker.last_span).with_source(walker.source) from None


def _walk(walker: Walker, spec: Spec) -> tuple[Summary, Plan | None]:
    scope = Scope(frame=walker.names.root)
    scope.sizes = walker.sizes
    scope.values.update(walker.bindings)
    ctx = Context("", 0, nodes=[] if walker.record else None)
    current, totals = walker.statements(spec.statements, None, scope, ctx, top=True)
    diagnostics, names = walker.diagnostics, walker.names
    if diagnostics.recovered:
        raise diagnostics.recovered[0]
    if not names.inputs:
        raise SpecSyntaxError(
            "the spec declares no input",
            Span(1, 1),
            expected="an `input` statement, e.g. `input 3x224x224`",
            found="no input" if spec.statements else "an empty spec",
            hint="start the spec with `input SHAPE` (per sample, batch excluded)",
            code="E0130",
        )
    unused_bindings(walker, spec)
    out_name = None
    if names.output is not None:
        out_name, span = names.output
        current = names.tensors[out_name]
    assert current is not None
    outputs = tuple(OutputInfo(name, tensor.info.shape, tensor.info.dtype) for name, tensor in (
        [(key, names.tensors[key]) for key, _ in names.outputs] or [(None, current)]
    ))
    rows = walker.rows.rows
    leaves = [r for r in rows if not r.is_block]
    mem = walker.mem
    memory = training_totals(
        params=totals.params, trainable=totals.trainable, buffers=totals.buffers, dtype=walker.act_dtype,
        optimizer=walker.optimizer, amp=walker.amp,
        activation_bytes=sum((r.activation_bytes * r.repeat for r in leaves), 0),
        peak=mem.peak if mem.peak_known else None, saved=mem.saved_bytes,
        kv_cache=sum((r.kv_cache_bytes * r.repeat for r in leaves if r.kv_cache_bytes), 0),
    )
    plan = None
    if walker.record:
        chosen = tuple(name for name, _ in names.outputs)
        plan = Plan([(i.name, names.tensors[i.name].info) for i in names.inputs], SeqNode("", "network", ctx.nodes or []),
                    chosen if len(chosen) > 1 else out_name)
    summary = Summary(
        source=walker.source.name,
        batch=walker.batch,
        dtype=walker.dtype,
        inputs=tuple(names.inputs),
        output_name=out_name,
        output_shape=current.info.shape,
        output_dtype=current.info.dtype,
        outputs=outputs,
        layers=tuple(rows),
        total_params=totals.params,
        trainable_params=totals.trainable,
        total_buffers=totals.buffers,
        total_macs=totals.macs,
        warnings=tuple(diagnostics.warnings),
        bindings=tuple(sorted(walker.bindings.items())),
        source_text=walker.source.text,
        memory=memory,
        count_elementwise=walker.count_elementwise,
        elementwise_flops=totals.elementwise,
    )
    return summary, plan


def unused_bindings(walker: Walker, spec: Spec) -> None:
    """W0211 for a binding (``--set NAME=…``, a keyword of summarize()) that the spec never reads:
    most often a misspelling (``--set s=30`` for ``S``), which would otherwise change nothing."""
    if not walker.bindings:
        return
    read = set(names_read(spec.statements))
    for name in walker.bindings:
        if name in read or name.lower() in read:
            continue
        same = sorted(n for n in read if n.lower() == name.lower() and n != name)
        hint = (f"did you mean `{same[0]}`? names are case-sensitive" if same else did_you_mean(name, sorted(read))) or (
            "check the spelling: this binding changes nothing"
        )
        walker.diagnostics.warn(f"`--set {name}=…`: the spec uses no name '{name}'", None, code="W0211", hint=hint)
