"""Bridges into the spec language: a HuggingFace config.json (`import_hf`, pure JSON reading) and
a PyTorch module (`import_torch`, which imports torch on use). Both return spec text."""

from __future__ import annotations


def import_hf(config, *, head=None, ignore=(), check=True) -> str:
    """Spec text for a HuggingFace config: a config.json path, its directory, or a dict."""
    from .hf import import_hf as run

    return run(config, head=head, ignore=ignore, check=check)


def import_torch(module, example_inputs=None, **options) -> str:
    """Spec text for an nn.Module traced on example inputs (see nnshape.importers.torch_fx)."""
    from .torch_fx import import_torch as run

    return run(module, example_inputs, **options)


__all__ = ["import_hf", "import_torch"]
