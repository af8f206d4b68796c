"""The layer catalogue: every kind registered by name, each defined in one place.

A kind is a subclass of :class:`Kind` decorated with :func:`register`: one class in one file of
``nnshape/kinds/`` holds all of it. It declares its arguments (:class:`Arg`), documents itself
(``doc``, ``formulas``, ``examples``) and implements:

* ``infer(call) -> Inference``: the shape, parameter, buffer and MAC rules, pure Python;
* ``twin(call) -> Twin``: its PyTorch twin as data, a ``torch.nn`` class or one of
  the nnshape/twins package and its keyword arguments (``build(call)`` constructs it, ``export`` writes it);
* its memory rule: ``saves = "input" | "output" | "nothing"``, or a ``saved(call, result)``
  method when the rule depends on the arguments; ``is_view = True`` when the output shares the
  input's storage;
* ``param_tensors(call)``: the parameter tensors its twin holds, (name, shape) in the twin's
  ``named_parameters()`` order (what FSDP pads, ZeRO hands out and tensor parallelism cuts:
  nnshape.planning); every kind with parameters states it, the default is none;
* optionally ``receptive_field``, ``explain`` and ``rank_hint``.

The twin's ``forward`` takes the main input, then one tensor per ``tensor`` argument that is
set (``kv=memory``), in the order the arguments are declared, and returns one tensor.
``examples`` are small spec snippets the test-suite runs through every part (tests/test_registry.py).
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import ClassVar, NamedTuple, NoReturn

# the argument part lives in nnshape/arguments.py; its names stay importable from here
from .arguments import ARG_TYPES, REQUIRED, Arg, Args, coerce, compact_split, format_default  # noqa: F401
from .errors import SpecArgumentError, SpecLimitError, SpecNameError, SpecShapeError
from .memory import INPUT, NOTHING, OUTPUT, Saved
from .source import Span
from .suggest import close_matches, phrase, ranked_matches
from .symbolic import Dim, Poly
from .tensor import Shape, TensorInfo, format_shape
from .twinspec import Twin
from .values import describe
from .safetext import one_line


@dataclass(frozen=True, slots=True)
class Inference:
    """What a layer does to one input: output shape (batch first) and its costs."""

    shape: Shape
    params: Dim = 0
    buffers: Dim = 0
    macs: Dim = 0
    dtype: str | None = None  # None: float input keeps its dtype, integer input becomes float32
    details: tuple[tuple[str, str], ...] = ()  # shown in the kernel/stride column
    scores: Dim = 0  # attention: elements of the score matrix N×H×Lq×Lk (per attention block)
    # what FlopCounterMode counts on the twin where ``macs`` holds an analytic part it cannot see
    # (a state-space scan); None: the two agree. verify and the tests compare the measurement with it.
    counted_macs: Dim | None = None
    # a decode step (cache=P): elements of the keys and values the layer's cache holds after it,
    # 2·N·kv_heads·head_dim·(P + L) (the summary's KV cache bytes; 0 without cache=)
    kv_cache: Dim = 0


@dataclass(frozen=True)
class Field:
    """The receptive field of output position 0 along one spatial axis, in input coordinates.

    ``size``: how many input positions it spans; ``jump``: input positions between neighbouring
    outputs (the effective stride); ``start``: the input coordinate of its *first* element
    (negative when it reaches into padding). Output position i spans
    ``[start + i·jump, start + i·jump + size − 1]``. See docs/conventions.md.
    """

    size: int
    jump: int
    start: int

    def window(self, kernel: int, stride: int, padding: int, dilation: int = 1) -> "Field":
        """After a sliding window: r + (K−1)·D·j, j·S, start − P·j."""
        return Field(self.size + (kernel - 1) * dilation * self.jump, self.jump * stride, self.start - padding * self.jump)

    def to_dict(self) -> dict:
        return {"size": self.size, "jump": self.jump, "start": self.start}


class FieldWarning(NamedTuple):
    """A warning of :meth:`Kind.field_warnings`, located at ``arg`` (None: the kind)."""

    message: str
    arg: str | None
    code: str
    hint: str | None = None


GLOBAL = "global"  # receptive field: every output position sees the whole input
RF_KEEPING_FAMILIES = ("activation", "norm", "regularization")


@dataclass(slots=True)
class Call:
    """One use of a kind: resolved arguments, the incoming tensor(s) and where it was written."""

    kind: "Kind"
    args: Args
    x: TensorInfo
    span: Span
    arg_spans: dict[str, Span] = field(default_factory=dict)
    tensors: dict[str, TensorInfo] = field(default_factory=dict)  # tensor-typed args, by arg name
    warnings: list[tuple[str, Span, str, str | None]] = field(default_factory=list)  # message, span, code, hint
    label: str = ""  # the statement with resolved values, e.g. "conv2d 64 k=7 s=2 p=3"

    @property
    def extra_inputs(self) -> tuple[TensorInfo, ...]:
        if not self.tensors:  # the common case: no kv=/memory= tensors
            return ()
        return tuple(self.tensors[a.name] for a in self.kind.args if a.type == "tensor" and a.name in self.tensors)

    def span_of(self, arg: str | None) -> Span:
        return self.arg_spans.get(arg, self.span) if arg else self.span

    def fail(
        self,
        message: str,
        *,
        arg: str | None = None,
        expected: str | None = None,
        found: str | None = None,
        hint: str | None = None,
        code: str,
    ) -> NoReturn:
        """Raise the error of ``code``'s family (E03xx argument, E04xx shape, E05xx limit)."""
        cls = {"E03": SpecArgumentError, "E05": SpecLimitError}.get(code[:3], SpecShapeError)
        raise cls(f"{self.kind.name}: {message}", self.span_of(arg), expected=expected, found=found, hint=hint, code=code)

    def bad_arg(self, arg: str, message: str, *, expected: str | None = None, hint: str | None = None) -> NoReturn:
        value = self.args.as_dict().get(arg)
        self.fail(message, arg=arg, expected=expected, found=describe(value), hint=hint, code="E0303")

    def warn(self, message: str, arg: str | None = None, *, code: str = "W0401", hint: str | None = None) -> None:
        """A warning located at ``arg`` (or the kind); ``code`` is its meaning in docs/errors.md."""
        self.warnings.append((f"{self.kind.name}: {message}", self.span_of(arg), code, hint))

    def expect_rank(self, *ranks: int, layout: str) -> None:
        """Fail unless the input (batch included) has one of ``ranks`` dimensions."""
        if self.x.rank not in ranks:
            wanted = " or ".join(f"{r}-D" for r in ranks)
            self.fail(
                f"expects a {wanted} input ({layout}), found a {self.x.rank}-D tensor",
                expected=f"shape {layout}",
                found=format_shape(self.x.shape),
                hint=per_sample_hint(self.x.shape, ranks) or self.kind.rank_hint(self.x.rank),
                code="E0402",
            )

    def dim_index(self, dim: int, arg: str, rank: int | None = None, extra: int = 0) -> int:
        """Normalize a PyTorch dim index (negative from the end) against the input's rank."""
        rank = self.x.rank if rank is None else rank
        size = rank + extra
        if not -size <= dim < size:
            self.fail(
                f"dim {dim} is out of range for a {rank}-D input",
                arg=arg,
                expected=f"a dim in [{-size}, {size - 1}] (dim 0 is the batch)",
                found=f"{dim} for shape {format_shape(self.x.shape)}",
                code="E0403",
            )
        return dim % size

    def concrete(self, value: Dim, what: str) -> int:
        """The integer value of a size, or a located error naming the symbol to bind."""
        if isinstance(value, Poly):
            syms = value.symbols
            self.fail(
                f"{what} needs the value of {', '.join(syms)}",
                expected="a known size",
                found=str(value),
                hint=" ".join(f"`--set {s}=...`" for s in syms) + " or `let` it in the spec",
                code="E0404",
            )
        return value


