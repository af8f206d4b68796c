"""`nnshape import torch` on the torchvision model zoo: which models import exactly.

torchvision cannot be installed beside the CPU torch of the test environment, so this runs in a
separate virtual environment (torch 2.14.1 + torchvision 0.29.1, e.g. /work/venvs/tv) with this
checkout on PYTHONPATH (nnshape's import path needs neither click nor rich):

    PYTHONPATH=. /work/venvs/tv/bin/python benchmarks/import_zoo.py [--only resnet50,vit_b_16] [--json out.json]

Each model is built with random weights on the meta device (no memory, no download), imported
with `nnshape.import_torch` at batch 2 and verified: the spec's parameters, buffers, output shape
and MACs must equal the module's (FlopCounterMode / 2). One child process per model, with a time
limit. The table it prints is the one in docs/importers.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

# (module, name) -> constructor keyword arguments and input shape (per sample)
SPECIAL = {
    "inception_v3": ({"aux_logits": False, "init_weights": False}, (3, 299, 299)),
    "googlenet": ({"aux_logits": False, "init_weights": False}, (3, 224, 224)),
}
VIDEO_SHAPE = {"r3d_18": (3, 16, 112, 112), "mc3_18": (3, 16, 112, 112), "r2plus1d_18": (3, 16, 112, 112),
               "s3d": (3, 16, 224, 224), "mvit_v1_b": (3, 16, 224, 224), "mvit_v2_s": (3, 16, 224, 224),
               "swin3d_t": (3, 16, 224, 224), "swin3d_s": (3, 16, 224, 224), "swin3d_b": (3, 16, 224, 224)}


def models() -> list[tuple[str, str]]:
    import torchvision.models as tvm

    out = [("classification", n) for n in tvm.list_models(module=tvm)]
    out += [("segmentation", n) for n in tvm.list_models(module=tvm.segmentation)]
    out += [("video", n) for n in tvm.list_models(module=tvm.video)]
    return out


def run_one(family: str, name: str) -> dict:
    import torch
    import torchvision.models as tvm

    import nnshape

    kwargs, shape = SPECIAL.get(name, ({}, (3, 224, 224)))
    if family == "video":
        shape = VIDEO_SHAPE.get(name, (3, 16, 112, 112))
    if family == "segmentation":
        kwargs = dict(kwargs, weights_backbone=None)
    start = time.perf_counter()
    try:
        with torch.device("meta"):
            model = tvm.get_model(name, weights=None, **kwargs)
    except NotImplementedError:  # a constructor that computes with tensors (RegNet's widths)
        model = tvm.get_model(name, weights=None, **kwargs).to("meta")
    x = torch.randn(2, *shape, device="meta")
    result = {"family": family, "model": name, "input": "x".join(map(str, shape)),
              "params": sum(p.numel() for p in model.parameters())}
    try:
        text = nnshape.import_torch(model, x, source=f"torchvision.models:{name}")
        summary = nnshape.summarize(text, batch=1)
        result.update(status="exact", macs=summary.total_macs, lines=text.count("\n"))
    except nnshape.NNShapeError as err:
        result.update(status=err.code, reason=err.message[:300])
    result["seconds"] = round(time.perf_counter() - start, 1)
    return result


def markdown(rows: list) -> str:
    """The table of docs/importers.md: exact models grouped per family, the others one per row."""
    out = ["| family | models | result |", "|---|---|---|"]
    for family in ("classification", "segmentation", "video"):
        fam = [r for r in rows if r["family"] == family]
        exact = [r["model"] for r in fam if r["status"] == "exact"]
        if exact:
            out.append(f"| {family} | {', '.join(exact)} | exact ({len(exact)} of {len(fam)}) |")
        for r in fam:
            if r["status"] != "exact":
                why = r.get("reason", r["status"]).replace("|", "\\|")
                out.append(f"| {family} | {r['model']} | not exact: {r['status']} {why} |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", default="")
    parser.add_argument("--json", default=None)
    parser.add_argument("--one", nargs=2, metavar=("FAMILY", "NAME"))
    parser.add_argument("--timeout", type=int, default=900)
    parser.add_argument("--markdown", metavar="JSON", help="print the docs table of a --json result and exit")
    args = parser.parse_args()
    if args.markdown:
        with open(args.markdown) as fh:
            print(markdown(json.load(fh)))
        return
    if args.one:
        print(json.dumps(run_one(*args.one)))
        return
    wanted = {n for n in args.only.split(",") if n}
    rows = []
    for family, name in models():
        if wanted and name not in wanted:
            continue
        try:
            proc = subprocess.run([sys.executable, __file__, "--one", family, name], capture_output=True, text=True,
                                  timeout=args.timeout, env=os.environ)
            line = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
            row = json.loads(line) if line.startswith("{") else {
                "family": family, "model": name, "status": "crash", "reason": proc.stderr.strip().splitlines()[-1][:300] if proc.stderr.strip() else "no output"}
        except subprocess.TimeoutExpired:
            row = {"family": family, "model": name, "status": "timeout"}
        rows.append(row)
        print(f"{family:<15} {name:<28} {row['status']:<8} {row.get('reason', '')[:110]}", flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    exact = sum(r["status"] == "exact" for r in rows)
    print(f"\n{exact} of {len(rows)} import exactly")


if __name__ == "__main__":
    main()
