"""`nnshape verify`: build the spec as a real PyTorch network and prove every number.

torch is imported only when the command runs (never when this module is imported).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys

import click

from ..cli import Count, EXIT_INVALID, EXIT_NO_TORCH, bindings_option, fail, read_spec
from ..formatting import human_bytes
from ..tensor import VERIFY_DTYPES


@click.command()
@click.argument("spec", metavar="SPEC")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "meta"]), default="auto", show_default=True,
              help="auto: cuda if available, else cpu; meta: shapes, parameters and MACs without memory.")
@click.option("--batch", "-b", type=Count(min=1), default=1, show_default=True, help="Batch size N.")
@click.option("--dtype", type=click.Choice(VERIFY_DTYPES), default=None,
              help="Dtype of the parameters and float inputs (default: as the spec declares its inputs).")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Bind a name used in the spec (repeatable).")
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--train-step", is_flag=True, help="Also run forward, backward and one SGD step; report parameters without gradient and memory.")
@click.option("--dp", type=click.IntRange(min=1), default=None, help="Prove the per-device plan on N CPU processes (torch.distributed, gloo, loopback).")
@click.option("--zero", type=click.IntRange(0, 3), default=None, help="With --dp: ZeRO stage (0 DDP, 1 ZeroRedundancyOptimizer, 2 emulated, 3 FSDP2).")
@click.option("--tp", type=click.IntRange(min=1), default=None, help="Prove tensor parallelism on N CPU processes (torch.distributed.tensor.parallel).")
@click.option("--optimizer", type=click.Choice(["sgd", "momentum", "adam", "adamw"]), default="adam", show_default=True, help="With --dp/--tp: the optimizer of the step.")
@click.option("--force", is_flag=True, help="Build even a network past the module limit or the memory this process can get (refused otherwise, E0508).")
def verify(spec: str, device: str, batch: int, dtype: str | None, sets: tuple[str, ...], fmt: str, train_step: bool,
           dp: int | None, zero: int | None, tp: int | None, optimizer: str, force: bool) -> None:
    """Check every layer's shape, parameters, buffers and MACs against PyTorch. Exit 1 on any mismatch.

    With --dp/--zero/--tp: run one training step on that many CPU processes and compare each
    rank's weights, gradients and optimizer state with the per-device plan (docs/will-it-fit.md)."""
    from ..errors import NNShapeError
    from ..verifier import INSTALL_HINT, TorchMissingError, analyze_spec
    from ..verifier.runner import run

    bindings = bindings_option(sets)
    if dp is not None or zero is not None or tp is not None:
        _distributed(spec, batch, dtype or "float32", bindings, fmt, dp or 1, zero or 0, tp or 1, optimizer)
        return
    try:
        source = read_spec(spec)
        summary, plan = analyze_spec(source, batch=batch, bindings=bindings)
    except NNShapeError as err:
        fail(err)
    if importlib.util.find_spec("torch") is None:
        click.echo(f"nnshape verify needs PyTorch, which is not installed: {INSTALL_HINT}", err=True)
        sys.exit(EXIT_NO_TORCH)
    try:
        with _progress() as progress:
            report = run(summary, plan, device=device, dtype=None if dtype == "float32" else dtype,
                         train_step=train_step, progress=progress, force=force)
    except TorchMissingError as err:
        _torch_missing(err)
    except NNShapeError as err:
        fail(err)
    _show(report, fmt, render_table)


class _progress:
    """A rich progress bar on stderr while building and running, only when stderr is a terminal."""

    def __enter__(self):
        self.bar = None
        if not sys.stderr.isatty() or os.environ.get("TERM") == "dumb":
            return None
        from rich.console import Console
        from rich.progress import Progress

        from ..safetext import raw

        self.bar = Progress(console=Console(file=raw(sys.stderr)), transient=True)  # its own cursor codes, its own words
        self.bar.__enter__()

        def stage(name: str, total: int):
            task = self.bar.add_task(name, total=total)
            return lambda n: self.bar.advance(task, n)

        return stage

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
        return False


