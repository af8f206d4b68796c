"""Statement walking: the state of one analysis and the dispatch of each statement to its rule.

``Walker.statements`` runs a body (the spec, a block's, a def's) on an incoming tensor and
returns the outgoing one with the body's totals. Each kind of statement has its module:
layers.py (a layer line or def call), rerun.py (``reuse NAME``), scopes.py (``let``, ``def``),
names.py (``input``, ``output``), blocks.py, merges.py and repeat.py (block headers). A new statement or block
keyword gets its own function and one entry here.
"""

from __future__ import annotations

from typing import Any

from ..errors import SpecLimitError, SpecNameError, SpecSyntaxError
from ..source import Source, Span
from ..syntax import Block, Def, If, Input, Layer, Let, Output, Statement
from .blocks import from_block, named_block, residual
from .conditions import taken_branch
from .diagnostics import Diagnostics
from .layers import layer
from .merges import MERGES, merge
from .names import Names, input_statement, output_statement
from .repeat import repeat
from .rerun import reuse
from .reuse import InferenceCache
from .rows import Context, RowBook, Totals
from .scopes import Scope, define, let
from .sharing import Sharing
from .tensors import Tensor
from .tracker import Tracker

# block keywords whose block runs on the incoming tensor: keyword -> rule(walker, block, x, scope, ctx)
BLOCKS = {"repeat": repeat, "block": named_block, **{kw: merge for kw in MERGES}}


class Walker:
    """One analysis: its options and everything it accumulates while walking the spec."""

    def __init__(
        self, source: Source, batch: int, bindings: dict[str, Any], dtype: str, on_layer=None, record: bool = False,
        optimizer: str = "adam", amp: bool = False, explain: bool = False, count_elementwise: bool = False,
    ):
        self.source = source
        self.batch = batch
        self.bindings = bindings
        self.dtype = dtype
        self.on_layer = on_layer  # on_layer(path, call, inference) for every layer
        self.record = record  # build the Plan (verify, export)
        self.optimizer = optimizer
        self.amp = amp
        self.explain = explain  # fill each layer row's worked formulas
        self.count_elementwise = count_elementwise  # element-wise FLOPs per row (Kind.elementwise_flops)
        # activations (and the weights' working copy) are half precision under --amp
        self.act_dtype = ("bfloat16" if dtype == "bfloat16" else "float16") if amp else dtype
        self.mem = Tracker(self.act_dtype)
        self.rows = RowBook(dtype, self.mem.nbytes)
        self.names = Names()
        self.names.rows = self.rows
        self.diagnostics = Diagnostics(source)
        self.cache = InferenceCache()
        self.call_stack: list[str] = []  # the defs being called, outermost first
        self.last_span: Span | None = None  # the statement being walked (where E0505 points)
        self.sharing = Sharing()  # layers by path for tie= and reuse (sharing.py)
        self.here: Tensor | None = None  # the tensor entering the statement being walked: `in`
        self.named_kinds: dict = {}  # (id(Layer), string) -> (Layer, the line with that kind): layers.py
        self.index_reads: dict = {}  # id(repeat Block) -> (Block, whether its body reads its index): repeat.py

    def statements(
        self, body: tuple[Statement, ...], x: Tensor | None, scope: Scope, ctx: Context, top: bool = False
    ) -> tuple[Tensor | None, Totals]:
        try:
            return self._statements(body, x, scope, ctx, top)
        except SpecLimitError as err:
            if err.span is None and body:
                err.span = body[-1].span  # point an unlocated limit at the statement that hit it
            raise

    def _statements(
        self, body: tuple[Statement, ...], x: Tensor | None, scope: Scope, ctx: Context, top: bool
    ) -> tuple[Tensor | None, Totals]:
        totals = Totals()
        index = 0
        while index < len(body):
            stmt = body[index]
            index += 1
            self.last_span = stmt.span  # where a RecursionError is reported (E0505)
            self.here = x
            if type(stmt) is Layer:  # the common statement first
                if x is None:
                    self.require_input(x, stmt.span)
                x, part = (reuse if stmt.kind == "reuse" else layer)(self, stmt, x, scope, ctx)
                totals.add(part)
            elif isinstance(stmt, Let):
                let(stmt, scope, overridden=top and stmt.name in self.bindings)
            elif isinstance(stmt, Def):
                define(stmt, scope)
            elif isinstance(stmt, Input):
                x = input_statement(self, stmt, scope, top, x)
            elif isinstance(stmt, Output):
                output_statement(self, stmt, scope, top)
            elif isinstance(stmt, If):
                taken = taken_branch(stmt, scope)
                if taken is not None:  # its statements run here, as if written in place of the `if`
                    x, part = self._statements(taken, x, scope, ctx, top)
                    totals.add(part)
            elif isinstance(stmt, Block):
                keyword = stmt.keyword
                if keyword == "residual":
                    shortcut = None
                    if index < len(body) and isinstance(body[index], Block) and body[index].keyword == "shortcut":
                        shortcut = body[index]
                        index += 1
                    x = self.require_input(x, stmt.span)
                    x, part = residual(self, stmt, shortcut, x, scope, ctx)
                elif keyword == "shortcut":
                    raise SpecSyntaxError(
                        "`shortcut:` must directly follow a `residual:` block",
                        stmt.span,
                        expected="residual: ... then shortcut: ... at the same indentation",
                        code="E0133",
                    )
                elif keyword == "branch":
                    raise SpecSyntaxError(
                        "`branch:` belongs directly inside `concat:`, `add:` or `multiply:`",
                        stmt.span,
                        code="E0134",
                    )
                elif keyword == "from":
                    x, part = from_block(self, stmt, scope, ctx)
                else:
                    x = self.require_input(x, stmt.span)
                    x, part = BLOCKS[keyword](self, stmt, x, scope, ctx)
                totals.add(part)
            else:  # pragma: no cover
                raise TypeError(stmt)
        return x, totals

    def sizes(self, name: str, span: Span, scope: Scope) -> tuple:
        """The shape (batch first) read by ``NAME[d]``, or ``in[d]``: the tensor entering the line."""
        if name == "in":
            if self.here is None:
                raise SpecNameError(
                    "`in` reads the tensor entering the line, and no tensor enters here",
                    span,
                    expected="`in[d]` on a line after the `input` (or inside a block)",
                    hint="declare the input first; a name's sizes are `NAME[d]`",
                    code="E0211",
                )
            return self.here.info.shape
        return self.names.get(name, span, scope)[1].info.shape

    def require_input(self, x: Tensor | None, span: Span) -> Tensor:
        if x is None:
            raise SpecSyntaxError(
                "a layer comes before any input is declared",
                span,
                expected="an `input` statement first, e.g. `input 3x224x224`",
                hint="declare the network's input at the top: `input SHAPE` (per sample, batch excluded)",
                code="E0130",
            )
        return x
