"""`nnshape export`: write the spec as a standalone PyTorch module (a .py file that imports only torch)."""

from __future__ import annotations

import importlib.util
import keyword
import sys

import click

from ..cli import EXIT_NO_TORCH, bindings_option, fail, read_spec


@click.command()
@click.argument("spec", metavar="SPEC")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), default=None, help="Write here (default: stdout).")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Bind a name used in the spec (repeatable).")
@click.option("--class-name", default="Model", show_default=True, help="Name of the generated nn.Module class.")
def export(spec: str, output: str | None, sets: tuple[str, ...], class_name: str) -> None:
    """Write a standalone PyTorch module that builds the network of SPEC."""
    from ..errors import NNShapeError
    from ..verifier import INSTALL_HINT, analyze_spec
    from ..verifier.export import TAKEN_NAMES  # importing it loads no torch

    if not class_name.isidentifier() or keyword.iskeyword(class_name):
        raise click.BadParameter("must be a Python identifier", param_hint="--class-name")
    if class_name in TAKEN_NAMES:
        raise click.BadParameter(f"{class_name!r} is a name the exported file already defines", param_hint="--class-name")
    bindings = bindings_option(sets)
    try:
        source = read_spec(spec)
        summary, plan = analyze_spec(source, bindings=bindings)
    except NNShapeError as err:
        fail(err)
    if importlib.util.find_spec("torch") is None:
        click.echo(f"nnshape export needs PyTorch, which is not installed: {INSTALL_HINT}", err=True)
        sys.exit(EXIT_NO_TORCH)
    from ..verifier.export import export_source

    try:
        text = export_source(summary, plan, class_name=class_name)
    except NNShapeError as err:
        fail(err)
    if output is None:
        click.echo(text, nl=False)
    else:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
        click.echo(f"wrote {output} ({class_name}, {summary.total_params:,} parameters)", err=True)