SIMPLE_RULES = {"input": INPUT, "output": OUTPUT, "nothing": NOTHING}  # the values of Kind.saves

ParamTensor = tuple[str, tuple[Dim, ...]]  # (name inside the twin, shape) of one parameter tensor


class Kind:
    """Base class of every layer kind. Subclasses set the class attributes and the rules."""

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    family: ClassVar[str] = "other"
    doc: ClassVar[str] = ""
    torch_twin: ClassVar[str] = ""
    args: ClassVar[tuple[Arg, ...]] = ()
    formulas: ClassVar[tuple[str, ...]] = ()
    examples: ClassVar[tuple[str, ...]] = ()
    accepts: ClassVar[str] = "float"  # input dtypes: "float", "int" (token ids) or "any" (shape-only ops)
    # memory: what autograd keeps for the backward, "input", "output" or "nothing" ("": saved() says)
    saves: ClassVar[str] = ""
    is_view: ClassVar[bool] = False  # the output shares the input's storage (flatten, permute, ...)

    def infer(self, call: Call) -> Inference:  # pragma: no cover - abstract
        raise NotImplementedError

    def twin(self, call: Call) -> Twin:  # pragma: no cover - abstract
        """The torch twin of this call as data: ``Twin.nn("Linear", in_features=..., ...)`` or
        ``Twin.own("Attention", ...)`` for a module of the nnshape/twins package. Pure: no torch here."""
        raise NotImplementedError(f"layer kind '{self.name}' defines no twin")

    def build(self, call: Call):
        """The twin as a torch module (imports torch)."""
        return self.twin(call).build()

    def rank_hint(self, rank: int) -> str | None:
        return None

    def param_tensors(self, call: Call) -> tuple[ParamTensor, ...]:
        """The parameter tensors the twin of ``call`` holds: (name, shape) as its
        ``named_parameters()`` gives them, in that order; their sizes add up to the inferred params.
        The device plan shards tensor by tensor (FSDP pads each to a multiple of the ranks, ZeRO
        hands whole tensors out, tensor parallelism cuts them), so a count alone is not enough.
        A kind without parameters keeps this default: none."""
        return ()

    keeps_grid: ClassVar[bool | None] = None  # None: by family (RF_KEEPING_FAMILIES keep it)

    def receptive_field(self, call: Call, result: Inference, field: tuple[Field, ...]):
        """This layer's receptive field from its input's (one :class:`Field` per spatial dim 2…):
        a tuple of Field, ``GLOBAL``, or None (the grid ends: reshapes, irregular windows,
        unsupported kinds). The default keeps the grid for pointwise kinds (activations, norms,
        dropout) whose output has the input's spatial shape; window kinds override it."""
        keeps = self.keeps_grid if self.keeps_grid is not None else self.family in RF_KEEPING_FAMILIES
        same = len(result.shape) == len(call.x.shape) and tuple(result.shape[2:]) == tuple(call.x.shape[2:])
        return field if keeps and same else None

    elementwise_per_element: ClassVar[int] = 0  # element-wise FLOPs per output element (an activation: 1)
    elementwise_modelled: ClassVar[bool] = True  # False: a composite kind whose element-wise FLOPs nnshape does not count yet (said under the table)

    def elementwise_flops(self, call: Call, result: Inference) -> Dim:
        """The FLOPs this layer spends outside multiply-accumulates (activations, norms, softmax,
        pooling, bias additions), counted only with ``--count-elementwise``. The convention is
        DeepSpeed's flops profiler (which calflops reuses), extended to kinds it does not patch;
        docs/conventions.md, "Element-wise FLOPs", gives every family's rule. The default:
        ``elementwise_per_element`` FLOPs per output element."""
        if not self.elementwise_per_element:
            return 0
        total: Dim = self.elementwise_per_element
        for dim in result.shape:
            total = total * dim
        return total

    def explain(self, call: Call, result: Inference) -> list[str]:
        """Worked formulas with this call's numbers (``nnshape explain``). The generic form: the
        shape in → out and the totals; kinds override it with their own formulas. Every
        explanation has a `params = … = N` and a `MACs = … = N` line whose N is the row's value."""
        lines = [f"shape: {format_shape(call.x.shape)} → {format_shape(result.shape)}"]
        lines.append(f"params = {num(result.params)}")
        if result.buffers != 0:
            lines.append(f"buffers = {num(result.buffers)}")
        lines.append(f"MACs = {num(result.macs)}")
        return lines

    warns_on_field: ClassVar[bool] = False  # field_warnings is worth calling

    def field_warnings(self, call: Call, field) -> tuple["FieldWarning", ...]:
        """Warnings that depend on where the input comes from, read from its receptive field
        (a grid tuple, ``GLOBAL`` or None). Asked for every use of the kind (inferences are
        shared between equal inputs; fields are not) when ``warns_on_field`` is set."""
        return ()

    def saved(self, call: Call, result: Inference) -> Saved:
        """What autograd keeps for this layer's backward, as PyTorch's CPU kernels save it (a
        :class:`nnshape.memory.Saved`). ``saves`` names the simple rules; a kind whose rule
        depends on its arguments or shapes overrides this method."""
        rule = SIMPLE_RULES.get(self.saves)
        if rule is None:  # pragma: no cover - tests/test_registry.py checks every kind has a rule
            raise NotImplementedError(f"layer kind '{self.name}' states no memory rule: set `saves` or define `saved`")
        return rule

    def arg(self, key: str) -> Arg | None:
        """The argument a key (name or alias, any case) names, or None."""
        index = self.__dict__.get("_arg_index")
        if index is None:  # built once per kind: analysis looks keys up for every argument written
            index = {k: spec for spec in reversed(self.args) for k in spec.keys}
            self.__dict__["_arg_index"] = index
        return index.get(key.lower())