def _num(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def _shape(shape) -> str:
    from ..tensor import format_shape

    return "—" if shape is None else format_shape(tuple(shape))


def _cell(check, field: str, fmt) -> str:
    a = fmt(getattr(check.analytic, field))
    if check.torch is None:
        return a
    t = fmt(getattr(check.torch, field))
    return a if field not in check.mismatches else f"{a} ≠ {t}"


def _distributed(spec, batch, dtype, bindings, fmt, dp, zero, tp, optimizer) -> None:
    from ..errors import NNShapeError
    from ..planning import make_parallel
    from ..verifier import INSTALL_HINT, TorchMissingError
    from ..verifier.distributed import run_distributed

    try:
        source = read_spec(spec)
        cfg = make_parallel(dp=dp, zero=zero, tp=tp)
        if importlib.util.find_spec("torch") is None:
            click.echo(f"nnshape verify needs PyTorch, which is not installed: {INSTALL_HINT}", err=True)
            sys.exit(EXIT_NO_TORCH)
        report = run_distributed(source, cfg, batch=batch, bindings=bindings, dtype=dtype, optimizer=optimizer)
    except TorchMissingError as err:
        _torch_missing(err)
    except NNShapeError as err:
        fail(err)
    _show(report, fmt, render_distributed)


def render_distributed(report) -> str:
    """One line per rank: the plan's bytes against what the rank's tensors hold."""
    setup = f"dp {report.dp}, ZeRO-{report.zero}" if report.tp == 1 else f"tp {report.tp}"
    from ..safetext import one_line

    out = [f"nnshape verify: {one_line(report.source)} on {len(report.ranks)} CPU processes ({setup}; torch {report.torch_version}, gloo, "
           f"{report.dtype}, {report.optimizer})", ""]
    header = ("", "rank", "weights", "grads", "optimizer state", "(step scalars)")
    rows = [header]
    for r in report.ranks:
        def cell(k):
            e, m = r.expected[k], r.measured.get(k)
            return f"{human_bytes(e)}" if e == m else f"{human_bytes(e)} ≠ {'—' if m is None else human_bytes(m)}"
        rows.append(("✓" if r.ok else "✗", str(r.rank), cell("weights"), cell("grads"), cell("optimizer"),
                     human_bytes(r.measured["step_bytes"]) if "step_bytes" in r.measured else "—"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        out.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip())
    out.append("")
    for r in report.ranks:
        if r.error:
            out.append(f"✗ rank {r.rank}: {r.error}")
    if report.error:
        out.append(f"✗ torch.distributed failed: {report.error}")
    for note in report.notes:
        out.append(f"  {note}")
    out.append("  buffers are compared apart (never sharded); Adam's step scalars are not part of the plan")
    if report.ok:
        out.append(f"✓ every rank holds exactly the planned weights, gradients and optimizer state ({report.seconds:.1f} s)")
    else:
        bad = sum(not r.ok for r in report.ranks)
        out.append(f"✗ {bad} of {len(report.ranks)} ranks differ from the plan")
    return "\n".join(out) + "\n"


def render_table(report) -> str:
    """Mismatches first, then every row; values that disagree read `analytic ≠ torch`."""
    header = ("", "path", "layer", "output", "params", "buffers", "MACs")
    right = {4, 5, 6}

    def line(check) -> tuple[str, ...]:
        mark = "✓" if check.ok else "✗"
        path = "  " * check.depth + (check.path or "(totals)")  # its own column: labels align
        return (mark, path, check.label, _cell(check, "shape", _shape), _cell(check, "params", _num),
                _cell(check, "buffers", _num), _cell(check, "macs", _num))

    bad = [c for c in report.layers if not c.ok]
    rows = [line(c) for c in bad]
    if bad:
        rows.append(None)
    rows += [line(c) for c in report.layers]
    rows += [None, line(report.totals)] + [line(c) for c in report.outputs]
    cells = [r for r in rows if r is not None]
    widths = [max(len(r[i]) for r in cells + [header]) for i in range(len(header))]

    def fmt(r) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()

    from ..safetext import one_line

    out = [f"nnshape verify: {one_line(report.source)} on {report.device} (torch {report.torch_version}, batch {report.batch}, {report.dtype})", ""]
    out.append(fmt(header))
    out.append("─" * len(fmt(header)))
    for r in rows:
        out.append("" if r is None else fmt(r))
    out.append("")
    for check in bad + ([report.totals] if not report.totals.ok else []) + [c for c in report.outputs if not c.ok]:
        what = ", ".join(check.mismatches)
        detail = f"{check.path or 'totals'} (line {check.line}): " + (check.error or f"{what} differ")
        if check.torch is not None and check.mismatches:
            detail += " — " + "; ".join(
                f"{f}: nnshape {_fmt_any(getattr(check.analytic, f))}, torch {_fmt_any(getattr(check.torch, f))}" for f in check.mismatches
            )
        out.append("✗ " + detail)
    if report.error:
        out.append(f"✗ torch failed: {report.error}")
    step = report.train_step
    if step is not None:
        if step.error:
            out.append(f"✗ train step failed: {step.error}")
        else:
            out.append("train step: forward, backward and SGD step ran")
        if step.no_grad:
            out.append(f"  ! {len(step.no_grad)} trainable parameter(s) got no gradient (a dead branch?): " + ", ".join(step.no_grad[:20])
                       + (" ..." if len(step.no_grad) > 20 else ""))
        if step.peak_memory_bytes is not None:
            out.append(f"  peak memory: {step.peak_memory_bytes / 1e6:,.1f} MB ({step.memory_note})")
        if step.saved_for_backward_bytes is not None:
            analytic = step.analytic_saved_bytes
            estimate = f" (nnshape estimates {human_bytes(analytic)})" if analytic is not None else ""
            weights = step.saved_tensor_bytes - step.saved_for_backward_bytes if step.saved_tensor_bytes is not None else 0
            out.append(f"  activations saved for backward: {human_bytes(step.saved_for_backward_bytes)}{estimate}"
                       + (f", plus {human_bytes(weights)} of parameters" if weights else ""))
        if step.peak_memory_bytes is None:
            out.append(f"  peak memory: {step.memory_note}")
    n = len(report.layers)
    if not report.mismatches and not report.ok:  # every row agrees; the train step (or torch) failed
        out.append(f"✓ all {n} rows and the totals agree with PyTorch; ✗ but the run above failed")
    elif report.ok:
        out.append(f"✓ all {n} rows and the totals agree with PyTorch ({report.seconds:.1f} s)")
    else:
        out.append(f"✗ {len(report.mismatches)} of {n + 1} checks disagree with PyTorch")
    return "\n".join(out) + "\n"


def _fmt_any(value) -> str:
    if isinstance(value, tuple):
        return _shape(value)
    if isinstance(value, (int, float)):
        return _num(value)
    return str(value)


def _torch_missing(err) -> None:
    """torch absent (the install command) or present but unloadable (why): exit 3."""
    from ..verifier import INSTALL_HINT

    click.echo(f"{err.message}: {INSTALL_HINT}" if "not installed" in err.message else f"{err.message}; {err.hint}", err=True)
    sys.exit(EXIT_NO_TORCH)


def _show(report, fmt: str, render) -> None:
    """Print a verify report as JSON or text; exit 1 when it disagrees."""
    if fmt == "json":
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo(render(report), nl=False)
    if not report.ok:
        sys.exit(EXIT_INVALID)
