"""The `nnshape` command line. Only this module prints or exits.

Exit statuses (the same for every command): 0 success, 1 the spec is invalid (or a check
failed), 2 usage error, 3 an optional dependency is missing (torch for verify and export,
Graphviz's `dot` for draw and report, plotly for report), 70 internal error (a bug in nnshape).
"""

from __future__ import annotations

import sys
import warnings

import click

from . import __version__

EXIT_OK, EXIT_INVALID, EXIT_USAGE, EXIT_NO_TORCH, EXIT_INTERNAL = 0, 1, 2, 3, 70
EXIT_MISSING = EXIT_NO_TORCH  # any optional dependency: torch, Graphviz's dot, plotly


def parse_binding(text: str) -> tuple[str, object]:
    """`NAME=VALUE` with VALUE read by the spec's own expression parser (never Python's eval)."""
    from .errors import NNShapeError
    from .parser import parse_expression
    from .source import Source
    from .syntax import Name
    from .values import Evaluator

    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name.isidentifier() or not value.strip():
        raise click.BadParameter(f"expected NAME=VALUE (e.g. L=128), got {text!r}", param_hint="--set")
    source = Source(f"--set {name}", value.strip())
    try:
        expr = parse_expression(source)
        if expr is None:
            raise click.BadParameter(f"{text!r}: the value must be a single expression", param_hint="--set")
        if isinstance(expr, Name):  # a bare word is a string: --set act=gelu
            return name, expr.name
        return name, Evaluator(lambda n: (_ for _ in ()).throw(KeyError(n)), lambda: []).eval(expr)
    except NNShapeError as err:
        raise click.BadParameter(f"{text!r}: {err.message}", param_hint="--set") from None


def bindings_option(values: tuple[str, ...]) -> dict[str, object]:
    return dict(parse_binding(v) for v in values)


def read_spec(spec: str):
    """A spec file, or '-' for standard input (read up to the size limit, never further)."""
    from .errors import SpecReadError
    from .source import Source, read_bounded

    if spec == "-":
        stream = getattr(sys.stdin, "buffer", None)
        try:
            if stream is None:
                raise OSError("standard input is closed")
            data = read_bounded(stream)
        except OSError as exc:
            raise SpecReadError(
                f"cannot read the spec from standard input: {exc.strerror or exc}",
                hint="pipe the spec in (`cat net.nn | nnshape summary -`) or give its path",
                code="E0001",
            ).with_source(Source("<stdin>", "")) from None
        return Source.from_bytes("<stdin>", data)
    return Source.from_path(spec)


def echo_chunks(chunks, block: int = 1 << 16, *, styled: bool = False) -> None:
    """Print text that comes in many pieces (a JSON row each), in blocks of about ``block``
    characters: the whole text is never held, and click.echo runs a few hundred times, not
    once per row. ``styled``: the text may hold rich's colours (a table on a terminal)."""
    import contextlib

    from .safetext import styles

    pending: list[str] = []
    size = 0
    with styles() if styled else contextlib.nullcontext():
        for chunk in chunks:
            pending.append(chunk)
            size += len(chunk)
            if size >= block:
                click.echo("".join(pending), nl=False)
                pending, size = [], 0
        click.echo("".join(pending), nl=False)


class Count(click.ParamType):
    """A whole number written in ASCII digits, ``min`` ≤ n ≤ 2⁶³ − 1 (click's INT takes any
    Unicode digit and any size: ``--batch ٣`` or 5,000 digits)."""

    name = "integer"

    def __init__(self, min: int = 0):
        self.min = min

    def convert(self, value, param, ctx):
        from .limits import MAX_INT

        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            text = str(value).strip().replace("_", "")
            if not text.isascii() or not text.isdigit() or len(text) > 19:
                self.fail(f"{value!r} is not a whole number of at most 19 digits", param, ctx)
            number = int(text)
        if not self.min <= number <= MAX_INT:
            self.fail(f"{number} is not in the range {self.min} to {MAX_INT:,}", param, ctx)
        return number


def width_options(command):
    """`--width N` and `--wide`: how wide a table may be (default: the terminal's width; a pipe or
    a file gets whole lines)."""
    command = click.option("--wide", is_flag=True, help="Never shorten labels or leave out columns, whatever the terminal's width.")(command)
    return click.option("--width", type=Count(min=40), default=None, metavar="N", help="Fit the table to N columns (default: the terminal's width).")(command)


