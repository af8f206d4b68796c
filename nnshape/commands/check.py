"""`nnshape check`: fail a pipeline when a spec is invalid, its output shape changes or it outgrows its budget."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field

import click

from ..cli import Count, EXIT_INVALID, EXIT_OK, bindings_option, echo_warnings, read_spec
from ..memory import OPTIMIZER_STATES
from ..tensor import MEMORY_DTYPES
from ._planning import planning_options, take

SCHEMA = "nnshape.check/1"
MEMORY_FIGURES = {"training": "training memory", "inference": "inference peak memory"}


@dataclass
class CheckResult:
    limit: str  # "output", "max-params", "min-params", "max-macs"
    ok: bool
    expected: object  # the limit's value (a shape for output)
    actual: object
    text: str  # the limit as written
    origin: str  # "--max-params" or 'nnshape.toml ["models/*.nn"]'
    message: str
    line: int | None = None

    def to_dict(self) -> dict:
        from ..symbolic import to_json

        def plain(v):
            return [to_json(d) for d in v] if isinstance(v, tuple) else to_json(v)

        return {
            "limit": self.limit, "ok": self.ok, "expected": plain(self.expected), "actual": plain(self.actual),
            "limit_text": self.text, "origin": self.origin, "message": self.message,
        }


@dataclass
class SpecResult:
    spec: str
    summary: object = None
    errors: list = field(default_factory=list)  # Diagnostics
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and all(c.ok for c in self.checks)

    def to_dict(self) -> dict:
        from ..symbolic import to_json

        s = self.summary
        return {
            "spec": self.spec,
            "ok": self.ok,
            "valid": not self.errors,
            "errors": [d.to_dict() for d in self.errors],
            "warnings": [w.to_dict() for w in (s.warnings if s else ())],
            "output_shape": [to_json(d) for d in s.output_shape] if s else None,
            "total_params": to_json(s.total_params) if s else None,
            "trainable_params": to_json(s.trainable_params) if s else None,
            "total_macs": to_json(s.total_macs) if s else None,
            "checks": [c.to_dict() for c in self.checks],
        }


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

    names = _expand(specs)
    if not names:
        if budget_file is None:
            raise click.UsageError("give at least one SPEC (a file, a glob or '-'), or --budget FILE to check the specs it names")
        names = budget_file.specs()
        if not names:
            raise click.UsageError(f"the budget file '{budget}' names no existing spec; give SPEC arguments")

    results = []
    for name in names:
        limits, bindings, plan = Limits(), {}, {}
        if budget_file and name != "-":
            limits, bindings, _ = budget_file.for_spec(name)
            plan = budget_file.plan_for(name)
        bindings.update(cli_bindings)
        plan.update(cli_plan)
        try:
            result = check_spec(name, limits.merged(cli_limits), batch, bindings, plan=plan, **options)
        except BudgetError as err:
            raise click.UsageError(str(err)) from None
        results.append(result)
        _report(result, fmt, annotate, quiet)

    failed = sum(not r.ok for r in results)
    if fmt == "json":
        data = {"schema": SCHEMA, "ok": not failed, "specs": len(results), "failed": failed, "results": [r.to_dict() for r in results]}
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    elif not quiet or failed:
        click.echo(f"{failed} of {len(results)} spec{'s' if len(results) != 1 else ''} failed" if failed else f"all {len(results)} spec{'s' if len(results) != 1 else ''} passed")
    sys.exit(EXIT_INVALID if failed else EXIT_OK)


def _expand(specs: tuple[str, ...]) -> list[str]:
    """Globs the shell did not expand (Windows, quoted patterns); a pattern that matches nothing stays, to fail as unreadable."""
    import glob
    from pathlib import Path

    out: list[str] = []
    for spec in specs:
        if spec != "-" and any(ch in spec for ch in "*?[") and not Path(spec).exists():
            matches = sorted(p for p in glob.glob(spec, recursive=True) if Path(p).is_file())
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


def evaluate(name: str, s, limits, bindings: dict, memory_for: str = "training") -> list[CheckResult]:
    from ..budget import parse_shape
    from ..formatting import count, human, human_bytes
    from ..symbolic import Poly
    from ..tensor import format_shape

    checks: list[CheckResult] = []
    if limits.output is not None:
        lim = limits.output
        expected = parse_shape(lim.value, bindings, what=f"output ({lim.origin})")
        actual = tuple(s.output_shape[1:])
        ok = len(expected) == len(actual) and all(type(a) is type(e) and a == e for a, e in zip(actual, expected))
        line = next((row.line for row in reversed(s.layers) if row.depth == 0), None)
        message = (
            f"{name}: output shape {format_shape(actual)} (per sample, batch excluded) "
            + (f"matches {lim.origin} {format_shape(expected)}" if ok else f"differs from the expected {format_shape(expected)} ({lim.origin} {lim.text})")
        )
        checks.append(CheckResult("output", ok, expected, actual, lim.text, lim.origin, message, line))
    trainable = bool(limits.trainable_only and limits.trainable_only.value)
    params = s.trainable_params if trainable else s.total_params
    what = "trainable params" if trainable else "params"
    for key, lim, actual, label, is_max in (
        ("max-params", limits.max_params, params, what, True),
        ("min-params", limits.min_params, params, what, False),
        ("max-macs", limits.max_macs, s.total_macs, f"MACs (batch {s.batch})", True),
    ):
        if lim is None:
            continue
        limit_text = f"{count(lim.value)}" + (f" ({lim.text})" if lim.text.replace(",", "").replace("_", "") != str(lim.value) else "")
        if isinstance(actual, Poly):
            ok = False
            message = (
                f"{name}: {key} cannot be checked: {label} is {count(actual)}, which depends on "
                f"{', '.join(actual.symbols)}; limit {limit_text} from {lim.origin}; bind the names with --set or `set` in the budget file"
            )
        else:
            ok = actual <= lim.value if is_max else actual >= lim.value
            human_actual = f" ({human(actual)})" if actual >= 1000 else ""
            if ok:
                message = f"{name}: {label} {count(actual)}{human_actual} {'≤' if is_max else '≥'} {key} {limit_text} from {lim.origin}"
            else:
                verb = "exceeds" if is_max else "is below"
                message = f"{name}: {label} {count(actual)}{human_actual} {verb} the limit {key} {limit_text} from {lim.origin}"
        checks.append(CheckResult(key, ok, lim.value, actual, lim.text, lim.origin, message))
    if limits.max_memory is not None and s.memory is not None:
        lim = limits.max_memory
        m = s.memory
        actual = m.training_bytes if memory_for == "training" else m.inference_peak_bytes
        label = f"{MEMORY_FIGURES[memory_for]} (batch {s.batch}, {m.dtype}" + (f", {m.optimizer}" if memory_for == "training" else "") + (", amp" if m.amp else "") + ")"
        limit_text = human_bytes(lim.value) + (f" ({lim.text})" if lim.text.strip() != human_bytes(lim.value) else "")
        if actual is None or isinstance(actual, Poly):
            symbols = ", ".join(actual.symbols) if isinstance(actual, Poly) else "a symbolic size"
            actual = actual if actual is not None else "symbolic"
            ok = False
            message = (f"{name}: max-memory cannot be checked: {label} depends on {symbols}; limit {limit_text} from {lim.origin}; "
                       "bind the names with --set or `set` in the budget file")
        else:
            ok = actual <= lim.value
            if ok:
                message = f"{name}: {label} {human_bytes(actual)} ≤ max-memory {limit_text} from {lim.origin}"
            else:
                message = f"{name}: {label} {human_bytes(actual)} exceeds the limit max-memory {limit_text} from {lim.origin}"
        checks.append(CheckResult("max-memory", ok, lim.value, actual, lim.text, lim.origin, message))
    plan = getattr(s, "device_plan", None)
    if limits.max_device_memory is not None and plan is not None:
        lim = limits.max_device_memory
        actual = plan.total
        c = plan.config
        setup = f"dp {c.dp}, ZeRO-{c.zero}, tp {c.tp}, pp {c.pp}" + (", serving" if c.serve else f", micro-batch {plan.batch}")
        label = f"per-device memory ({setup}, {s.memory.dtype})"
        limit_text = human_bytes(lim.value) + (f" ({lim.text})" if lim.text.strip() != human_bytes(lim.value) else "")
        ok = actual <= lim.value
        verb = "≤ max-device-memory" if ok else "exceeds the limit max-device-memory"
        message = f"{name}: {label} {human_bytes(actual)} {verb} {limit_text} from {lim.origin}"
        checks.append(CheckResult("max-device-memory", ok, lim.value, actual, lim.text, lim.origin, message))
    return checks


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
