"""Named tensors: the inputs, tensors stored with ``from … as NAME:``, and the ``output``.

Every name lives as long as the analysis (a named tensor stays live to the end of the pass).
Statements that declare, store or read tensors by name go through :class:`Names`, so ways of
naming to come (``as NAME`` on any line, tensor names as def arguments, ``NAME[d]`` sizes,
several outputs) have one place to look names up and to report a missing one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import SpecArgumentError, SpecNameError, SpecSyntaxError
from ..source import Span
from ..suggest import did_you_mean
from ..summary import InputInfo
from ..symbolic import Dim, Poly
from ..syntax import Input, Name, Output, expr_text
from ..tensor import DTYPE_BYTES, TensorInfo, normalize_dtype
from ..values import describe
from .fields import input_field
from .tensors import Tensor, check_rank

if TYPE_CHECKING:
    from .scopes import Scope
    from .walk import Walker


class Names:
    """The tensors by name, the declared inputs in order, and the chosen output."""

    def __init__(self):
        self.tensors: dict[str, Tensor] = {}
        self.inputs: list[InputInfo] = []
        self.output: tuple[str, Span] | None = None  # the first of `outputs`
        self.outputs: list[tuple[str, Span]] = []  # `output a, b`: every output, in order

    def get(self, name: str, span: Span) -> Tensor:
        tensor = self.tensors.get(name)
        if tensor is not None:
            return tensor
        raise SpecNameError(
            f"no tensor named '{name}'",
            span,
            expected="a named input or a tensor stored with `from ... as NAME:`",
            found=f"'{name}'",
            hint=did_you_mean(name, self.tensors) or (
                "known tensors: " + ", ".join(sorted(self.tensors)) if self.tensors else "declare it with `input NAME SHAPE`"
            ),
            code="E0204",
        )

    def store(self, name: str, tensor: Tensor, span: Span | None) -> None:
        """Name a tensor (a later store of the same name replaces it; inputs cannot be replaced)."""
        if name in self.tensors and any(inp.name == name for inp in self.inputs):
            raise SpecNameError(f"'{name}' is an input and cannot be overwritten", span, code="E0206")
        self.tensors[name] = tensor

    def __contains__(self, name: str) -> bool:
        return name in self.tensors


def input_statement(walker: "Walker", stmt: Input, scope: "Scope", top: bool, x: Tensor | None) -> Tensor:
    """``input [NAME] SHAPE [dtype=…]``: a network input (the first one flows into the next line)."""
    names = walker.names
    if not top:
        raise SpecSyntaxError("`input` belongs at the top level of the spec", stmt.span, code="E0135")
    value = scope.evaluator(symbols=True).eval(stmt.shape)
    dims = value if isinstance(value, tuple) else (value,)
    checked: list[Dim] = []
    for dim in dims:
        if isinstance(dim, bool) or not isinstance(dim, (int, Poly)) or (isinstance(dim, int) and dim < 1):
            raise SpecArgumentError(
                "input sizes must be positive integers or size names",
                stmt.shape.span,
                expected="e.g. 3x224x224, 128 or (L, 768)",
                found=describe(value),
                code="E0305",
            )
        checked.append(dim)
    check_rank(len(checked) + 1, stmt.shape.span)
    walker.rows.symbolic = walker.rows.symbolic or any(isinstance(dim, Poly) for dim in checked)
    dtype: Any = "float32"
    for arg in stmt.args:
        if arg.key != "dtype":
            raise SpecNameError(
                f"unknown input option '{arg.key}'",
                arg.span,
                expected="dtype=...",
                hint=did_you_mean(arg.key or "", ("dtype",)),
                code="E0205",
            )
        raw = arg.value.name if isinstance(arg.value, Name) else scope.evaluator().eval(arg.value)
        dtype = normalize_dtype(str(raw)) if isinstance(raw, str) else None
        if dtype is None:
            raise SpecArgumentError(
                "unknown dtype",
                arg.value.span,
                expected="one of " + ", ".join(DTYPE_BYTES),
                found=describe(raw),
                hint=did_you_mean(str(raw), DTYPE_BYTES),
                code="E0306",
            )
    name = stmt.name
    if name is None:
        if names.inputs:
            raise SpecSyntaxError(
                "several inputs need names",
                stmt.span,
                expected="input NAME SHAPE",
                hint=f"name this one, e.g. `input x2 {expr_text(stmt.shape)}`, and the first one too",
                code="E0136",
            )
        name = "input"
    elif any(inp.name == "input" for inp in names.inputs):
        raise SpecSyntaxError(
            "several inputs need names",
            stmt.span,
            hint="give the first input a name too: `input NAME SHAPE`",
            code="E0136",
        )
    if name in names.tensors:
        raise SpecNameError(f"tensor '{name}' is already defined", stmt.span, code="E0206")
    info = TensorInfo((walker.batch,) + tuple(checked), dtype)
    tensor = Tensor(info, input_field(checked), walker.mem.input(walker.mem.nbytes(info)))
    names.tensors[name] = tensor
    names.inputs.append(InputInfo(name, info.shape, dtype, stmt.span.line))
    return x if x is not None else tensor


def output_statement(walker: "Walker", stmt: Output, top: bool) -> None:
    """``output NAME`` or ``output a, b``: the network's outputs are those tensors (the first is
    ``output_shape``), not the last line's."""
    if not top:
        raise SpecSyntaxError("`output` belongs at the top level of the spec", stmt.span, code="E0132")
    chosen: list[tuple[str, Span]] = []
    for name in stmt.names:
        if any(name.name == n for n, _ in chosen):
            raise SpecSyntaxError(f"'{name.name}' is listed twice in `output`", name.span, code="E0132")
        walker.names.get(name.name, name.span)  # must exist by now
        chosen.append((name.name, name.span))
    walker.names.outputs = chosen  # a later `output` replaces an earlier one
    walker.names.output = chosen[0]
