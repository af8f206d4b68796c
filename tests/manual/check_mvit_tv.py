"""poolattention against torchvision's own MultiscaleAttention (not collected by pytest:
torchvision does not install beside the CPU torch of the test environment).

    PYTHONPATH=. /path/to/venv/bin/python tests/manual/check_mvit_tv.py

For block settings of mvit_v1_b and mvit_v2_s on small grids (and one at the real first-block
grid of 8×56×56): torchvision's module and nnshape's twin with its weights copied give the same
output; the parameters, FlopCounterMode MACs and the bytes of the tensors saved for backward
(saved_tensors_hooks, weights aside) equal the spec's row.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import torch  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402
from torchvision.models.video.mvit import MultiscaleAttention  # noqa: E402

from oracle import analyze_with_calls  # noqa: E402
from mvit_nets import copy_weights, spec_line  # noqa: E402

V1 = {"residual_pool": False, "residual_with_cls_embed": False, "rel_pos_embed": False}
V2 = {"residual_pool": True, "residual_with_cls_embed": False, "rel_pos_embed": True}
# (name, thw, dim, dim_out, heads, kernel_q, kernel_kv, stride_q, stride_kv, flags)
SETTINGS = [
    ("v1 block 0", (4, 16, 16), 16, 16, 1, [], [3, 3, 3], [], [1, 8, 8], V1),
    ("v1 block 1", (4, 16, 16), 32, 32, 2, [3, 3, 3], [3, 3, 3], [1, 2, 2], [1, 4, 4], V1),
    ("v1 block 14", (4, 4, 4), 32, 32, 4, [3, 3, 3], [3, 3, 3], [1, 2, 2], [1, 1, 1], V1),
    ("v2 block 0", (4, 16, 16), 16, 16, 1, [3, 3, 3], [3, 3, 3], [1, 1, 1], [1, 8, 8], V2),
    ("v2 block 1", (4, 16, 16), 16, 32, 2, [3, 3, 3], [3, 3, 3], [1, 2, 2], [1, 4, 4], V2),
    ("v2 odd grid", (3, 5, 7), 12, 24, 3, [3, 3, 3], [3, 3, 3], [1, 2, 2], [1, 2, 3], V2),
    ("v2 block 0, full size", (8, 56, 56), 96, 96, 1, [3, 3, 3], [3, 3, 3], [1, 1, 1], [1, 8, 8], V2),
]


def saved_bytes(module, x, thw=None) -> int:
    storages = {}

    def pack(t):
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        module(x, thw) if thw is not None else module(x)
    for p in module.parameters():
        storages.pop(p.untyped_storage().data_ptr(), None)
    return sum(storages.values())


def main() -> int:
    torch.manual_seed(0)
    bad = 0
    for name, thw, dim, dim_out, heads, kq, kkv, sq, skv, flags in SETTINGS:
        tv = MultiscaleAttention(list(thw), dim, dim_out, heads, kq, kkv, sq, skv, norm_layer=lambda d: torch.nn.LayerNorm(d, eps=1e-6),
                                 **flags).eval()
        ref_kw = {"rel_pos_embed": flags["rel_pos_embed"], "residual_pool": flags["residual_pool"],
                  "residual_with_cls_embed": flags["residual_with_cls_embed"]}
        length = 1 + thw[0] * thw[1] * thw[2]
        text = f"input {length}x{dim}\n{spec_line(thw, dim_out, heads, kq, kkv, sq, skv, ref_kw)}\n"
        summary, observed = analyze_with_calls(text, batch=2)
        call = observed[0].call
        twin = call.kind.build(call).eval()
        copy_weights(tv, twin)
        x = torch.randn(2, length, dim)
        counter = FlopCounterMode(display=False)
        with counter, torch.no_grad():
            want, _ = tv(x, thw)
        got = twin(x)
        row = summary.layers[0]
        xg = x.clone().requires_grad_(True)
        measured = (saved_bytes(tv, xg, thw), saved_bytes(twin, xg))
        checks = {
            "output": torch.allclose(got, want, atol=1e-5, rtol=0),
            "params": summary.total_params == sum(p.numel() for p in tv.parameters()),
            "MACs": summary.total_macs == counter.get_total_flops() // 2,
            "saved": row.saved_bytes == measured[0] == measured[1],
        }
        ok = all(checks.values())
        bad += not ok
        print(f"{name:24} {'equal' if ok else 'DIFFERS'}: params {summary.total_params:,}, MACs {summary.total_macs:,}, "
              f"saved {row.saved_bytes:,} B (torchvision {measured[0]:,}, twin {measured[1]:,}), "
              f"max |Δ| {(got - want).abs().max().item():.2e}" + ("" if ok else f" {checks}"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
