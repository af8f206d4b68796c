"""`nnshape verify`: build the spec as a real PyTorch network and prove every number.

torch is imported only when the command runs (never when this module is imported).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys

import click

from ..cli import EXIT_INVALID, EXIT_NO_TORCH, bindings_option, fail, read_spec
from ..formatting import human_bytes
from ..tensor import VERIFY_DTYPES


@click.command()
@click.argument("spec", metavar="SPEC")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "meta"]), default="auto", show_default=True,
              help="auto: cuda if available, else cpu; meta: shapes, parameters and MACs without memory.")
@click.option("--batch", "-b", type=click.IntRange(min=1), default=1, show_default=True, help="Batch size N.")
@click.option("--dtype", type=click.Choice(VERIFY_DTYPES), default=None,
              help="Dtype of the parameters and float inputs (default: as the spec declares its inputs).")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Bind a name used in the spec (repeatable).")
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--train-step", is_flag=True, help="Also run forward, backward and one SGD step; report parameters without gradient and memory.")
def verify(spec: str, device: str, batch: int, dtype: str | None, sets: tuple[str, ...], fmt: str, train_step: bool) -> None:
    """Check every layer's shape, parameters, buffers and MACs against PyTorch. Exit 1 on any mismatch."""
    from ..errors import NNShapeError
    from ..verifier import INSTALL_HINT, TorchMissingError, analyze_spec
    from ..verifier.runner import run

    bindings = bindings_option(sets)
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
                         train_step=train_step, progress=progress)
    except TorchMissingError as err:
        click.echo(f"{err.message}: {INSTALL_HINT}", err=True)
        sys.exit(EXIT_NO_TORCH)
    except NNShapeError as err:
        fail(err)
    if fmt == "json":
        click.echo(json.dumps(report.to_dict(), indent=2))
    else:
        click.echo(render_table(report), nl=False)
    if not report.ok:
        sys.exit(EXIT_INVALID)


class _progress:
    """A rich progress bar on stderr while building and running, only when stderr is a terminal."""

    def __enter__(self):
        self.bar = None
        if not sys.stderr.isatty() or os.environ.get("TERM") == "dumb":
            return None
        from rich.console import Console
        from rich.progress import Progress

        self.bar = Progress(console=Console(stderr=True), transient=True)
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
    rows += [None, line(report.totals)]
    cells = [r for r in rows if r is not None]
    widths = [max(len(r[i]) for r in cells + [header]) for i in range(len(header))]

    def fmt(r) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()

    out = [f"nnshape verify: {report.source} on {report.device} (torch {report.torch_version}, batch {report.batch}, {report.dtype})", ""]
    out.append(fmt(header))
    out.append("─" * len(fmt(header)))
    for r in rows:
        out.append("" if r is None else fmt(r))
    out.append("")
    for check in bad + ([report.totals] if not report.totals.ok else []):
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
