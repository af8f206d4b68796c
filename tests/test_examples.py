"""The example networks reproduce the real ones exactly.

Expected parameter counts are the published ones (torchvision, torch, transformers); MACs are
torch.utils.flop_counter.FlopCounterMode FLOPs / 2 at batch 1, as listed in the core issue.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import nnshape

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

# file: (output shape without the batch, params, MACs)
EXPECTED = {
    "seed_fc.nn": ((1,), 9, 6),
    "lenet5.nn": ((10,), 61_706, 416_520),
    "alexnet.nn": ((1000,), 61_100_840, 714_188_480),
    "vgg16.nn": ((1000,), 138_357_544, 15_470_264_320),
    "googlenet.nn": ((1000,), 6_624_904, 1_498_376_192),
    "resnet18.nn": ((1000,), 11_689_512, 1_814_073_344),
    "resnet50.nn": ((1000,), 25_557_032, 4_089_184_256),
    "lstm.nn": ((50, 512), 2_367_488, 117_964_800),
    "transformer.nn": ((20, 512), 44_140_544, 664_903_680),
    "bert_base.nn": ((768,), 109_482_240, 11_174_215_680),
    "gpt2.nn": ((128, 768), 124_439_808, 11_173_625_856),
    # torchvision's docs list 5,483,032 / 21,458,488 params and 0.22 / 8.37 GFLOPS (their GFLOPS are
    # multiply-accumulates); the exact MACs are FlopCounterMode FLOPs / 2 of torchvision 0.29.1's
    # mobilenet_v3_large() at 224×224 and efficientnet_v2_s() at 384×384 (tests/test_examples_torchvision.py)
    "mobilenet_v3_large.nn": ((1000,), 5_483_032, 216_589_760),
    "efficientnet_v2_s.nn": ((1000,), 21_458_488, 8_365_617_152),
    # built from their configs on the meta device and counted by FlopCounterMode: tests/test_examples_hf.py
    "llama3_8b.nn": ((128, 128256), 8_030_261_248, 964_891_246_592),
    "mixtral_8x7b.nn": ((128, 32000), 46_702_792_704, 1_636_114_104_320),
    "llama_decode.nn": ((1, 128256), 8_030_261_248, 9_652_142_080),
    # torchvision 0.29.1's swin_t() (and transformers' Swin-T): tests/test_examples_hf.py
    "swin_t.nn": ((1000,), 28_288_354, 4_490_566_656),
    # torchvision 0.29.1's maxvit_t() (tests/manual/check_torchvision.py; torchvision is not a test dependency)
    "maxvit_t.nn": ((1000,), 30_919_624, 5_558_046_720),
    # torchvision 0.29.1's video swin3d_t() at 3×16×224×224 (benchmarks/import_zoo.py; not a test dependency)
    "swin3d_t.nn": ((400,), 28_158_070, 43_882_229_760),
    # torchvision 0.29.1's video mvit_v2_s() at 3×16×224×224: its published num_params, and the MACs
    # FlopCounterMode counts (benchmarks/import_zoo.py; not a test dependency)
    "mvit_v2_s.nn": ((400,), 34_537_744, 64_223_815_872),
    # torchvision 0.29.1's swin_v2_t() (its Weights meta lists 28,351,570 params; MACs by FlopCounterMode on
    # torch 2.14.1: tests/manual/check_torchvision.py); the V2 attention itself: tests/test_kinds_attention_swinv2.py
    "swin_v2_t.nn": ((1000,), 28_351_570, 4_938_464_256),
    "gpt2_lm.nn": ((128, 50257), 124_439_808, 16_114_089_984),  # tests/test_examples_shared.py; the tied head adds no parameters
    "albert_base.nn": ((128, 768), 11_683_584, 11_186_798_592),  # first output: the hidden state
    "qwen2_0_5b.nn": ((128, 151936), 494_032_768, 63_931_678_720),  # tests/test_examples_shared.py; tied head
    "t5_small.nn": ((128, 32128), 60_506_624, 8_044_675_072),  # tests/test_examples_shared.py; one table, three uses
}


def test_every_example_is_pinned():
    assert sorted(p.name for p in EXAMPLES.glob("*.nn")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_matches_the_real_network(name):
    shape, params, macs = EXPECTED[name]
    summary = nnshape.summarize(EXAMPLES / name)
    assert summary.output_shape == (1,) + shape
    assert summary.total_params == params
    assert summary.trainable_params == params
    assert summary.total_macs == macs
    assert summary.total_flops == 2 * macs


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_header_names_its_source(name):
    header = (EXAMPLES / name).read_text().splitlines()[0]
    assert header.startswith("# ")


# MACs that run once per forward whatever the batch: Swin V2's position-bias MLP (2 → 512 → heads over
# the 15×15 offsets) in each of the 12 blocks, 225·512·(2 + heads) with heads 3, 3, 6, 6, 12 ×6, 24, 24
PER_FORWARD = {"swin_v2_t.nn": 225 * 512 * (2 * 5 + 2 * 8 + 6 * 14 + 2 * 26)}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_batch_scales_macs_not_params(name):
    one = nnshape.summarize(EXAMPLES / name)
    four = nnshape.summarize(EXAMPLES / name, batch=4)
    fixed = PER_FORWARD.get(name, 0)
    assert four.total_params == one.total_params
    assert four.total_macs - fixed == 4 * (one.total_macs - fixed)
    assert four.output_shape == (4,) + one.output_shape[1:]


@pytest.mark.parametrize("name,buffers", [
    ("resnet50.nn", 53_173), ("googlenet.nn", 14_617), ("resnet18.nn", 9_620),
    ("mobilenet_v3_large.nn", 24_446), ("efficientnet_v2_s.nn", 153_982),
])
def test_buffers_are_the_batchnorm_statistics_of_torchvision(name, buffers):
    # sum(b.numel() for b in model.buffers()) of torchvision 0.29.1's resnet50(), googlenet(aux_logits=False),
    # resnet18(), mobilenet_v3_large() and efficientnet_v2_s(): running_mean + running_var per channel and
    # one num_batches_tracked per BatchNorm2d
    assert nnshape.summarize(EXAMPLES / name).total_buffers == buffers


@pytest.mark.parametrize("name,buffers", [("swin_t.nn", 28_812), ("maxvit_t.nn", 100_472), ("swin3d_t.nn", 1_843_968),
                                          ("swin_v2_t.nn", 54_552)])
def test_buffers_are_the_relative_position_indices_of_torchvision(name, buffers):
    # sum(b.numel() for b in model.buffers()) of torchvision 0.29.1's swin_t() (12 relative position
    # indices of 49·49) and maxvit_t() (22 of them + the BatchNorm statistics): tests/manual/check_torchvision.py;
    # swin3d_t() (12 indices of 392·392, the 8×7×7 window): benchmarks/import_zoo.py; swin_v2_t() (12 indices
    # of 64·64 and 12 offset tables of 15·15·2): tests/manual/check_torchvision.py
    assert nnshape.summarize(EXAMPLES / name).total_buffers == buffers
