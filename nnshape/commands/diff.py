"""`nnshape diff OLD NEW`: what a change did to the network, layer by layer."""

from __future__ import annotations

import os
import sys

import click

from ..cli import Count, EXIT_INVALID, EXIT_MISSING, EXIT_OK, bindings_option, echo_chunks, echo_warnings, fail, read_spec, table_width, width_options


def read_any(spec: str):
    """A file, '-' (stdin) or `git:REV:path` (the blob at that revision)."""
    if not spec.startswith("git:"):
        return read_spec(spec)
    from ..errors import SpecReadError
    from ..source import Source

    rev, sep, path = spec[4:].partition(":")
    if not sep or not rev or not path:
        raise SpecReadError(
            f"cannot read '{spec}': expected git:REV:PATH",
            hint="e.g. git:HEAD:models/net.nn or git:origin/main:./net.nn (PATH as `git show REV:PATH` takes it: "
            "from the repository root, or ./ for the current folder)",
            code="E0001",
        ).with_source(Source(spec, ""))
    if rev.startswith("-"):  # git would read it as an option: `git:--output=FILE:x` wrote FILE
        raise SpecReadError(
            f"cannot read '{spec}': a revision cannot start with '-'",
            expected="a branch, tag or commit such as HEAD, main or a1b2c3d",
            found=f"'{rev}'",
            code="E0001",
        ).with_source(Source(spec, ""))
    return read_git_blob(spec, f"{rev}:{path}")


GIT_TIMEOUT = 60  # seconds for one git command (a lock, or a partial clone fetching the blob)


def read_git_blob(spec: str, obj: str):
    """The blob `obj` (REV:PATH, checked not to start with '-'), read with `git cat-file`: its size
    first, so a blob over the spec limit is refused unread; then at most the limit + 1 bytes."""
    import subprocess
    import threading

    from ..errors import SpecReadError
    from ..limits import MAX_SPEC_BYTES
    from ..source import Source, read_bounded

    def failed(message: str, code: str = "E0001", **extra) -> SpecReadError:
        return SpecReadError(f"cannot read '{spec}': {message}", code=code, **extra).with_source(Source(spec, ""))

    try:
        proc = subprocess.run(["git", "cat-file", "-s", obj], capture_output=True, timeout=GIT_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise failed(f"could not run git ({exc})", hint="is git installed and on PATH?") from None
    size_text = proc.stdout.strip()
    if proc.returncode != 0 or not size_text.isdigit() or len(size_text) > 19:
        reason = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise failed(f"`git cat-file -s {obj}` failed" + (f": {reason[0][:300]}" if reason else f" (status {proc.returncode})"),
                     hint="run it from inside the repository; PATH is from the repository root (or ./PATH for the current folder)")
    size = int(size_text)
    if size > MAX_SPEC_BYTES:
        raise SpecReadError(f"spec is too large ({size:,} bytes)", expected=f"at most {MAX_SPEC_BYTES:,} bytes",
                            found=f"{size:,} bytes", code="E0003").with_source(Source(spec, ""))
    try:
        child = subprocess.Popen(["git", "cat-file", "blob", obj], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    except OSError as exc:
        raise failed(f"could not run git ({exc})") from None
    watchdog = threading.Timer(GIT_TIMEOUT, child.kill)
    watchdog.start()
    try:
        with child.stdout:
            data = read_bounded(child.stdout)
        if len(data) > MAX_SPEC_BYTES:
            child.kill()  # it changed since -s: no need to read the rest
        status = child.wait()
    finally:
        watchdog.cancel()
    if status != 0 and len(data) <= MAX_SPEC_BYTES:
        raise failed(f"`git cat-file blob {obj}` failed (status {status})")
    return Source.from_bytes(spec, data)


@click.command()
@click.argument("old", metavar="OLD", type=click.Path(allow_dash=True))
@click.argument("new", metavar="NEW", type=click.Path(allow_dash=True))
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "json", "markdown", "html"]), default="table", show_default=True, help="markdown suits a pull-request comment; html: both diagrams side by side, one self-contained page (needs Graphviz).")
@click.option("--fail-on-change", is_flag=True, help="Exit 1 when anything changed (layers, shapes, parameters, MACs).")
@click.option("--all", "show_all", is_flag=True, help="List unchanged rows too (JSON always has every row).")
@click.option("--depth", "-d", type=Count(min=0), default=None, help="List rows down to this block depth (0 = top level).")
@click.option("--batch", "-b", type=Count(min=1), default=1, show_default=True, help="Batch size N for both networks.")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Bind a name used in the specs (repeatable).")
@click.option("--quiet", "-q", is_flag=True, help="Do not print warnings; with --fail-on-change, print nothing, only set the status.")
@width_options
def diff(old: str, new: str, fmt: str, fail_on_change: bool, show_all: bool, depth: int | None, batch: int, sets: tuple[str, ...], quiet: bool, width: int | None, wide: bool) -> None:
    """Show what changed from OLD to NEW: added/removed layers, shapes, parameter and MAC deltas.

    OLD and NEW are files, '-' (stdin, for one of them) or git:REV:PATH (e.g. git:HEAD:model.nn).
    """
    from ..analysis import analyze
    from ..compare import compare, to_markdown, to_table
    from ..errors import NNShapeError
    from ..parser import parse

    def analyze_one(source):
        """(Summary, Plan): the plan (the structure) only for html, which draws both networks."""
        if fmt == "html":
            from ..pictures import analyze_for_picture

            return analyze_for_picture(source, batch=batch, bindings=bindings)
        return analyze(parse(source), source, batch=batch, bindings=bindings), None

    if old == "-" and new == "-":
        raise click.UsageError("only one of OLD and NEW can be '-' (stdin)")
    bindings = bindings_option(sets)
    summaries, plans = [], []
    for spec in (old, new):
        try:
            source = read_any(spec)
            summary, plan = analyze_one(source)
        except NNShapeError as err:
            fail(err)
        summaries.append(summary)
        plans.append(plan)
    if not quiet:
        for s in summaries:
            echo_warnings(s.warnings)
    result = compare(*summaries)
    if not (quiet and fail_on_change):
        if fmt == "html":
            _html(result, plans, depth, show_all)
        elif fmt == "json":
            echo_chunks(result.json_chunks())
        elif fmt == "markdown":
            click.echo(to_markdown(result, show_all, depth), nl=False)
        else:
            from ..safetext import styles

            color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
            with styles():  # the colours rich adds to the (already one-line) names and cells
                click.echo(to_table(result, show_all, depth, color=color, width=table_width(width, wide)), nl=False)
    sys.exit(EXIT_INVALID if fail_on_change and result.changed else EXIT_OK)


def _html(result, plans, depth: int | None, show_all: bool) -> None:
    from ..errors import NNShapeError
    from ..pictures.diffreport import diff_html
    from ..pictures.dot import DotMissingError

    try:
        text = diff_html(result, plans[0], plans[1], depth=depth, show_all=show_all)
    except DotMissingError as err:
        click.echo(f"nnshape diff: {err.message}; {err.hint}", err=True)
        sys.exit(EXIT_MISSING)
    except NNShapeError as err:
        fail(err)
    sys.stdout.buffer.write(text.encode("utf-8"))
    sys.stdout.flush()

