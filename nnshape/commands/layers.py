"""`nnshape layers [KIND]`: the layer catalogue."""

from __future__ import annotations

import sys

import click

from ..cli import EXIT_INVALID
from ..safetext import one_line


@click.command()
@click.argument("kind", required=False)
@click.option("--conventions", is_flag=True, help="How shapes, parameters, MACs, FLOPs and memory are counted.")
def layers(kind: str | None, conventions: bool) -> None:
    """List the layer kinds, or show one kind's arguments, defaults and formulas."""
    from .. import registry
    from ..registry import format_default

    if conventions:
        from ..render.cells import conventions_text

        click.echo(conventions_text(), nl=False)
        return
    if kind is None:
        by_family: dict[str, list] = {}
        for k in registry.all_kinds():
            by_family.setdefault(k.family, []).append(k)
        for family in sorted(by_family):
            click.echo(f"{family}:")
            for k in by_family[family]:
                names = k.name + (f" ({', '.join(k.aliases)})" if k.aliases else "")
                if len(names) > 40:  # long alias lists: the doc goes on its own line
                    click.echo(f"  {names}\n  {'':<40}   {k.doc}")
                else:
                    click.echo(f"  {names:<40}   {k.doc}")
        click.echo("\n`nnshape layers KIND` shows a kind's arguments and formulas.")
        return
    found = registry.find(kind)
    if found is None:
        hint = registry.kind_hint(kind)
        click.echo(f"nnshape: unknown layer kind '{one_line(kind)}'" + (f"; {hint}" if hint else ""), err=True)
        sys.exit(EXIT_INVALID)
    k = found
    click.echo(f"{k.name} — {k.doc}")
    if k.aliases:
        click.echo(f"aliases: {', '.join(k.aliases)}")
    click.echo(f"PyTorch twin: {k.torch_twin}")
    click.echo("\narguments:")
    for arg in k.args:
        keys = arg.name + (f" ({', '.join(arg.aliases)})" if arg.aliases else "")
        where = "positional or key" if arg.positional else "key"
        keys = keys if len(keys) <= 34 else keys + "\n" + " " * 36
        click.echo(f"  {keys:<34} {arg.type:<8} {format_default(arg):<10} {where}" + (f" — {arg.doc}" if arg.doc else ""))
    click.echo("  name, trainable                    (every layer) row name; trainable=false freezes its parameters")
    click.echo("\nformulas:")
    for line in k.formulas:
        click.echo(f"  {line}")
    if k.examples:
        click.echo("\nexamples:")
        for ex in k.examples:
            first = ex if "\n" not in ex else ex.strip().splitlines()[-1]
            click.echo(f"  {first.split('|', 1)[-1].strip() if '|' in first and chr(10) not in ex else first}")
