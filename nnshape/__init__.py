"""nnshape: shapes, parameters, MACs and memory of a neural network from a textual spec.

Importing nnshape loads neither torch nor rich: the core is pure Python.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from .errors import Diagnostic, NNShapeError, SpecArgumentError, SpecLimitError, SpecNameError, SpecReadError, SpecShapeError, SpecSyntaxError
    from .summary import LayerRow, Summary

__version__ = "0.1.0"


def summarize(spec, *, batch: int = 1, dtype: str = "float32", optimizer: str = "adam", amp: bool = False, explain: bool = False, count_elementwise: bool = False, bindings=None, **named_bindings) -> "Summary":
    """Analyze a spec (text or a path) and return its :class:`Summary`.

    Keyword arguments bind names used in the spec, like ``--set``: ``summarize("m.nn", L=128)``.
    See :func:`nnshape.api.summarize` for the options. (The analyzer is imported on first use,
    so ``nnshape --version`` stays instant.)
    """
    from .api import summarize as run

    return run(spec, batch=batch, dtype=dtype, optimizer=optimizer, amp=amp, explain=explain, count_elementwise=count_elementwise, bindings=bindings, **named_bindings)


def verify(spec, **options):
    """Build the spec as a real PyTorch network, run it and compare every row: a VerifyReport.

    Options as in :func:`nnshape.verifier.verify` (device, batch, dtype, train_step, bindings).
    torch is imported only here, when called.
    """
    from .verifier import verify as run

    return run(spec, **options)


def export(spec, path=None, *, class_name: str = "Model", twins: str = "copy", bindings=None, **named_bindings) -> str:
    """`nnshape export`: the source of a standalone PyTorch module for the spec (written to
    ``path`` too when given). Needs no torch. See :func:`nnshape.api.export`."""
    from .api import export as run

    return run(spec, path, class_name=class_name, twins=twins, bindings=bindings, **named_bindings)


def check(spec, **limits_and_options):
    """`nnshape check`: the spec against limits (``max_params="30M"``, ``output=1000``, ...): a
    result with ``.ok`` and ``.checks``. See :func:`nnshape.api.check`."""
    from .api import check as run

    return run(spec, **limits_and_options)


def diff(old, new, *, batch: int = 1, bindings=None, **named_bindings):
    """`nnshape diff`: what changed from ``old`` to ``new`` (specs or Summaries), aligned on
    structure. See :func:`nnshape.api.diff`."""
    from .api import diff as run

    return run(old, new, batch=batch, bindings=bindings, **named_bindings)


def import_hf(config, *, head=None, ignore=(), check=True) -> str:
    """Spec text for a HuggingFace config.json (a path, its directory, or a dict): pure JSON
    reading, no transformers needed. ``head``: base | causal-lm | masked-lm | classifier | seq2seq-lm | encoder (default
    from ``architectures[0]``). See docs/importers.md."""
    from .importers import import_hf as run

    return run(config, head=head, ignore=ignore, check=check)


def import_torch(module, example_inputs=None, **options) -> str:
    """Spec text for a PyTorch ``nn.Module`` traced on ``example_inputs`` (a tensor, a tuple in
    forward's order, or a dict by name; ``example_kwargs=`` adds named ones to a tuple), verified against the module's own parameter count and MACs. Imports torch. See docs/importers.md."""
    from .importers import import_torch as run

    return run(module, example_inputs, **options)


_LAZY = {
    "Summary": "summary",
    "LayerRow": "summary",
    "Diagnostic": "errors",
    "NNShapeError": "errors",
    "SpecArgumentError": "errors",
    "SpecLimitError": "errors",
    "SpecNameError": "errors",
    "SpecReadError": "errors",
    "SpecShapeError": "errors",
    "SpecSyntaxError": "errors",
}


def __getattr__(name: str):
    """The data classes and errors load on first use, so `import nnshape` (and `nnshape
    --version`) costs next to nothing."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'nnshape' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "summarize",
    "verify",
    "export",
    "check",
    "diff",
    "import_hf",
    "import_torch",
    "Summary",
    "LayerRow",
    "Diagnostic",
    "NNShapeError",
    "SpecArgumentError",
    "SpecLimitError",
    "SpecNameError",
    "SpecReadError",
    "SpecShapeError",
    "SpecSyntaxError",
    "__version__",
]
