"""What ``nnshape verify`` found: plain frozen data, the same for the API, the table and JSON."""

from __future__ import annotations

from dataclasses import dataclass

from ..symbolic import to_json
from ..tensor import Shape

SCHEMA = "nnshape.verify/1"
FIELDS = ("shape", "params", "buffers", "macs", "dtype")


@dataclass(frozen=True)
class Values:
    """One side of a comparison. ``macs`` is FlopCounterMode's FLOPs / 2 on the torch side."""

    shape: Shape | None
    params: int | None
    buffers: int | None
    macs: float | int | None
    dtype: str | None

    def to_dict(self) -> dict:
        return {
            "shape": None if self.shape is None else [to_json(d) for d in self.shape],
            "params": to_json(self.params) if self.params is not None else None,
            "buffers": to_json(self.buffers) if self.buffers is not None else None,
            "macs": to_json(self.macs) if self.macs is not None else None,
            "dtype": self.dtype,
        }


@dataclass(frozen=True)
class LayerCheck:
    """One summary row (or the network totals, path ``""``): analytic vs torch."""

    path: str
    kind: str
    label: str
    line: int
    depth: int
    is_block: bool
    repeat: int
    analytic: Values
    torch: Values | None
    mismatches: tuple[str, ...] = ()  # names from FIELDS that disagree
    error: str | None = None  # torch raised while running this layer, or it was not built

    @property
    def ok(self) -> bool:
        return not self.mismatches and self.error is None

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "kind": self.kind,
            "label": self.label,
            "line": self.line,
            "depth": self.depth,
            "is_block": self.is_block,
            "repeat": self.repeat,
            "ok": self.ok,
            "mismatches": list(self.mismatches),
            "error": self.error,
            "analytic": self.analytic.to_dict(),
            "torch": None if self.torch is None else self.torch.to_dict(),
        }


@dataclass(frozen=True)
class TrainStep:
    """One forward, backward and SGD step."""

    no_grad: tuple[str, ...]  # trainable parameters (torch names) that received no gradient
    peak_memory_bytes: int | None  # CUDA: torch.cuda.max_memory_allocated during the step
    saved_tensor_bytes: int | None  # tensors autograd saved for backward (CPU/CUDA), distinct storages
    memory_note: str
    error: str | None = None
    saved_for_backward_bytes: int | None = None  # the same, without parameter and buffer storages
    analytic_saved_bytes: int | None = None  # nnshape's estimate of saved_for_backward_bytes

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "no_grad": list(self.no_grad),
            "peak_memory_bytes": self.peak_memory_bytes,
            "saved_tensor_bytes": self.saved_tensor_bytes,
            "memory_note": self.memory_note,
            "saved_for_backward_bytes": {"torch": self.saved_for_backward_bytes, "analytic": self.analytic_saved_bytes},
            "error": self.error,
        }


@dataclass(frozen=True)
class VerifyReport:
    source: str
    device: str
    batch: int
    dtype: str  # parameters and float inputs of the torch network
    torch_version: str
    layers: tuple[LayerCheck, ...]
    totals: LayerCheck
    error: str | None = None  # torch failed before per-layer numbers existed
    train_step: TrainStep | None = None
    seconds: float = 0.0
    outputs: tuple[LayerCheck, ...] = ()  # `output a, b`: each output's shape and dtype (path "output NAME")

    @property
    def ok(self) -> bool:
        """True only if every layer and the totals agree (a dead parameter in --train-step does not fail)."""
        return (
            self.error is None
            and self.totals.ok
            and all(check.ok for check in self.layers)
            and all(check.ok for check in self.outputs)
            and (self.train_step is None or self.train_step.ok)
        )

    @property
    def mismatches(self) -> tuple[LayerCheck, ...]:
        return (tuple(check for check in self.layers if not check.ok) + (() if self.totals.ok else (self.totals,))
                + tuple(check for check in self.outputs if not check.ok))

    def to_dict(self) -> dict:
        return {
            "schema": SCHEMA,
            "ok": self.ok,
            "source": self.source,
            "device": self.device,
            "batch": self.batch,
            "dtype": self.dtype,
            "torch_version": self.torch_version,
            "error": self.error,
            "seconds": round(self.seconds, 3),
            "totals": self.totals.to_dict(),
            "mismatches": [check.path for check in self.mismatches],
            "train_step": None if self.train_step is None else self.train_step.to_dict(),
            "layers": [check.to_dict() for check in self.layers],
            **({"outputs": [check.to_dict() for check in self.outputs]} if self.outputs else {}),
        }
