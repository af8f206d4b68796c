"""Tensors as the analyzer sees them: a shape (batch first) and a dtype, no data."""

from __future__ import annotations

from dataclasses import dataclass

from .symbolic import Dim, format_dim

DTYPE_BYTES = {
    "float64": 8,
    "float32": 4,
    "float16": 2,
    "bfloat16": 2,
    "int64": 8,
    "int32": 4,
    "int16": 2,
    "int8": 1,
    "uint8": 1,
    "bool": 1,
}
FLOAT_DTYPES = ("float64", "float32", "float16", "bfloat16")
# the choices of --dtype: the memory figures take any of these for parameters and float
# activations; verify builds real networks in the three that torch's kernels cover everywhere
MEMORY_DTYPES = ("float32", "float16", "bfloat16", "int8", "float64")
VERIFY_DTYPES = ("float32", "float16", "bfloat16")
DTYPE_ALIASES = {
    "float": "float32",
    "fp32": "float32",
    "half": "float16",
    "fp16": "float16",
    "bf16": "bfloat16",
    "double": "float64",
    "long": "int64",
    "int": "int64",
}

Shape = tuple[Dim, ...]


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """A tensor flowing through the network: full shape with the batch as dim 0."""

    shape: Shape
    dtype: str = "float32"

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def sample_shape(self) -> Shape:
        return self.shape[1:]

    def numel(self) -> Dim:
        total: Dim = 1
        for dim in self.shape:
            total = total * dim
        return total

    @property
    def is_float(self) -> bool:
        return self.dtype in FLOAT_DTYPES


def format_shape(shape: Shape, sep: str = "×") -> str:
    if not shape:
        return "scalar"
    return sep.join(format_dim(d) for d in shape)


def numel(shape: Shape) -> Dim:
    total: Dim = 1
    for dim in shape:
        total = total * dim
    return total


def normalize_dtype(text: str) -> str | None:
    name = text.lower().removeprefix("torch.")
    name = DTYPE_ALIASES.get(name, name)
    return name if name in DTYPE_BYTES else None
