"""Named tensors: the inputs, tensors stored with ``as NAME`` (on a layer line or a def call)
or ``from … as NAME:``, tensors passed to a def by name, and the ``output``.

Statements that declare, store or read tensors by name go through :class:`Names`: one place
to look names up and to report a missing one. A name stored at the top level (or in any block
outside a def) is visible to every later line; a name stored inside a def call is local to
that call (it lives in the call scope's ``frame``). Each stored tensor has a *key*, its name
for the top level and ``NAME#N`` for a call's own, unique in the analysis: the Plan refers to
tensors by key, so two calls of one def never mix up their ``skip`` tensors when the network
is built again. A top-level name stays live to the end of the pass; a call's own names until
the call returns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import SpecArgumentError, SpecNameError, SpecSyntaxError
from ..source import Span
from ..suggest import did_you_mean
from ..summary import InputInfo
from ..symbolic import Dim, Poly
from ..syntax import RESERVED_NAMES, Input, Name, Output, expr_text
from ..tensor import DTYPE_BYTES, TensorInfo, normalize_dtype
from ..values import describe
from .fields import input_field
from .tensors import Tensor, check_rank

if TYPE_CHECKING:
    from .scopes import Scope
    from .walk import Walker


class Names:
    """The tensors by key, the spec's own names (``root``: name -> key), the declared inputs in
    order, and the chosen output."""

    def __init__(self):
        self.tensors: dict[str, Tensor] = {}  # key -> tensor
        self.root: dict[str, str] = {}  # the spec's frame: name -> key (the name itself)
        self.inputs: list[InputInfo] = []
        self.output: tuple[str, Span] | None = None  # the first of `outputs`
        self.outputs: list[tuple[str, Span]] = []  # `output a, b`: every output (its key), in order
        self.count = 0  # keys made for names local to a def call
        self.rows = None  # the walker's RowBook (E0204 says when a name is a row's, not a tensor's)

    def find(self, name: str, scope: "Scope") -> str | None:
        """The key of the tensor ``name`` reads at ``scope`` (its call's names, then outer ones)."""
        for s in scope.chain():
            frame = s.frame
            if frame is not None and name in frame:
                return frame[name]
        return None

    def visible(self, scope: "Scope") -> list[str]:
        return list(dict.fromkeys(n for s in scope.chain() if s.frame is not None for n in s.frame))

    def get(self, name: str, span: Span, scope: "Scope") -> tuple[str, Tensor]:
        """The key and tensor ``name`` reads at ``scope``; E0204 when there is none."""
        key = self.find(name, scope)
        if key is not None:
            return key, self.tensors[key]
        known = self.visible(scope)
        row = self.row_named(name)
        raise SpecNameError(
            f"no tensor named '{name}'",
            span,
            expected="a named input, a tensor stored with `as NAME`, or a def's tensor argument",
            found=f"'{name}'",
            hint=(
                f"'{name}' names a row (line {row.line}), not a tensor: end that line with "
                f"`as {name}` to store its output"
            ) if row is not None else did_you_mean(name, known) or (
                "known tensors: " + ", ".join(sorted(known)[:20]) if known else "declare it with `input NAME SHAPE`"
            ),
            code="E0204",
        )

    def row_named(self, name: str):
        """A row named ``name`` so far (a label, ``name=`` or ``block NAME:``), for E0204's hint:
        searched only when the error is raised."""
        if self.rows is None:
            return None
        for row in reversed(self.rows.rows):
            if row is not None and row.path.rsplit(".", 1)[-1] == name:
                return row
        return None

    def store(self, name: str, tensor: Tensor, span: Span | None, scope: "Scope", tracker) -> str:
        """Name a tensor where ``scope`` stores names (its def call, else the spec), hold it live,
        and return its key. A later store of the same name replaces it; inputs cannot be replaced."""
        owner = next(s for s in scope.chain() if s.frame is not None)
        frame = owner.frame
        assert frame is not None
        if frame is self.root and any(inp.name == name for inp in self.inputs):
            raise SpecNameError(f"'{name}' is an input and cannot be overwritten", span, code="E0206")
        if name.lower() in RESERVED_NAMES:
            raise SpecSyntaxError(f"'{name}' is a keyword and cannot name a tensor", span, code="E0131")
        if frame is self.root:
            key = name
            old = self.tensors.get(key)
            if old is not None:
                tracker.release(old.token)
        else:
            self.count += 1
            key = f"{name}#{self.count}"
            owner.stored.append(key)
        frame[name] = key
        self.tensors[key] = tensor
        tracker.hold(tensor.token)  # a named tensor stays live while its name can be read
        return key

    def drop(self, keys: list[str], tracker) -> None:
        """A def call returned: its own names can no longer be read."""
        for key in keys:
            tensor = self.tensors.pop(key, None)
            if tensor is not None:
                tracker.release(tensor.token)

    def __contains__(self, name: str) -> bool:
        return name in self.root


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
    names.root[name] = name
    names.inputs.append(InputInfo(name, info.shape, dtype, stmt.span.line))
    return x if x is not None else tensor


def output_statement(walker: "Walker", stmt: Output, scope: "Scope", top: bool) -> None:
    """``output NAME`` or ``output a, b``: the network's outputs are those tensors (the first is
    ``output_shape``), not the last line's."""
    if not top:
        raise SpecSyntaxError("`output` belongs at the top level of the spec", stmt.span, code="E0132")
    chosen: list[tuple[str, Span]] = []
    for name in stmt.names:
        key, _ = walker.names.get(name.name, name.span, scope)  # must exist by now
        if any(key == k for k, _ in chosen):
            raise SpecSyntaxError(f"'{name.name}' is listed twice in `output`", name.span, code="E0132")
        chosen.append((key, name.span))
    walker.names.outputs = chosen  # a later `output` replaces an earlier one
    walker.names.output = chosen[0]