def table_width(width: int | None, wide: bool) -> int | None:
    """The width a table must fit: --wide none, --width N, else the terminal's (None in a pipe)."""
    if wide:
        return None
    if width is not None:
        return width
    from .render.table import terminal_width

    return terminal_width()


def fail(err) -> None:
    """Report a spec error on stderr and exit with status 1."""
    echo_diagnostics([str(err)])
    sys.exit(EXIT_INVALID)


def echo_warnings(warnings) -> None:
    """Print warnings (Diagnostics) on stderr."""
    echo_diagnostics([w.render() for w in warnings])


def echo_diagnostics(texts: list[str]) -> None:
    """Rendered errors or warnings on stderr, coloured like the tables when stderr is a terminal."""
    if not texts:
        return
    from .safetext import styles
    from .terminal import color_diagnostics, stderr_wants_color

    color = stderr_wants_color()
    for text in texts:  # color=True: click would strip the codes when FORCE_COLOR colours a pipe
        if color:
            with styles():  # rich's colours around text whose pieces are already escaped (safetext)
                click.echo(color_diagnostics(text), err=True, color=True)
        else:
            click.echo(text, err=True)


class LazyGroup(click.Group):
    """Commands live in nnshape/commands/NAME.py (a click command named NAME), imported on use,
    so `nnshape --version` and `nnshape summary` load only what they need."""

    def list_commands(self, ctx):
        from importlib.resources import files

        names = [p.name[:-3] for p in files("nnshape.commands").iterdir() if p.name.endswith(".py") and not p.name.startswith("_")]
        return sorted(name.rstrip("_") for name in names)  # import_.py holds `import` (a Python keyword)

    def get_command(self, ctx, name):
        import importlib

        if not name.isidentifier() or name.startswith("_"):
            return None
        name = {"import": "import_"}.get(name, name)
        module_name = f"nnshape.commands.{name}"
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise  # the command exists but needs a module that is missing: not "no such command"
            return None
        return getattr(module, name, None)

    def resolve_command(self, ctx, args):
        """As click's, with a did-you-mean for a misspelt command (`nnshape sumary`)."""
        name = args[0] if args else ""
        if args and not name.startswith("-") and self.get_command(ctx, name) is None:
            import difflib

            from .terminal import printable

            commands = self.list_commands(ctx)
            close = difflib.get_close_matches(name.lower(), commands, n=1, cutoff=0.6)
            hint = f" Did you mean '{close[0]}'?" if close else f" Commands: {', '.join(commands)}."
            ctx.fail(f"No such command '{printable(name)}'.{hint}")
        return super().resolve_command(ctx, args)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, "--version", "-V", prog_name="nnshape", message="%(prog)s %(version)s")
@click.pass_context
def main(ctx) -> None:
    """Shapes, parameters, MACs and memory of a neural network, from a textual spec."""
    from . import safetext

    before = safetext.install()  # (again, for callers of main() that did not come through run())
    ctx.call_on_close(lambda: safetext.restore(before))


def run() -> None:
    """Entry point that turns unexpected exceptions into a one-line report (never a traceback).
    The cyclic GC is paused for the whole command (nnshape/gcpause.py). Everything printed goes
    through :class:`~nnshape.safetext.SafeStream`: no raw control character."""
    from . import safetext
    from .gcpause import paused_gc
    from .terminal import install_fallback

    install_fallback()  # a console without `×` or `│` shows `x` and `|` instead of failing
    # torch warns at import when NumPy is missing; nnshape never hands torch a NumPy array
    warnings.filterwarnings("ignore", message="Failed to initialize NumPy", category=UserWarning)
    safetext.install()  # after the fallback: it wraps the streams install_fallback reconfigured
    try:
        with paused_gc():
            main(standalone_mode=True)
    except SystemExit:
        raise
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:  # pragma: no cover - a bug in nnshape, not in the spec
        click.echo(f"nnshape: internal error ({type(exc).__name__}: {exc}); this is a bug, please report it with the spec", err=True)
        sys.exit(EXIT_INTERNAL)
