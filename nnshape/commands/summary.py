"""`nnshape summary`: every layer's output shape, parameters and MACs."""

from __future__ import annotations

import click

from ..cli import Count, bindings_option, echo_chunks, echo_warnings, fail, read_spec, table_width, width_options
from ..memory import OPTIMIZER_STATES
from ..render import FORMATS
from ..tensor import MEMORY_DTYPES
from ._planning import parallel, planning_options, take


@click.command()
@click.argument("spec", metavar="SPEC")
@click.option("--batch", "-b", type=Count(min=1), default=1, show_default=True, help="Batch size N (shown first in shapes).")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Bind a name used in the spec (repeatable).")
@click.option("--depth", "-d", type=Count(min=0), default=None, help="Expand blocks down to this depth (0 = top level); deeper rows fold into their block.")
@click.option("--format", "-f", "fmt", type=click.Choice(FORMATS), default="table", show_default=True)
@click.option("--columns", "-c", default="", metavar="LIST", help="Extra columns, comma-separated: input, kernel, rf (receptive field size/jump/start), params%, macs%, path, line (or 'all').")
@click.option("--dtype", type=click.Choice(MEMORY_DTYPES), default="float32", show_default=True, help="Dtype of parameters and float activations, for memory.")
@click.option("--optimizer", type=click.Choice(list(OPTIMIZER_STATES)), default="adam", show_default=True, help="Optimizer for the training-memory estimate (states per parameter: 0, 1, 2, 2, in the parameters' dtype; fp32 with --amp).")
@click.option("--amp", is_flag=True, help="Mixed precision: float16 (bfloat16 with --dtype bfloat16) activations and weights, fp32 master weights.")
@click.option("--explain", "explain", is_flag=True, help="Also print every layer's formulas with its numbers (in JSON: layers[].explain).")
@click.option("--quiet", "-q", is_flag=True, help="Do not print warnings.")
@width_options
@click.option("--footer", type=click.Choice(["compact", "full"]), default="compact", show_default=True, help="Under the table: the main totals, or every total and the counting conventions.")
@click.option("--by", "by", type=click.Choice(["kind", "family"]), default=None, help="Instead of the layers, their totals by layer kind (conv2d, linear ...) or family (conv, dense, attention ...), largest first.")
@click.option("--count-elementwise", is_flag=True, help="Add the FLOPs of activations, norms, softmax, pooling and merges to FLOPs (DeepSpeed's convention; off: FLOPs = 2 × MACs, as FlopCounterMode counts).")
@planning_options
def summary(spec: str, batch: int, sets: tuple[str, ...], depth: int | None, fmt: str, columns: str, dtype: str, optimizer: str, amp: bool, explain: bool, quiet: bool, width: int | None, wide: bool, footer: str, by: str | None, count_elementwise: bool, **planning) -> None:
    """Show every layer's output shape, parameters and MACs. SPEC is a file or '-' for stdin.

    With --dp/--zero/--tp/--pp/--serve/--gpu (any planning option), also the memory of one device
    of a distributed run and whether it fits (docs/will-it-fit.md)."""
    from ..analysis import analyze
    from ..errors import NNShapeError
    from ..parser import parse
    from ..render import COLUMNS, render_chunks

    extra = tuple(c.strip().lower() for c in columns.split(",") if c.strip())
    if extra == ("all",):
        extra = COLUMNS
    unknown = [c for c in extra if c not in COLUMNS]
    if unknown:
        raise click.BadParameter(f"unknown column {unknown[0]!r}; choose from {', '.join(COLUMNS)} or all", param_hint="--columns")
    bindings = bindings_option(sets)
    cfg = parallel(take(planning))
    try:
        source = read_spec(spec)
        result = analyze(parse(source), source, batch=batch, bindings=bindings, dtype=dtype, optimizer=optimizer, amp=amp, explain=explain,
                         count_elementwise=count_elementwise)
        if cfg is not None:
            from dataclasses import replace

            from ..planning import plan_source

            plan = plan_source(source, cfg, batch=batch, bindings=bindings, dtype=dtype, optimizer=optimizer, amp=amp)
            result = replace(result, device_plan=plan)
    except NNShapeError as err:
        fail(err)
    if not quiet:
        echo_warnings(result.warnings)
    echo_chunks(render_chunks(result, fmt, depth=depth, columns=extra, width=table_width(width, wide), footer=footer, by=by), styled=fmt == "table")
    if explain and fmt in ("table", "markdown"):
        from ..render.explain import explain_text

        text = explain_text(result)
        click.echo("\nWorked formulas\n\n" + text if fmt == "table" else "\n```text\n" + text + "```", nl=fmt == "markdown")
