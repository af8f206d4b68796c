"""The `nnshape` command line. Only this module prints or exits.

Exit statuses (the same for every command): 0 success, 1 the spec is invalid (or a check
failed), 2 usage error, 3 torch is missing (verify), 70 internal error (a bug in nnshape).
"""

from __future__ import annotations

import sys

import click

from . import __version__

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_NO_TORCH, EXIT_INTERNAL = 0, 1, 2, 3, 70


def parse_binding(text: str) -> tuple[str, object]:
    """`NAME=VALUE` with VALUE read by the spec's own expression parser (never Python's eval)."""
    from .errors import NNShapeError
    from .lexer import tokenize
    from .parser import _Stream
    from .source import Source
    from .syntax import Name
    from .values import Evaluator

    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name.isidentifier() or not value.strip():
        raise click.BadParameter(f"expected NAME=VALUE (e.g. L=128), got {text!r}", param_hint="--set")
    source = Source(f"--set {name}", value.strip())
    try:
        lines = tokenize(source)
        if len(lines) != 1:
            raise click.BadParameter(f"{text!r}: the value must be a single expression", param_hint="--set")
        stream = _Stream(list(lines[0].tokens), lines[0])
        expr = stream.free_expr()
        stream.expect_end()
        if isinstance(expr, Name):  # a bare word is a string: --set act=gelu
            return name, expr.name
        return name, Evaluator(lambda n: (_ for _ in ()).throw(KeyError(n)), lambda: []).eval(expr)
    except NNShapeError as err:
        raise click.BadParameter(f"{text!r}: {err.message}", param_hint="--set") from None


def _bindings(values: tuple[str, ...]) -> dict[str, object]:
    return dict(parse_binding(v) for v in values)


def _read_spec(spec: str):
    from .source import Source

    if spec == "-":
        return Source.from_bytes("<stdin>", sys.stdin.buffer.read())
    return Source.from_path(spec)


def _fail(err) -> None:
    click.echo(str(err), err=True)
    sys.exit(EXIT_INVALID)


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", "-V", prog_name="nnshape", message="%(prog)s %(version)s")
def main() -> None:
    """Shapes, parameters, MACs and memory of a neural network, from a textual spec."""


@main.command()
@click.argument("spec", metavar="SPEC")
@click.option("--batch", "-b", type=click.IntRange(min=1), default=1, show_default=True, help="Batch size N (shown first in shapes).")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Bind a name used in the spec (repeatable).")
@click.option("--depth", "-d", type=click.IntRange(min=0), default=None, help="Expand blocks down to this depth (0 = top level); deeper rows fold into their block.")
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "json", "csv", "markdown"]), default="table", show_default=True)
@click.option("--columns", "-c", default="", metavar="LIST", help="Extra columns, comma-separated: input, kernel, params%, macs%, path, line (or 'all').")
@click.option("--dtype", type=click.Choice(["float32", "float16", "bfloat16", "int8", "float64"]), default="float32", show_default=True, help="Dtype for parameter memory.")
@click.option("--quiet", "-q", is_flag=True, help="Do not print warnings.")
def summary(spec: str, batch: int, sets: tuple[str, ...], depth: int | None, fmt: str, columns: str, dtype: str, quiet: bool) -> None:
    """Show every layer's output shape, parameters and MACs. SPEC is a file or '-' for stdin."""
    from .analyzer import analyze
    from .errors import NNShapeError
    from .parser import parse
    from .render import COLUMNS, render

    extra = tuple(c.strip().lower() for c in columns.split(",") if c.strip())
    if extra == ("all",):
        extra = COLUMNS
    unknown = [c for c in extra if c not in COLUMNS]
    if unknown:
        raise click.BadParameter(f"unknown column {unknown[0]!r}; choose from {', '.join(COLUMNS)} or all", param_hint="--columns")
    bindings = _bindings(sets)
    try:
        source = _read_spec(spec)
        result = analyze(parse(source), source, batch=batch, bindings=bindings, dtype=dtype)
    except NNShapeError as err:
        _fail(err)
        return
    if not quiet:
        for warning in result.warnings:
            click.echo(warning.render(), err=True)
    click.echo(render(result, fmt, depth=depth, columns=extra), nl=False)


@main.command()
@click.argument("kind", required=False)
def layers(kind: str | None) -> None:
    """List the layer kinds, or show one kind's arguments, defaults and formulas."""
    from . import registry
    from .registry import format_default
    from .suggest import did_you_mean

    if kind is None:
        by_family: dict[str, list] = {}
        for k in registry.all_kinds():
            by_family.setdefault(k.family, []).append(k)
        for family in sorted(by_family):
            click.echo(f"{family}:")
            for k in by_family[family]:
                names = k.name + (f" ({', '.join(k.aliases)})" if k.aliases else "")
                click.echo(f"  {names:<44} {k.doc}")
        click.echo("\n`nnshape layers KIND` shows a kind's arguments and formulas.")
        return
    found = registry.find(kind)
    if found is None:
        hint = did_you_mean(kind, registry.all_names())
        click.echo(f"nnshape: unknown layer kind '{kind}'" + (f"; {hint}" if hint else ""), err=True)
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


def run() -> None:
    """Entry point that turns unexpected exceptions into a one-line report (never a traceback)."""
    try:
        main(standalone_mode=True)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # pragma: no cover - a bug in nnshape, not in the spec
        click.echo(f"nnshape: internal error ({type(exc).__name__}: {exc}); this is a bug, please report it with the spec", err=True)
        sys.exit(EXIT_INTERNAL)
