"""`nnshape check`: fail a pipeline when a spec is invalid, its output shape changes or it outgrows its budget."""

from __future__ import annotations

import json
import sys

import click

from ..checking import MEMORY_FIGURES, CheckResult, SpecResult, evaluate  # noqa: F401 (re-exported)
from ..cli import Count, EXIT_INVALID, EXIT_OK, bindings_option, echo_warnings, read_spec
from ..memory import OPTIMIZER_STATES
from ..tensor import MEMORY_DTYPES
from ._planning import planning_options, take

SCHEMA = "nnshape.check/1"


def _count_option(what: str):
    def convert(ctx, param, value):
        from ..budget import BudgetError, make_limit

        if value is None:
            return None
        try:
            return make_limit(what, value, f"--{what}")
        except BudgetError as err:
            raise click.BadParameter(str(err).split(": ", 1)[-1]) from None

    return convert


@click.command()
@click.argument("specs", nargs=-1, metavar="SPEC...", type=click.Path(allow_dash=True))
@click.option("--output", "-o", "output", metavar="SHAPE", help="Expected output shape per sample, batch excluded: 1000, 128x768, '(L, 768)'.")
@click.option("--max-params", callback=_count_option("max-params"), metavar="N", help="Most parameters allowed: 30M, 1.5G, 25000000.")
@click.option("--min-params", callback=_count_option("min-params"), metavar="N", help="Fewest parameters allowed.")
@click.option("--max-macs", callback=_count_option("max-macs"), metavar="N", help="Most MACs allowed (at the chosen batch): 5G.")
@click.option("--max-memory", callback=_count_option("max-memory"), metavar="BYTES", help="Most memory allowed (decimal units): 2GB, 512MB, 1GiB. Compares the training estimate, or the inference peak with --memory-for inference.")
@click.option("--max-device-memory", callback=_count_option("max-device-memory"), metavar="BYTES", help="Most memory allowed on one device of the planned run (--dp/--zero/--tp/--pp/--serve ...; docs/will-it-fit.md): 80GB.")
@click.option("--memory-for", type=click.Choice(["training", "inference"]), default="training", show_default=True, help="Which figure --max-memory limits: training_bytes or inference_peak_bytes.")
@click.option("--optimizer", type=click.Choice(list(OPTIMIZER_STATES)), default="adam", show_default=True, help="Optimizer of the training-memory estimate.")
@click.option("--amp", is_flag=True, help="Mixed precision for the memory estimate.")
@click.option("--dtype", type=click.Choice(MEMORY_DTYPES), default="float32", show_default=True, help="Dtype of parameters and activations for the memory estimate.")
@click.option("--trainable-only/--all-params", default=None, help="Apply the parameter limits to trainable parameters only.")
@click.option("--budget", metavar="FILE", type=click.Path(dir_okay=False), help="TOML budget file: one table of limits per spec path or glob (see docs/ci.md).")
@click.option("--batch", "-b", type=Count(min=1), default=1, show_default=True, help="Batch size N (MACs are counted at this batch).")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Bind a name used in the specs (repeatable).")
@click.option("--format", "-f", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--annotate", type=click.Choice(["github"]), default=None, help="Also print GitHub Actions annotations (::error file=…,line=…::…) on stdout.")
@click.option("--quiet", "-q", is_flag=True, help="Print only failures; no warnings.")
@planning_options
def check(specs, output, max_params, min_params, max_macs, max_memory, max_device_memory, memory_for, optimizer, amp, dtype, trainable_only, budget, batch, sets, fmt, annotate, quiet, **planning) -> None:
    """Check that each SPEC is valid and within its limits; exit 1 if any is not.

    SPEC is a file, a glob, or '-' for stdin. Without SPEC, --budget checks every spec its
    tables name.
    """
    from ..budget import Budget, BudgetError, Limit, Limits, load_budget, make_limit

    if annotate and fmt == "json":
        raise click.UsageError("--annotate github prints on stdout; it cannot be combined with --format json")
    cli_bindings = bindings_option(sets)
    try:
        out_limit = make_limit("output", output, "--output") if output is not None else None
        budget_file: Budget | None = load_budget(budget) if budget else None
    except BudgetError as err:
        raise click.UsageError(str(err)) from None
    flag = Limit(trainable_only, "true" if trainable_only else "false", "--trainable-only" if trainable_only else "--all-params") if trainable_only is not None else None
    cli_limits = Limits(output=out_limit, max_params=max_params, min_params=min_params, max_macs=max_macs, max_memory=max_memory,
                        max_device_memory=max_device_memory, trainable_only=flag)
    cli_plan = {k: v for k, v in take(planning).items() if v is not None and v is not False}
    options = {"memory_for": memory_for, "optimizer": optimizer, "amp": amp, "dtype": dtype}

    from ..globmatch import GlobError
    from ..safetext import one_line

    try:
        names = _expand(specs)
        if not names:
            if budget_file is None:
                raise click.UsageError("give at least one SPEC (a file, a glob or '-'), or --budget FILE to check the specs it names")
            names = budget_file.specs()
            if not names:
                raise click.UsageError(f"the budget file '{one_line(budget)}' names no existing spec; give SPEC arguments")
    except (BudgetError, GlobError) as err:
        raise click.UsageError(str(err)) from None

    results = []
    internal = 0
    for name in names:
        limits, bindings, plan = Limits(), {}, {}
        try:
            if budget_file and name != "-":
                limits, bindings, _ = budget_file.for_spec(name)
                plan = budget_file.plan_for(name)
            bindings.update(cli_bindings)
            plan.update(cli_plan)
            result = check_spec(name, limits.merged(cli_limits), batch, bindings, plan=plan, **options)
        except BudgetError as err:
            raise click.UsageError(str(err)) from None
        except Exception as exc:  # noqa: BLE001 - a bug in nnshape: report it, check the other specs, exit 70 at the end
            internal += 1
            click.echo(f"nnshape: internal error while checking {one_line(name)} ({type(exc).__name__}: {exc}); "
                       "this is a bug, please report it with the spec", err=True)
            continue
        results.append(result)
        _report(result, fmt, annotate, quiet)

    failed = sum(not r.ok for r in results) + internal
    if fmt == "json":
        data = {"schema": SCHEMA, "ok": not failed, "specs": len(results), "failed": failed, "results": [r.to_dict() for r in results]}
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    elif not quiet or failed:
        click.echo(f"{failed} of {len(results)} spec{'s' if len(results) != 1 else ''} failed" if failed else f"all {len(results)} spec{'s' if len(results) != 1 else ''} passed")
    if internal:
        from ..cli import EXIT_INTERNAL

        sys.exit(EXIT_INTERNAL)
    sys.exit(EXIT_INVALID if failed else EXIT_OK)


def _expand(specs: tuple[str, ...]) -> list[str]:
    """Globs the shell did not expand (Windows, quoted patterns); a pattern that matches nothing
    stays, to fail as unreadable. Matched by nnshape.globmatch: links to folders are not followed
    (Python's glob('**') followed symlink loops without end), and the work is bounded."""
    import os

    from ..globmatch import Meter, walk

    meter = Meter()
    out: list[str] = []
    for spec in specs:
        if spec != "-" and any(ch in spec for ch in "*?[") and not os.path.lexists(spec):
            matches = walk(spec, ".", meter)
            out.extend(m for m in matches if m not in out)
            if matches:
                continue
        if spec not in out:
            out.append(spec)
    return out


def check_spec(name: str, limits, batch: int, bindings: dict, *, memory_for: str = "training", optimizer: str = "adam",
               amp: bool = False, dtype: str = "float32", plan: dict | None = None) -> SpecResult:
    """Analyze one spec and test every limit; a spec error is a failed result, never an exception.
    ``plan``: planning options (docs/will-it-fit.md); with them or a max-device-memory limit the
    per-device plan is made."""
    from ..analysis import analyze
    from ..errors import NNShapeError
    from ..parser import parse

    result = SpecResult(name)
    try:
        cfg = None
        if plan or limits.max_device_memory is not None:
            from ..planning import make_parallel

            try:
                cfg = make_parallel(**(plan or {}))
            except NNShapeError as err:
                from ..budget import BudgetError

                raise BudgetError(f"{name}: planning options: {err.message}" + (f" ({err.found})" if err.found else "")) from None
        source = read_spec(name)
        result.summary = analyze(parse(source), source, batch=batch, bindings=bindings, dtype=dtype, optimizer=optimizer, amp=amp)
        if cfg is not None:
            from dataclasses import replace

            from ..planning import plan_source

            device = plan_source(source, cfg, batch=batch, bindings=bindings, dtype=dtype, optimizer=optimizer, amp=amp)
            result.summary = replace(result.summary, device_plan=device)
    except NNShapeError as err:
        result.errors = [err.diagnostic] + [o.diagnostic for o in err.others]
        return result
    result.checks = evaluate(name, result.summary, limits, bindings, memory_for)
    return result


def _report(result: SpecResult, fmt: str, annotate: str | None, quiet: bool) -> None:
    """Diagnostics on stderr; the verdict (text mode) and annotations on stdout. Spec names and
    messages quote file names: each printed line is made one line (safetext.one_line)."""
    from .. import annotate as gh
    from ..formatting import count
    from ..safetext import one_line
    from ..tensor import format_shape

    s = result.summary
    echo_warnings(result.errors)
    if s is not None and not quiet:
        echo_warnings(s.warnings)
    if annotate == "github":
        for diag in result.errors:
            click.echo(gh.diagnostic(diag, result.spec if result.spec != "-" else None))
        if s is not None and not quiet:
            for warning in s.warnings:
                click.echo(gh.diagnostic(warning, result.spec if result.spec != "-" else None))
        for c in result.checks:
            if not c.ok:
                click.echo(gh.github("error", c.message, file=result.spec if result.spec != "-" else None, line=c.line, title=f"nnshape check {c.limit}"))
    if fmt != "text":
        return
    spec = one_line(result.spec)
    for diag in result.errors:
        where = f"{diag.line}:{diag.col}" if diag.line else "-"
        click.echo(f"FAIL {spec}: invalid spec: error[{diag.code}] at {where}: {one_line(diag.message)}")
    for c in result.checks:
        if not c.ok:
            click.echo(f"FAIL {one_line(c.message)}")
    if result.ok and not quiet:
        facts = f"output {format_shape(s.output_shape)}, params {count(s.total_params)}, MACs {count(s.total_macs)}"
        passed = f"; {len(result.checks)} limit{'s' if len(result.checks) != 1 else ''} met" if result.checks else ""
        click.echo(f"ok   {spec}: {facts}{passed}")
