"""`nnshape export`: write the spec as a standalone PyTorch module (a .py file); needs no torch."""

from __future__ import annotations

import click

from ..cli import bindings_option, fail, read_spec
from ..safetext import one_line


@click.command()
@click.argument("spec", metavar="SPEC")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default=None, help="Write here (default, or -: stdout).")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Bind a name used in the spec (repeatable).")
@click.option("--class-name", default="Model", show_default=True, help="Name of the generated nn.Module class.")
@click.option(
    "--twins", type=click.Choice(["copy", "import"]), default="copy", show_default=True,
    help="copy: nnshape's own modules are written into the file (it imports only torch); import: the file imports them from nnshape.twins.",
)
def export(spec: str, output: str | None, sets: tuple[str, ...], class_name: str, twins: str) -> None:
    """Write a standalone PyTorch module that builds the network of SPEC."""
    from ..errors import NNShapeError
    from ..verifier import analyze_spec
    from ..verifier.export import class_name_problem, export_source

    problem = class_name_problem(class_name)
    if problem is not None:
        raise click.BadParameter(f"{class_name!r} {problem}", param_hint="--class-name")
    bindings = bindings_option(sets)
    try:
        source = read_spec(spec)
        summary, plan = analyze_spec(source, bindings=bindings)
        text = export_source(summary, plan, class_name=class_name, twins=twins)
    except NNShapeError as err:
        fail(err)
    if output is None or output == "-":  # `-o -` is stdout, as for draw and import
        click.echo(text, nl=False)
    else:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
        click.echo(f"wrote {one_line(str(output))} ({class_name}, {summary.total_params:,} parameters)", err=True)
