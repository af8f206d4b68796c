"""Check window attention per axis against torchvision's own modules (not collected by pytest:
torchvision does not install beside the CPU torch of the test environment).

    PYTHONPATH=. /work/venvs/tv/bin/python tests/manual/check_swin3d_tv.py

For torchvision's ShiftedWindowAttention3d (Video Swin) and ShiftedWindowAttention (Swin, a
window that is not square) on maps that the window divides or not, shorter than the window or
not: the spec line's twin with torchvision's weights copied gives the same output, and the row's
params, buffers and MACs equal torchvision's (FlopCounterMode, math attention kernel); the CI
oracle tests/window_reference.py gives the same output too.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

CASES = [  # (map without N and C, window, shift)
    ((8, 56, 56), (8, 7, 7), (4, 3, 3)),  # swin3d_t's first shifted block: T = 8 fits the window
    ((8, 7, 7), (8, 7, 7), (4, 3, 3)),  # its last stage: one window, no shift
    ((5, 9, 7), (2, 3, 3), (1, 1, 1)),  # padded on every axis
    ((3, 6, 5), (4, 3, 2), (2, 1, 1)),  # T cut to 3
    ((4, 2, 7), (2, 3, 3), (1, 1, 1)),  # H cut to 2: the first L×L of the index, as torchvision reads them
    ((4, 6, 6), (2, 3, 3), (0, 0, 0)),  # unshifted, divides
    ((9, 10), (4, 3), (2, 1)),  # 2-D, not square, padded
    ((6, 5), (3, 5), (1, 2)),  # 2-D, W covered by one window
]


def counted(module, x) -> int:
    import torch
    from oracle import counting_flags
    from torch.utils.flop_counter import FlopCounterMode

    with counting_flags(), torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(x)
    return counter.get_total_flops() // 2


def main() -> int:
    import torch
    from oracle import analyze_with_calls
    from torchvision.models.swin_transformer import ShiftedWindowAttention
    from torchvision.models.video.swin_transformer import ShiftedWindowAttention3d
    from window_reference import Reference

    ok = True
    c, heads = 32, 4
    for dims, window, shift in CASES:
        torch.manual_seed(0)
        cls = ShiftedWindowAttention3d if len(window) == 3 else ShiftedWindowAttention
        tv = cls(c, list(window), list(shift), heads).eval()
        with torch.no_grad():
            tv.relative_position_bias_table.normal_()
        line = (f"attention heads={heads} window={'x'.join(map(str, window))}"
                + (f" shift={'x'.join(map(str, shift))}" if any(shift) else "") + " rel_pos=true")
        _, observed = analyze_with_calls(f"input {'x'.join(map(str, dims))}x{c}\n{line}\n", batch=2)
        call, inf = observed[-1].call, observed[-1].inference
        twin = call.kind.build(call).eval()
        ref = Reference(c, window, shift, heads).eval()
        with torch.no_grad():
            for i, p in enumerate("qkv"):
                getattr(twin, f"{p}_proj").weight.copy_(tv.qkv.weight[i * c:(i + 1) * c])
                getattr(twin, f"{p}_proj").bias.copy_(tv.qkv.bias[i * c:(i + 1) * c])
            twin.o_proj.weight.copy_(tv.proj.weight)
            twin.o_proj.bias.copy_(tv.proj.bias)
            twin.relative_position_bias_table.copy_(tv.relative_position_bias_table)
            ref.load_state_dict({k: v for k, v in tv.state_dict().items() if k != "relative_position_index"}, strict=False)
            index = tv.relative_position_index.flatten()  # the 2-D Swin keeps it flat: the same count
            same_index = (torch.equal(twin.relative_position_index.flatten(), index)
                          and torch.equal(ref.relative_position_index.flatten(), index))
            x = torch.randn(2, *dims, c)
            theirs = tv(x)
            diff = (twin(x) - theirs).abs().max().item()
            diff_ref = (ref(x) - theirs).abs().max().item() if sum(dims) < 40 else None  # the loops: small maps only
        numbers = (inf.params, inf.buffers, inf.macs)
        tv_numbers = (sum(p.numel() for p in tv.parameters()), sum(b.numel() for b in tv.buffers()), counted(tv, x))
        good = diff < 1e-4 and (diff_ref is None or diff_ref < 1e-4) and numbers == tv_numbers and same_index
        ok &= good
        print(f"{'ok ' if good else 'BAD'} {line} on {'x'.join(map(str, dims))}: output max |diff| {diff:.2e} "
              f"(reference {'not run' if diff_ref is None else f'{diff_ref:.2e}'}); index {'equal' if same_index else 'DIFFERS'}; params/buffers/MACs {numbers} vs torchvision {tv_numbers}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
