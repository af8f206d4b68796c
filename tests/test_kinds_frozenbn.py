"""``frozenbn`` (nnshape/kinds/frozenbn.py): torchvision's FrozenBatchNorm2d, i.e. batch norm in eval
mode with every tensor a buffer; its saved-for-backward rule against saved_tensors_hooks."""

from __future__ import annotations

import pytest

from oracle import analyze_with_calls, n_params, check_saved_exact

torch = pytest.importorskip("torch")


def test_frozenbn_is_batchnorm_in_eval_with_fixed_statistics():
    _, observed = analyze_with_calls("input 4x5x5\nfrozenbn\n", batch=2)
    twin = observed[-1].call.kind.build(observed[-1].call)
    bn = torch.nn.BatchNorm2d(4).eval()
    with torch.no_grad():
        for t in (bn.weight, bn.bias, bn.running_mean):
            t.normal_()
        bn.running_var.uniform_(0.5, 2)
    twin.load_state_dict({k: v for k, v in bn.state_dict().items() if k != "num_batches_tracked"})
    x = torch.randn(2, 4, 5, 5)
    assert torch.allclose(twin(x), bn(x), atol=1e-5)
    # torchvision.ops.misc.FrozenBatchNorm2d holds the same four buffers and no parameters
    assert sorted(name for name, _ in twin.named_buffers()) == ["bias", "running_mean", "running_var", "weight"]
    assert n_params(twin) == 0


SAVED = [  # exact against saved_tensors_hooks (nnshape verify --train-step)
    "input 3x8x8\nconv2d 4 k3\nfrozenbn\n",
]


@pytest.mark.parametrize("text", SAVED)
@pytest.mark.parametrize("batch", [1, 2])
def test_saved_for_backward_is_exact(text, batch):
    check_saved_exact(text, batch)
