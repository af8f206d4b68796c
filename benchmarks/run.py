"""Benchmark nnshape as whole processes (median of several runs, with peak RSS).

Usage: python benchmarks/run.py [--runs 5] [--write]   (--write updates benchmarks/RESULTS.md)

Measured: `nnshape --version`; `summary` of resnet50 (table and json), of generated specs
(10,000 layers; 1 MB as table and json; one block of 100,000 rows), of GPT-3 175B and of a
`repeat 1000000:` transformer; `diff` of two 1 MB specs; two hostile specs that must be refused
quickly (16 MB of layers, long names copied 20,000 times); `verify` of resnet50 on the CPU when
torch is installed; and, when torchinfo and torchvision import, torchinfo's summary of
torchvision's resnet50 in a fresh process, as a ratio to `nnshape summary`.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPECS = Path(__file__).resolve().parent / "specs"
NNSHAPE = [sys.executable, "-m", "nnshape"]

TORCHINFO = """
import torchinfo, torchvision
torchinfo.summary(torchvision.models.resnet50(), (1, 3, 224, 224), verbose=0)
"""

# torch's own work for `verify`: import torch, build the same network, one forward pass, no checks
TORCH_BASELINE = """
import torch
from nnshape.verifier import analyze_spec
from nnshape.verifier.builder import build
from nnshape.verifier.runner import make_inputs
summary, plan = analyze_spec("examples/resnet50.nn")
model = build(summary, plan, device="cpu").model.eval()
with torch.no_grad():
    model(*make_inputs(plan, "cpu", None))
