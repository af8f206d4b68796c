"""Memory and training cost: activation bytes, the inference peak and what autograd saves.

Pure Python, like the rest of the analysis. Two parts (the analysis follows storages through
the network with nnshape.analysis.tracker, which applies the kinds' rules):

* :class:`Saved`: the tensors autograd keeps for a layer's backward, as PyTorch's CPU kernels
  save them. Each kind states its own rule (``Kind.saves`` or ``Kind.saved``, nnshape/kinds/),
  checked against ``torch.autograd.graph.saved_tensors_hooks`` by ``nnshape verify --train-step``
  and the tests;
* :func:`training_totals`: parameters + gradients + optimizer state + saved activations.

Every formula is stated in docs/conventions.md ("Memory", "Training memory", "Compute").
"""

from __future__ import annotations

from dataclasses import dataclass

from .symbolic import Dim
from .tensor import DTYPE_BYTES

OPTIMIZER_STATES = {"sgd": 0, "momentum": 1, "adam": 2, "adamw": 2}  # state tensors per parameter (torch.optim)
STAT_BYTES = 4  # normalization statistics and LSTM workspaces stay float32
INDEX_BYTES = 8  # max-pool indices are int64


@dataclass(frozen=True)
class Saved:
    """What a layer's backward needs. ``input``/``output``/``inputs`` name tensors that other
    layers may save too (counted once); ``floats`` are new tensors at the activation dtype;
    ``fixed`` are bytes of new tensors whose dtype does not follow ``--dtype``."""

    input: bool = False
    output: bool = False
    inputs: bool = False  # the tensor-typed arguments (kv=, memory=)
    floats: Dim = 0
    fixed: Dim = 0


NOTHING = Saved()
INPUT = Saved(input=True)
OUTPUT = Saved(output=True)


# --------------------------------------------------------------------------- totals


@dataclass(frozen=True)
class Memory:
    """The `memory` object of the summary; bytes, with the options they assume."""

    dtype: str  # activation and parameter dtype (--dtype, or the --amp half type)
    optimizer: str
    amp: bool
    params_bytes: Dim
    buffers_bytes: Dim
    activation_bytes: Dim  # every leaf output once (a sum, not a peak)
    inference_peak_bytes: Dim | None  # None: depends on a symbolic size
    saved_for_backward_bytes: Dim
    gradients_bytes: Dim
    optimizer_bytes: Dim
    master_weights_bytes: Dim
    training_bytes: Dim
    kv_cache_bytes: Dim = 0  # the decode steps' KV caches (layers with cache=), apart from the totals above

    def to_dict(self) -> dict:
        from .symbolic import to_json

        return {
            "dtype": self.dtype,
            "optimizer": self.optimizer,
            "amp": self.amp,
            "params_bytes": to_json(self.params_bytes),
            "buffers_bytes": to_json(self.buffers_bytes),
            "activation_bytes": to_json(self.activation_bytes),
            "inference_peak_bytes": None if self.inference_peak_bytes is None else to_json(self.inference_peak_bytes),
            "saved_for_backward_bytes": to_json(self.saved_for_backward_bytes),
            "gradients_bytes": to_json(self.gradients_bytes),
            "optimizer_bytes": to_json(self.optimizer_bytes),
            "master_weights_bytes": to_json(self.master_weights_bytes),
            "training_bytes": to_json(self.training_bytes),
            "kv_cache_bytes": to_json(self.kv_cache_bytes),
        }


def training_totals(
    *, params: Dim, trainable: Dim, buffers: Dim, dtype: str, optimizer: str, amp: bool,
    activation_bytes: Dim, peak: Dim | None, saved: Dim, kv_cache: Dim = 0,
) -> Memory:
    """training = weights + buffers + gradients + optimizer state + saved activations.

    Without --amp every tensor is at ``dtype``: weights P·b, gradients T·b, where T counts the
    trainable parameters; optimizer state k·b·T (k tensors per parameter: sgd 0, momentum 1,
    adam(w) 2), in the parameters' dtype as torch.optim creates it (``zeros_like(param)``).
    With --amp (``dtype`` then float16 or bfloat16, b = 2): the half weights P·2, half gradients
    T·2, fp32 master weights T·4 and the optimizer state of the fp32 master copy, k·4·T.
    Adam's step counter (one 4-byte scalar per parameter tensor) is not counted.
    """
    b = DTYPE_BYTES[dtype]
    states = OPTIMIZER_STATES[optimizer]
    weights = params * b
    grads = trainable * b
    master = trainable * 4 if amp else 0
    opt = trainable * (4 if amp else b) * states
    buf = buffers * b
    total = weights + buf + grads + master + opt + saved
    return Memory(dtype, optimizer, amp, weights, buf, activation_bytes, peak, saved, grads, opt, master, total, kv_cache)
