"""`nnshape draw`: the network as a diagram (DOT, or SVG/PNG/PDF laid out by Graphviz)."""

from __future__ import annotations

import sys

import click

from ..cli import EXIT_MISSING, Count, bindings_option, echo_warnings, fail, read_spec
from ..safetext import one_line


@click.command()
@click.argument("spec", metavar="SPEC")
@click.option("--output", "-o", "output", required=True, type=click.Path(dir_okay=False, writable=True, allow_dash=True), help="Where to write: net.svg, net.png, net.pdf or net.dot ('-' for stdout, with --format).")
@click.option("--format", "-f", "fmt", type=click.Choice(["svg", "png", "pdf", "dot"]), default=None, help="The format (default: from the file name).")
@click.option("--depth", "-d", type=Count(min=0), default=None, help="Draw blocks down to this depth (0 = top level); deeper blocks become one node with their totals.")
@click.option("--direction", type=click.Choice(["TB", "LR"], case_sensitive=False), default="TB", show_default=True, help="Top to bottom or left to right.")
@click.option("--shade", type=click.Choice(["macs", "params", "memory"]), default=None, help="Shade nodes by MACs, parameters or activation memory (all copies) instead of colouring by kind.")
@click.option("--batch", "-b", type=Count(min=1), default=1, show_default=True, help="Batch size N (shown first in shapes).")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Bind a name used in the spec (repeatable).")
@click.option("--dtype", type=click.Choice(["float32", "float16", "bfloat16", "int8", "float64"]), default="float32", show_default=True, help="Dtype of activations (for --shade memory).")
@click.option("--quiet", "-q", is_flag=True, help="Do not print warnings.")
def draw(spec: str, output: str, fmt: str | None, depth: int | None, direction: str, shade: str | None, batch: int, sets: tuple[str, ...], dtype: str, quiet: bool) -> None:
    """Draw the network: layers, shapes on the edges, blocks as clusters. SPEC is a file or '-'.

    DOT output needs nothing else; SVG, PNG and PDF need Graphviz's `dot` program.
    """
    from ..errors import NNShapeError
    from ..pictures import PictureError, analyze_for_picture, diagram, format_of
    from ..pictures.dot import DotMissingError

    if output == "-" and fmt is None:
        raise click.UsageError("with -o - (stdout), give the format: --format svg|png|pdf|dot")
    try:
        kind = format_of(output, fmt)
    except PictureError as err:
        raise click.BadParameter(f"{err.message}: name it .svg, .png, .pdf or .dot, or give --format", param_hint="--output") from None
    bindings = bindings_option(sets)
    try:
        source = read_spec(spec)
        summary, plan = analyze_for_picture(source, batch=batch, bindings=bindings, dtype=dtype)
        if not quiet:
            echo_warnings(summary.warnings)
        data = diagram(summary, plan, kind, depth=depth, direction=direction.upper(), shade=shade)
    except DotMissingError as err:
        click.echo(f"nnshape draw: {err.message}; {err.hint}", err=True)
        sys.exit(EXIT_MISSING)
    except NNShapeError as err:
        fail(err)
    if output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    with open(output, "wb") as handle:
        handle.write(data)
    click.echo(f"wrote {one_line(str(output))} ({kind}, {len(data):,} bytes)", err=True)
