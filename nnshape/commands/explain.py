"""`nnshape explain`: every layer's formulas with the actual numbers substituted."""

from __future__ import annotations

import click

from ..cli import Count, bindings_option, echo_warnings, fail, read_spec


@click.command()
@click.argument("spec", metavar="SPEC")
@click.option("--line", "-l", type=Count(min=1), default=None, help="Only the layers written on this line (a block or def call: the layers inside it).")
@click.option("--batch", "-b", type=Count(min=1), default=1, show_default=True, help="Batch size N.")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Bind a name used in the spec (repeatable).")
@click.option("--quiet", "-q", is_flag=True, help="Do not print warnings.")
def explain(spec: str, line: int | None, batch: int, sets: tuple[str, ...], quiet: bool) -> None:
    """Show how each layer's output size, parameters and MACs are obtained. SPEC is a file or '-'."""
    from ..analysis import analyze
    from ..errors import NNShapeError
    from ..parser import parse
    from ..render.explain import explain_text, rows_on_line

    bindings = bindings_option(sets)
    try:
        source = read_spec(spec)
        result = analyze(parse(source), source, batch=batch, bindings=bindings, explain=True)
    except NNShapeError as err:
        fail(err)
    if not quiet:
        echo_warnings(result.warnings)
    rows = rows_on_line(result, line)
    if line is not None and not rows:
        lines = sorted({row.line for row in result.leaves})
        raise click.BadParameter(f"no layer on line {line}; layers are on lines {', '.join(map(str, lines))}", param_hint="--line")
    click.echo(explain_text(result, rows), nl=False)