"""


def generated_spec(layers: int, seed: int = 0) -> str:
    """A chain of `layers` random shape-compatible layers (a 10,000-layer spec for the harness)."""
    rng = random.Random(seed)
    lines = ["# generated: a long chain of random layers", "input 64"]
    width = 64
    for _ in range(layers):
        choice = rng.random()
        if choice < 0.4:
            width = rng.choice((32, 64, 96, 128))
            lines.append(f"linear {width}")
        elif choice < 0.6:
            lines.append(rng.choice(("relu", "gelu", "tanh", "silu")))
        elif choice < 0.8:
            lines.append("layernorm")
        else:
            lines.append(f"dropout {rng.choice((0.1, 0.2))}")
    return "\n".join(lines) + "\n"


# As on a user's machine, where pip writes bytecode at install: compiled modules are cached
# (some sandboxes set PYTHONDONTWRITEBYTECODE, which would make every run recompile everything).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def measure(cmd: list[str], runs: int, status: int = 0) -> tuple[float, int] | None:
    """Median wall time (s) and max peak RSS (kB) over `runs` fresh processes, after one
    unmeasured warm-up run; None if one exits with another status than ``status`` (1 for the
    hostile specs that must be refused)."""
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT, env=ENV)
    times, peaks = [], []
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT, env=ENV)
        _, wait_status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(wait_status)
        if proc.returncode != status:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            print(f"  failed ({proc.returncode}): {' '.join(cmd)}\n  {err.strip()[:300]}", file=sys.stderr)
            return None
        times.append(elapsed)
        peaks.append(usage.ru_maxrss)
    return statistics.median(times), max(peaks)


def importable(python: str, *modules: str) -> bool:
    code = "import " + ", ".join(modules)
    return subprocess.run([python, "-c", code], capture_output=True).returncode == 0


def make_specs(folder: Path) -> None:
    """The generated specs the cases read."""
    (folder / "chain_10000.nn").write_text(generated_spec(10_000))
    layers = 10_000
    while len(generated_spec(layers)) < 1_000_000:
        layers += 10_000
    (folder / "chain_1mb.nn").write_text(generated_spec(layers))
    (folder / "chain_1mb_b.nn").write_text(generated_spec(layers, seed=1))
    # the table's tree guides over one block of 100,000 rows
    (folder / "one_block_100000.nn").write_text("input 64\nblock outer:\n    block inner:\n" + "        relu\n" * 100_000)
    # one merge of 60,000 branches (the memory tracker sees 60,000 live tensors at once)
    (folder / "add_60000_branches.nn").write_text("input 8\nadd:\n" + "    branch:\n        relu\n" * 60_000)
    # at the 16 MiB size limit: refused at statement 200,001
    (folder / "chain_16mb.nn").write_text(generated_spec(1_650_000)[: 16 * 1024 * 1024 - 64].rsplit("\n", 1)[0] + "\n")
    # 90 kB whose rows would copy a 50,000-character name 20,000 times: refused by the text bound
    (folder / "long_names.nn").write_text("input 8\ndef f():\n    relu name=" + "n" * 50_000 + "\n" + "f\n" * 20_000)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--make-specs":
        make_specs(Path(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--write", action="store_true", help="write benchmarks/RESULTS.md")
    parser.add_argument("--torchinfo-python", default=sys.executable, help="interpreter with torchinfo and torchvision (a separate virtualenv)")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="nnshape-bench-"))
    # written by a child process: a parent that built 16 MB of text would lend its resident
    # memory to every measured child (a forked child's peak RSS counts the parent's pages)
    subprocess.run([sys.executable, __file__, "--make-specs", str(tmp)], check=True)
    long_spec, megabyte, megabyte_b = tmp / "chain_10000.nn", tmp / "chain_1mb.nn", tmp / "chain_1mb_b.nn"
    one_block, sixteen, long_names = tmp / "one_block_100000.nn", tmp / "chain_16mb.nn", tmp / "long_names.nn"
    wide = tmp / "add_60000_branches.nn"

    cases: list[tuple] = [
        ("python -c pass (interpreter start, baseline)", [sys.executable, "-c", "pass"], "—"),
        ("nnshape --version", NNSHAPE + ["--version"], "< 0.1 s"),
        ("summary resnet50 (table)", NNSHAPE + ["summary", "examples/resnet50.nn"], "< 0.2 s"),
        ("summary resnet50 (json)", NNSHAPE + ["summary", "examples/resnet50.nn", "--format", "json"], "< 0.2 s"),
        ("summary 10,000-layer spec", NNSHAPE + ["summary", str(long_spec), "--format", "json"], "< 1 s"),
        ("summary 1 MB spec (table)", NNSHAPE + ["summary", str(megabyte)], "a few seconds"),
        ("summary 1 MB spec (json)", NNSHAPE + ["summary", str(megabyte), "--format", "json"], "a few seconds"),
        ("summary one block of 100,000 rows (table)", NNSHAPE + ["summary", str(one_block)], "a few seconds"),
        ("summary add: with 60,000 branches (table)", NNSHAPE + ["summary", str(wide)], "a few seconds"),
        ("diff of two 1 MB specs (table)", NNSHAPE + ["diff", str(megabyte), str(megabyte_b)], "bounded"),
        ("summary 16 MB spec (refused: E0507)", NNSHAPE + ["summary", str(sixteen)], "bounded", 1),
        ("summary 90 kB of long names × 20,000 (refused: E0507)", NNSHAPE + ["summary", str(long_names)], "bounded", 1),
        ("summary GPT-3 175B", NNSHAPE + ["summary", str(SPECS / "gpt3_175b.nn")], "< 0.2 s"),
        ("summary repeat 1000000 × encoder", NNSHAPE + ["summary", str(SPECS / "deep_transformer.nn")], "< 0.3 s"),
    ]
    if importable(sys.executable, "torch"):
        cases.append(("verify resnet50 --device cpu", NNSHAPE + ["verify", "examples/resnet50.nn", "--device", "cpu"], "≤ 2× torch"))
        cases.append(("torch: build resnet50 + forward (baseline)", [sys.executable, "-c", TORCH_BASELINE], "reference"))
    has_torchinfo = importable(args.torchinfo_python, "torchinfo", "torchvision")
    if has_torchinfo:
        cases.append(("torchinfo resnet50 (fresh process)", [args.torchinfo_python, "-c", TORCHINFO], "reference"))

    results = []
    for name, cmd, target, *status in cases:
        runs = 3 if ("torch" in name or "verify" in name or "diff" in name) and args.runs > 3 else args.runs
        print(f"{name} ...", file=sys.stderr, flush=True)
        results.append((name, measure(cmd, runs, *status), target))

    lines = [
        "| case | median time | peak RSS | target |",
        "|---|---:|---:|---|",
    ]
    by_name = {}
    for name, result, target in results:
        by_name[name] = result
        if result is None:
            lines.append(f"| {name} | failed | | {target} |")
        else:
            lines.append(f"| {name} | {result[0]:.3f} s | {result[1] / 1024:.0f} MB | {target} |")
    ours, theirs = by_name.get("summary resnet50 (table)"), by_name.get("torchinfo resnet50 (fresh process)")
    if ours and theirs:
        lines.append(f"\ntorchinfo / nnshape on resnet50: **{theirs[0] / ours[0]:.0f}×**")
    verify, baseline = by_name.get("verify resnet50 --device cpu"), by_name.get("torch: build resnet50 + forward (baseline)")
    if verify and baseline:
        lines.append(f"\nverify / torch's own build + forward: **{verify[0] / baseline[0]:.2f}×**")
    elif not has_torchinfo:
        lines.append("\ntorchinfo/torchvision not importable here: no ratio measured.")
    machine = f"{platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs, {args.runs} runs (median)"
    report = "\n".join(lines)
    print(machine)
    print(report)
    if args.write:
        out = Path(__file__).resolve().parent / "RESULTS.md"
        stamp = time.strftime("%Y-%m-%d")
        out.write_text(f"# Benchmark results\n\nMeasured {stamp} on {machine} with `python benchmarks/run.py --runs {args.runs} --write`.\n\n{report}\n")


if __name__ == "__main__":
    main()
