"""Row bookkeeping: where rows go (paths, depth, plan nodes), their totals, and the limits on them.

A block's row is reserved before its body runs (so it comes first) and filled when the body is
done. Three limits bound what a small spec can make: MAX_ROWS rows, MAX_ROW_TEXT characters of
paths, labels and symbolic sizes, and MAX_UNROLLED_ROWS rows added by repeats that unroll.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable

from ..errors import SpecLimitError, SpecNameError
from ..limits import MAX_ROW_TEXT, MAX_ROWS, MAX_UNROLLED_ROWS
from ..source import Span
from ..summary import LayerRow
from ..symbolic import Dim, Poly
from ..tensor import DTYPE_BYTES, TensorInfo
from .tensors import Tensor


@dataclass
class Totals:
    params: Dim = 0
    trainable: Dim = 0
    buffers: Dim = 0
    macs: Dim = 0
    elementwise: Dim = 0  # element-wise FLOPs (only with --count-elementwise)

    def add(self, other: "Totals", times: int = 1) -> None:
        self.params = self.params + other.params * times
        self.trainable = self.trainable + other.trainable * times
        self.buffers = self.buffers + other.buffers * times
        self.macs = self.macs + other.macs * times
        if other.elementwise != 0:
            self.elementwise = self.elementwise + other.elementwise * times

    def scaled(self, times: int) -> "Totals":
        result = Totals()
        result.add(self, times)
        return result


@dataclass
class Context:
    """Where rows produced now go: the parent path, depth and a counter for child names."""

    path: str
    depth: int
    counter: int = 0
    nodes: list | None = None  # plan nodes of the statements run here (when recording)

    def inner(self, path: str, depth: int | None = None) -> "Context":
        return Context(path, self.depth + 1 if depth is None else depth, nodes=[] if self.nodes is not None else None)

    def record(self, node) -> None:
        if self.nodes is not None:
            self.nodes.append(node)

    used: set = field(default_factory=set)

    def child(self, name: str | None, span: Span | None = None) -> str:
        """The next child's path: its index among its siblings, or the name it was given."""
        segment = name if name is not None else str(self.counter)
        self.counter += 1
        if segment in self.used:
            raise SpecNameError(
                f"two rows in the same block are named '{segment}'",
                span,
                expected="names unique within their block (they form the rows' paths)",
                found=f"'{segment}' again",
                hint="rename one of them",
                code="E0208",
            )
        self.used.add(segment)
        return f"{self.path}.{segment}" if self.path else segment


class RowBook:
    """The rows of one analysis, in order, within their limits."""

    def __init__(self, dtype: str, nbytes: Callable[[TensorInfo], Dim]):
        self.rows: list[LayerRow] = []
        self.param_bytes = DTYPE_BYTES[dtype]  # per parameter or buffer element
        self.nbytes = nbytes  # an activation's bytes (the tracker's rule)
        self.row_chars = 0  # of the rows' paths, labels and symbolic sizes (count_text)
        self.symbolic = False  # an input has a symbolic size: rows may hold polynomials
        self.unrolled_rows = 0

    def __len__(self) -> int:
        return len(self.rows)

    def reserve(self) -> int:
        if len(self.rows) >= MAX_ROWS:
            raise SpecLimitError(
                f"the network has more than {MAX_ROWS:,} rows",
                hint="split the spec, or fold repeated layers into a `repeat` (a body that keeps the shape is computed once)",
                code="E0507",
            )
        self.rows.append(None)  # type: ignore[arg-type]
        return len(self.rows) - 1

    def add(self, row: LayerRow) -> None:
        index = self.reserve()
        self.count_text(row)
        self.rows[index] = row

    def count_text(self, row: LayerRow) -> None:
        """Bound the rows' text: a long name inside a def called many times, or a long symbol in
        the input's shape, is copied into every row, and would make a 100 kB spec into gigabytes
        of paths, labels and symbolic sizes."""
        chars = len(row.path) + len(row.label)
        if self.symbolic:
            chars += sum(_symbolic_chars(value) for value in _sizes(row))
        self.row_chars += chars
        if self.row_chars > MAX_ROW_TEXT:
            raise SpecLimitError(
                f"the rows' paths, labels and symbolic sizes pass {MAX_ROW_TEXT:,} characters",
                expected=f"at most {MAX_ROW_TEXT:,} characters of paths, labels and symbolic sizes in all",
                found=f"row {len(self.rows):,} with {chars:,} characters of them",
                hint="shorten the names given with `name=`, to defs and to size symbols, or call long-named defs fewer times",
                code="E0507",
            )

    def fill(self, index: int, path: str, kind: str, label: str, span: Span, depth: int, inputs: tuple[Tensor, ...],
             out: Tensor, totals: Totals, collapsed: int = 0, explain: tuple[str, ...] = ()) -> None:
        """Fill a block's reserved row: its totals are its body's (``explain``: a merge's formulas)."""
        self.rows[index] = LayerRow(
            path=path,
            kind=kind,
            label=label,
            line=span.line,
            col=span.col,
            depth=depth,
            is_block=True,
            input_shapes=tuple(t.info.shape for t in inputs),
            output_shape=out.info.shape,
            dtype=out.info.dtype,
            params=totals.params,
            trainable_params=totals.trainable,
            buffers=totals.buffers,
            macs=totals.macs,
            collapsed=collapsed,
            activation_bytes=self.nbytes(out.info),
            param_bytes=totals.params * self.param_bytes,
            buffer_bytes=totals.buffers * self.param_bytes,
            receptive_field=out.field,
            explain=explain,
            elementwise_flops=totals.elementwise,
        )
        self.count_text(self.rows[index])

    def freeze(self, start: int) -> None:
        """Rows from ``start`` on train nothing (a def call with trainable=false)."""
        for i in range(start, len(self.rows)):
            if self.rows[i] is not None:
                self.rows[i] = self.rows[i]._replace(trainable_params=0)

    def repeat(self, start: int, times: int, end: int | None = None) -> None:
        """Rows from ``start`` on (to ``end``) stand for ``times`` passes (a collapsed repeat)."""
        for r in range(start, len(self.rows) if end is None else end):
            self.rows[r] = self.rows[r]._replace(repeat=self.rows[r].repeat * times)

    def count_unrolled(self, rows: int, span: Span, found: Callable[[], str]) -> None:
        """A repeat that unrolls added ``rows`` rows; E0507 past MAX_UNROLLED_ROWS."""
        self.unrolled_rows += rows
        if self.unrolled_rows > MAX_UNROLLED_ROWS:
            raise SpecLimitError(
                f"repeats whose body changes the shape unrolled to more than {MAX_UNROLLED_ROWS:,} rows",
                span,
                expected=f"at most {MAX_UNROLLED_ROWS:,} rows from unrolled passes",
                found=found(),
                hint="a `repeat` whose body keeps the shape is computed once; here every pass changes it",
                code="E0507",
            )


_SIZE_FIELDS = ("params", "trainable_params", "buffers", "macs", "activation_bytes", "param_bytes", "buffer_bytes", "saved_bytes", "score_bytes", "kv_cache_bytes")


def _sizes(row: LayerRow):
    """Every size a row prints: its shapes' dims and its counts."""
    for shape in row.input_shapes:
        yield from shape
    yield from row.output_shape
    for name in _SIZE_FIELDS:
        yield getattr(row, name)


@functools.lru_cache(maxsize=4096)
def _symbolic_chars(value: Dim) -> int:
    """How long a size prints, for the symbolic ones (numbers print short: they are not counted)."""
    return len(str(value)) if isinstance(value, Poly) else 0
