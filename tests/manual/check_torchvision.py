"""Check the examples that are torchvision models against torchvision's own (not collected
by pytest: torchvision does not install beside the CPU torch of the test environment).

Run it with a Python that has torch and torchvision, from the repository root:

    /path/to/venv/bin/python tests/manual/check_torchvision.py [NAME ...]

It prints, for each model, torchvision's parameters, buffers and FlopCounterMode MACs (batch 1,
math attention kernel, oneDNN off), the summary's, and nnshape verify's result on the same torch.
The numbers of torch 2.14.1 / torchvision 0.29.1 are recorded in docs/conventions.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))


# every example that is a torchvision model: its name there, constructor options, input side
MODELS = {
    "alexnet": ({}, 224), "vgg16": ({}, 224), "googlenet": ({"aux_logits": False, "init_weights": False}, 224),
    "resnet18": ({}, 224), "resnet50": ({}, 224), "mobilenet_v3_large": ({}, 224), "efficientnet_v2_s": ({}, 384),
    "swin_t": ({}, 224), "maxvit_t": ({}, 224), "swin_v2_t": ({}, 224),
}


def torchvision_counts(name: str) -> tuple[int, int, int]:
    import torch
    import torchvision
    from torch.utils.flop_counter import FlopCounterMode

    from oracle import counting_flags

    options, side = MODELS[name]
    model = getattr(torchvision.models, name)(**options).eval()
    with counting_flags(), torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.randn(1, 3, side, side))
    params = sum(p.numel() for p in model.parameters())
    buffers = sum(b.numel() for b in model.buffers())
    return params, buffers, counter.get_total_flops() // 2


def main() -> int:
    import torch
    import torchvision

    import nnshape
    from nnshape.verifier import verify

    print(f"torch {torch.__version__}, torchvision {torchvision.__version__}")
    ok = True
    for name in sys.argv[1:] or MODELS:
        spec = ROOT / "examples" / f"{name}.nn"
        summary = nnshape.summarize(spec)
        mine = (summary.total_params, summary.total_buffers, summary.total_macs)
        theirs = torchvision_counts(name)
        report = verify(str(spec), device="cuda" if torch.cuda.is_available() else "cpu")
        same = mine == theirs
        ok = ok and same and report.ok
        print(f"{name}: torchvision params {theirs[0]:,} buffers {theirs[1]:,} MACs {theirs[2]:,}")
        print(f"{' ' * len(name)}  nnshape     params {mine[0]:,} buffers {mine[1]:,} MACs {mine[2]:,}"
              f"  {'equal' if same else 'DIFFERENT'}; verify {'agrees' if report.ok else 'DISAGREES'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
