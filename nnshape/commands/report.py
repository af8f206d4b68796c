"""`nnshape report`: one self-contained HTML file with the diagram, the table, charts and totals."""

from __future__ import annotations

import sys

import click

from ..cli import EXIT_MISSING, Count, bindings_option, echo_warnings, fail, read_spec
from ..safetext import one_line


@click.command()
@click.argument("spec", metavar="SPEC")
@click.option("--output", "-o", "output", required=True, type=click.Path(dir_okay=False, writable=True, allow_dash=True), help="The HTML file to write ('-' for stdout).")
@click.option("--depth", "-d", type=Count(min=0), default=None, help="Fold the diagram's blocks below this depth (default: as deep as fits).")
@click.option("--direction", type=click.Choice(["TB", "LR"], case_sensitive=False), default="TB", show_default=True, help="The diagram top to bottom or left to right.")
@click.option("--batch", "-b", type=Count(min=1), default=1, show_default=True, help="Batch size N (shown first in shapes).")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Bind a name used in the spec (repeatable).")
@click.option("--dtype", type=click.Choice(["float32", "float16", "bfloat16", "int8", "float64"]), default="float32", show_default=True, help="Dtype of parameters and float activations, for memory.")
@click.option("--optimizer", type=click.Choice(["sgd", "momentum", "adam", "adamw"]), default="adam", show_default=True, help="Optimizer for the training-memory estimate.")
@click.option("--amp", is_flag=True, help="Mixed precision (see `nnshape summary --help`).")
@click.option("--quiet", "-q", is_flag=True, help="Do not print warnings.")
def report(spec: str, output: str, depth: int | None, direction: str, batch: int, sets: tuple[str, ...], dtype: str, optimizer: str, amp: bool, quiet: bool) -> None:
    """Write an HTML report of SPEC: diagram, layer table, charts, memory and totals.

    One self-contained file (opens offline). Needs Graphviz's `dot` and plotly
    (pip install plotly).
    """
    from ..errors import NNShapeError
    from ..pictures import analyze_for_picture
    from ..pictures.dot import DotMissingError
    from ..pictures.report import PlotlyMissingError, report_html

    bindings = bindings_option(sets)
    try:
        source = read_spec(spec)
        summary, plan = analyze_for_picture(source, batch=batch, bindings=bindings, dtype=dtype, optimizer=optimizer, amp=amp)
        if not quiet:
            echo_warnings(summary.warnings)
        text = report_html(summary, plan, depth=depth, direction=direction.upper())
    except (DotMissingError, PlotlyMissingError) as err:
        click.echo(f"nnshape report: {err.message}; {err.hint}", err=True)
        sys.exit(EXIT_MISSING)
    except NNShapeError as err:
        fail(err)
    data = text.encode("utf-8")
    if output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    with open(output, "wb") as handle:
        handle.write(data)
    click.echo(f"wrote {one_line(str(output))} ({len(data):,} bytes)", err=True)