_REGISTRY: dict[str, Kind] = {}
_NAMES: dict[str, Kind] = {}
_LOADED = False


def register(cls: type[Kind]) -> type[Kind]:
    """Class decorator: add a kind (and its aliases) to the catalogue."""
    kind = cls()
    for key in (cls.name,) + cls.aliases:
        if key in _NAMES and _NAMES[key] is not kind:
            raise ValueError(f"layer kind name '{key}' registered twice")
        _NAMES[key] = kind
    _REGISTRY[cls.name] = kind
    return cls


def _load() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    from . import kinds

    for info in pkgutil.iter_modules(kinds.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{kinds.__name__}.{info.name}")


def all_kinds() -> list[Kind]:
    _load()
    return [_REGISTRY[name] for name in sorted(_REGISTRY)]


def all_names() -> list[str]:
    _load()
    return sorted(_NAMES)


def find(name: str) -> Kind | None:
    if not _LOADED:
        _load()
    return _NAMES.get(name.lower())


def get(name: str) -> Kind:
    kind = find(name)
    if kind is None:
        raise SpecNameError(f"unknown layer kind '{one_line(name)}'", hint=kind_hint(name), code="E0202")
    return kind


# What people write for a kind under another framework's or a function's name (-> our kind), and
# for a block (-> the block keyword).
KIND_SYNONYMS = {
    "chunk": "slice", "narrow": "slice", "split": "slice",
    "reduce_mean": "mean", "reducemean": "mean", "average": "mean", "avg": "mean",
    "reduce_sum": "sum", "reducesum": "sum",
    "max": "amax", "reduce_max": "amax", "reducemax": "amax",
    **{f"{p}pad{d}d": "pad" for p in ("zero", "constant", "reflection", "replication", "circular") for d in (1, 2, 3)},
    "zeropad": "pad", "padding": "pad",
    "hswish": "hardswish", "hsigmoid": "hardsigmoid",
    "depth_to_space": "pixelshuffle", "space_to_depth": "pixelunshuffle",
    "expand_dims": "unsqueeze", "shift": "roll",
}
BLOCK_SYNONYMS = {"cat": "concat", "concatenate": "concat", "mul": "multiply", "skip": "residual"}


def per_sample_hint(shape: tuple, ranks: tuple[int, ...]) -> str | None:
    """For a shape one dim too many whose dim 1 is 1 (`input 1x3x224x224` gives 1×1×3×224×224):
    the torchinfo habit of writing the batch into the input. nnshape adds the batch itself."""
    if len(shape) - 1 not in ranks or len(shape) < 3 or shape[1] != 1:
        return None
    per_sample = "x".join(str(d) for d in shape[2:])
    return (
        f"shapes in `input` are per sample and nnshape puts the batch first itself ({format_shape(shape)} "
        f"has two leading 1s); if the leading 1 was the batch, write `input {per_sample}` and give the "
        "batch size with --batch N"
    )


def kind_hint(word: str, defs: list[str] | tuple[str, ...] = ()) -> str | None:
    """The hint for an unknown kind: a block keyword it names, or up to three kinds (and
    defs, compared by spelling only) it may mean."""
    from .syntax import BLOCK_KEYWORDS

    lowered = word.lower()
    block = BLOCK_SYNONYMS.get(lowered, lowered if lowered in BLOCK_KEYWORDS else None)
    if block is not None:
        return f"`{block}:` is a block, not a layer: write `{block}:` and indent its body (see `nnshape layers` for kinds)"
    _load()
    names = {key: kind.name for key, kind in _NAMES.items()}
    own = close_matches(lowered, defs, n=2) if defs else []  # the spec's own names first
    return phrase(own + [m for m in ranked_matches(lowered, names, KIND_SYNONYMS) if m not in own][: 3 - len(own)])


def num(value: Dim) -> str:
    """A count for explanations: 9,408; a symbolic one as its polynomial, its coefficients
    separated the same way (2,359,296·L)."""
    return f"{value:,}" if isinstance(value, int) else value.format(group=True) if hasattr(value, "format") else str(value)


def product(*factors: Dim) -> str:
    """`64·3·7·7`: factors joined by a middle dot (an empty product is 1)."""
    return "·".join(str(f) for f in factors) or "1"
