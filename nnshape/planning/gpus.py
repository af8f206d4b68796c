"""Memory of common accelerators, as their makers publish it (docs/will-it-fit.md lists the sources).

The datasheet figure is read as decimal gigabytes (80 GB = 80·10⁹ B), like every size nnshape
prints. The chips hold that many GiB (80 GiB = 85.9·10⁹ B); the ~7 % between the two is about
what the CUDA context, the caching allocator's slack and communication buffers take, so the
decimal figure is a fair budget for tensors.
"""

from __future__ import annotations

GB = 10**9

# name -> (GB, what it is, source)
GPUS: dict[str, tuple[int, str, str]] = {
    "h100": (80, "NVIDIA H100 SXM / PCIe 80 GB", "https://www.nvidia.com/en-us/data-center/h100/"),
    "h100-nvl": (94, "NVIDIA H100 NVL 94 GB", "https://www.nvidia.com/en-us/data-center/h100/"),
    "h200": (141, "NVIDIA H200 141 GB", "https://www.nvidia.com/en-us/data-center/h200/"),
    "b200": (180, "NVIDIA B200 (DGX B200: 1,440 GB over 8 GPUs)", "https://www.nvidia.com/en-us/data-center/dgx-b200/"),
    "a100-40": (40, "NVIDIA A100 40 GB", "https://www.nvidia.com/en-us/data-center/a100/"),
    "a100-80": (80, "NVIDIA A100 80 GB", "https://www.nvidia.com/en-us/data-center/a100/"),
    "l40s": (48, "NVIDIA L40S 48 GB", "https://www.nvidia.com/en-us/data-center/l40s/"),
    "l4": (24, "NVIDIA L4 24 GB", "https://www.nvidia.com/en-us/data-center/l4/"),
    "a10": (24, "NVIDIA A10 / A10G 24 GB", "https://www.nvidia.com/en-us/data-center/products/a10-gpu/"),
    "t4": (16, "NVIDIA T4 16 GB", "https://www.nvidia.com/en-us/data-center/tesla-t4/"),
    "v100-16": (16, "NVIDIA V100 16 GB", "https://www.nvidia.com/en-us/data-center/v100/"),
    "v100-32": (32, "NVIDIA V100 32 GB", "https://www.nvidia.com/en-us/data-center/v100/"),
    "rtx4090": (24, "NVIDIA GeForce RTX 4090 24 GB", "https://www.nvidia.com/en-us/geforce/graphics-cards/40-series/rtx-4090/"),
    "rtx3090": (24, "NVIDIA GeForce RTX 3090 24 GB", "https://www.nvidia.com/en-us/geforce/graphics-cards/30-series/rtx-3090-3090ti/"),
    "mi300x": (192, "AMD Instinct MI300X 192 GB", "https://www.amd.com/en/products/accelerators/instinct/mi300/mi300x.html"),
}
ALIASES = {"a100": "a100-80", "h100-80": "h100", "a10g": "a10", "4090": "rtx4090", "3090": "rtx3090", "v100": "v100-32"}


def gpu_bytes(name: str) -> int | None:
    """Bytes of a GPU by name (case and dashes/underscores ignored), or None if unknown."""
    key = canonical(name)
    return GPUS[key][0] * GB if key in GPUS else None


def canonical(name: str) -> str:
    key = name.strip().lower().replace("_", "-").replace(" ", "")
    return ALIASES.get(key, key)
