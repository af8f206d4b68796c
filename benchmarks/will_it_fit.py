"""Llama-3-8B and 70B on 8 × 80 GB: nnshape's per-device plan beside DeepSpeed's and accelerate's estimators.

    python benchmarks/will_it_fit.py [--write]

The estimators' formulas are reproduced from their sources (not imported; neither package is a
dependency), with the inputs they take from a model: the parameter count and, for DeepSpeed's
ZeRO-3, the largest layer (the module with the most parameters of its own). Those inputs come from
HF transformers' LlamaForCausalLM built on the meta device from its config when transformers is
installed (no download), else from the specs. ``--write`` stores the tables in WILL_IT_FIT.md.
docs/will-it-fit.md explains the differences.

* DeepSpeed ``estimate_zero3_model_states_mem_needs`` (deepspeed/runtime/zero/stage3.py), without
  offload: 4 · largest_layer_params + 18 · params / GPUs bytes per GPU.
* DeepSpeed ``estimate_zero2_model_states_mem_needs`` (stage_1_and_2.py), without offload:
  2 · params + 18 · params / GPUs.
* accelerate ``estimate-memory`` (accelerate/commands/estimate.py): "Training using Adam" is the
  largest of its model / gradients / optimizer / step sizes for one device: 16 bytes per parameter
  for float32; 8 for float16/bfloat16 mixed precision (fp32 model 4, fp32 + fp16 gradients 6,
  Adam 8).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nnshape  # noqa: E402

MODELS = {
    "Llama-3-8B": (ROOT / "benchmarks" / "specs" / "llama3_8b.nn", dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32)),
    "Llama-3-70B": (ROOT / "benchmarks" / "specs" / "llama3_70b.nn", dict(hidden_size=8192, intermediate_size=28672, num_hidden_layers=80, num_attention_heads=64)),
}
GPUS, GIB = 8, 2**30


def hf_inputs(config: dict):
    """(params, largest layer params, buffer bytes) of the HF model, as the estimators read them."""
    try:
        import torch
        import transformers
    except ImportError:
        return None
    cfg = transformers.LlamaConfig(vocab_size=128256, num_key_value_heads=8, max_position_embeddings=8192,
                                   rope_theta=500000.0, tie_word_embeddings=False, **config)
    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(cfg)
    params = sum(dict((id(p), p.numel()) for p in model.parameters()).values())
    largest = max(sum(p.numel() for p in m.parameters(recurse=False)) for m in model.modules())
    buffers = sum(b.numel() * 4 for b in model.buffers())
    return params, largest, buffers


def deepspeed_zero3(params: int, largest: int, gpus: int) -> int:
    return 4 * largest + int(18 * params / gpus)


def deepspeed_zero2(params: int, gpus: int) -> int:
    return 2 * params + int(18 * params / gpus)


def accelerate_training(params: int, buffers: int, mixed: bool) -> int:
    fp32 = 4 * params + buffers  # accelerate's "Total Size" at float32: parameters and buffers
    if mixed:
        return max(fp32, fp32 + fp32 // 2, 2 * fp32)
    return 4 * fp32


def gb(n: int | None) -> str:
    return "—" if n is None else f"{n / 1e9:,.1f}"


def plan(path: Path, **options):
    return nnshape.summarize(path, dtype="bfloat16", amp=True, optimizer="adam", gpu="h100", **options).device_plan


def table(name: str, path: Path, config: dict) -> list[str]:
    summary = nnshape.summarize(path)
    got = hf_inputs(config)
    params, largest, buffers = got if got is not None else (summary.total_params, max(r.params for r in summary.leaves), 0)
    source = "transformers on meta" if got is not None else "the spec"
    assert params == summary.total_params, (params, summary.total_params)
    lines = [f"### {name}: {params:,} parameters, largest layer {largest:,} (from {source})", "",
             "bf16 mixed precision (`--dtype bfloat16 --amp`), Adam, T = 4096 tokens, micro-batch 1, 8 × H100 80 GB; GB = 10⁹ B.", "",
             "| setup | weights | grads | fp32 master | Adam | activations | total / GPU | fits? | largest micro-batch |",
             "|---|---:|---:|---:|---:|---:|---:|---|---:|"]
    for label, options in (
        ("1 GPU, no sharding", dict(dp=1)),
        ("ZeRO-1, dp 8", dict(dp=8, zero=1)),
        ("ZeRO-2, dp 8", dict(dp=8, zero=2)),
        ("ZeRO-3, dp 8", dict(dp=8, zero=3)),
        ("ZeRO-3, dp 8, full checkpointing", dict(dp=8, zero=3, checkpoint="full")),
        ("tp 8", dict(tp=8)),
        ("tp 8, full checkpointing", dict(tp=8, checkpoint="full")),
        ("pp 8, full checkpointing (1F1B)", dict(pp=8, checkpoint="full")),
    ):
        p = plan(path, **options)
        d = p.per_device()
        fits = "yes" if p.fits else "no"
        lines.append(f"| {label} | {gb(d['weights'])} | {gb(d['grads'])} | {gb(d['master_weights'])} | {gb(d['optimizer'])} | "
                     f"{gb(d['activations'])} | **{gb(d['total'])}** | {fits} | {p.largest.get('micro_batch')} |")
    z3 = plan(path, dp=8, zero=3).per_device()
    z2 = plan(path, dp=8, zero=2).per_device()
    one = plan(path, dp=1).per_device()
    states = lambda d: d["weights"] + d["grads"] + d["master_weights"] + d["optimizer"]  # noqa: E731
    ds3, ds2 = deepspeed_zero3(params, largest, GPUS), deepspeed_zero2(params, GPUS)
    acc_mixed, acc_fp32 = accelerate_training(params, buffers, True), accelerate_training(params, buffers, False)
    lines += ["", "Model states only (what the estimators cover), per GPU:", "",
              "| | estimator | as it prints it | GB | nnshape (model states) | GB |", "|---|---|---:|---:|---|---:|",
              f"| ZeRO-3 × 8 | DeepSpeed `estimate_zero3_model_states_mem_needs` | {ds3 / GIB:.2f}GB (GiB) | {gb(ds3)} | ZeRO-3 dp 8 | {gb(states(z3))} |",
              f"| ZeRO-2 × 8 | DeepSpeed `estimate_zero2_model_states_mem_needs` | {ds2 / GIB:.2f}GB (GiB) | {gb(ds2)} | ZeRO-2 dp 8 | {gb(states(z2))} |",
              f"| 1 GPU | accelerate `estimate-memory`, float16 row | {acc_mixed / GIB:.2f} GB (GiB) | {gb(acc_mixed)} | 1 GPU, amp | {gb(states(one))} |",
              f"| 1 GPU | accelerate `estimate-memory`, float32 row | {acc_fp32 / GIB:.2f} GB (GiB) | {gb(acc_fp32)} | 1 GPU, fp32 | {gb(states(nnshape.summarize(path, gpu='h100', dp=1).device_plan.per_device()))} |",
              ""]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="store the tables in benchmarks/WILL_IT_FIT.md")
    args = parser.parse_args()
    out = ["# Will it fit? Llama-3 on 8 × 80 GB", "", "Generated by `python benchmarks/will_it_fit.py --write`; "
           "the differences are explained in [docs/will-it-fit.md](../docs/will-it-fit.md#beside-deepspeed-and-accelerate).", ""]
    for name, (path, config) in MODELS.items():
        out += table(name, path, config)
    text = "\n".join(out) + "\n"
    print(text)
    if args.write:
        (ROOT / "benchmarks" / "WILL_IT_FIT.md").write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
