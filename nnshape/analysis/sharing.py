"""Weight sharing: ``tie=NAME`` on ``linear``/``embedding``, ``reuse NAME`` (rerun.py runs it),
``repeat N shared:``.

PyTorch counts a parameter once however many layers use it (``model.parameters()`` yields each
tensor once) and computes at every use. So a row that shares counts no new parameters (a tied
layer still counts its own bias), all its MACs, and says what it shares (``LayerRow.shares``:
``tied to wte`` / ``shared with 3.0.attn``). Weights, gradients and optimizer state follow the
parameter totals (once); activations and saved tensors follow the rows (every use).

Names. Every layer, ``block NAME:`` and def call is recorded under its row path as the walk
passes it. ``tie=``/``reuse`` name one by its label, the last segment of its path (or the last
few: ``encoder.shared``). Of several, one in the line's own block or an enclosing one wins (the
innermost), as a name in a program's scope would; else one inside another block, if it is the
only one; else the name is ambiguous. A layer inside a plain ``repeat N:`` has N
sets of weights, so only its own pass may name it.

Running again. ``reuse`` runs its target's statement again where it stands, and a later pass of
a shared repeat runs the body again; meanwhile a *map* sends each new row path to the path it
repeats, and the layer there lends the new one every parameter and buffer, once both are
checked to build the same module (the same twin).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import SpecArgumentError, SpecNameError, SpecShapeError
from ..registry import Call, Inference, Kind
from ..source import Span
from ..suggest import did_you_mean
from ..symbolic import Dim, Poly
from ..syntax import Argument, Layer, Name, expr_text
from ..tensor import format_shape

if TYPE_CHECKING:
    from .scopes import Scope
    from .walk import Walker

MAX_LISTED = 8  # paths listed by an ambiguous name's error


class Entry(NamedTuple):
    """A layer, ``block NAME:`` or def call, as ``tie=``/``reuse`` find it."""

    path: str
    kind: str  # the layer's kind, "block" or "call"
    stmt: Any  # the Layer or Block statement, run again by `reuse`
    scope: Any  # the Scope it ran in
    call: Call | None  # a layer's call (its twin, its tied weight)
    root: str  # the path whose parameters it holds: its own, or the row it shares them with
    grad: bool  # a layer whose parameters train (autograd tracks it even on an input without grad)
    passes: tuple  # the repeat passes around it: (pass path, shared, count), outermost first


class Share(NamedTuple):
    """What a layer row shares: ``what`` ("weight" or "module") of the row at ``path``, and the
    parameters and buffers counted there rather than here."""

    what: str
    path: str
    params: Dim
    buffers: Dim
    grad: bool


class Sharing:
    """The layers and blocks seen so far, the repeat passes being walked, and the maps of the runs
    that repeat earlier rows."""

    def __init__(self):
        self.entries: dict[str, Entry] = {}
        self.by_last: dict[str, list[str]] = {}  # the last path segment -> paths
        self.passes: tuple = ()
        self.shared_passes = 0  # shared repeat passes being walked
        self.maps: list[tuple[str, str, str, Span | None]] = []  # (new path, the path it repeats, what runs again, its line)

    # ------------------------------------------------------------------ recording
    def note(self, entry: Entry) -> None:
        self.entries[entry.path] = entry
        self.by_last.setdefault(entry.path.rsplit(".", 1)[-1], []).append(entry.path)

    def enter_pass(self, pass_path: str, first_path: str, shared: bool, count: int) -> None:
        """A pass of a repeat begins: names inside it belong to it; a later pass of a shared repeat
        runs pass 0's layers again. (Plain calls, not a context manager: a repeat of 10⁵
        unrolled passes calls this 10⁵ times.)"""
        self.passes = self.passes + ((pass_path, shared, count),)
        if shared:
            self.shared_passes += 1
            if pass_path != first_path:
                self.maps.append((pass_path, first_path, f"pass {pass_path.rsplit('.', 1)[-1]} of `repeat {count} shared:`", None))

    def leave_pass(self) -> None:
        pass_path, shared, _ = self.passes[-1]
        self.passes = self.passes[:-1]
        if shared:
            self.shared_passes -= 1
            if self.maps and self.maps[-1][0] == pass_path:
                self.maps.pop()

    def wanted(self, path: str) -> bool:
        """Whether a layer at ``path`` may ever be named or repeated: its path has a named
        segment (a name reaches it), or it runs in a shared repeat or a run-again (a map reaches
        it). Rows of plain unnamed structure are not kept (a 10⁵-row spec of them costs nothing)."""
        return bool(self.shared_passes or self.maps) or not path.replace(".", "").isdigit()

    def mapped(self, path: str) -> tuple[str, str, Span | None] | None:
        """The path a row of a run-again repeats, what runs again and the line that runs it (None
        outside such a run)."""
        for new, old, origin, span in reversed(self.maps):
            if path == new or path.startswith(new + "."):
                return old + path[len(new):], origin, span
        return None

    # ------------------------------------------------------------------ lookup
    def find(self, name: str, span: Span, here: str, use: str) -> Entry:
        """The entry ``name`` means on a line in the block at path ``here`` (E0220, E0221, E0222)."""
        segments = name.split(".")
        paths = [p for p in self.by_last.get(segments[-1], ()) if p.split(".")[-len(segments):] == segments]
        if not paths:
            labels = sorted({p.rsplit(".", 1)[-1] for p in self.entries if not p.rsplit(".", 1)[-1].isdigit()})
            raise SpecNameError(
                f"{use}: no layer, block or def call named '{name}' before this line",
                span,
                expected="the label of an earlier layer (`wte: embedding 50257 768`), a `block NAME:`, or a dotted path `encoder.shared`",
                found=f"'{name}'",
                hint=did_you_mean(name, labels) or (
                    "labelled so far: " + ", ".join(labels[:20]) if labels else "label the layer first: `NAME: kind ...`"
                ),
                code="E0220",
            )
        # visible first: a label in the line's block or an enclosing one, the innermost winning;
        # else a label inside another block, if only one has it
        visible = [p for p in paths if _encloses(p.rsplit(".", 1)[0] if "." in p else "", here)]
        if visible:
            deepest = max(p.count(".") for p in visible)
            nearest = [p for p in visible if p.count(".") == deepest]
        else:
            nearest = paths
        if len(nearest) > 1:
            listed = ", ".join(nearest[:MAX_LISTED]) + (f" and {len(nearest) - MAX_LISTED:,} more" if len(nearest) > MAX_LISTED else "")
            raise SpecNameError(
                f"{use}: '{name}' names {len(nearest):,} layers or blocks",
                span,
                expected="a name that only one earlier layer or block has, or a dotted path",
                found=listed,
                hint=f"write the path, e.g. `{_dotted(nearest[0], len(segments))}`, or give the layers different labels",
                code="E0221",
            )
        entry = self.entries[nearest[0]]
        for pass_path, shared, count in entry.passes:
            if not shared and count > 1 and not _encloses(pass_path, here):
                raise SpecNameError(
                    f"{use}: '{name}' ({entry.path}) is inside a `repeat {count}:` whose passes each have their own weights",
                    span,
                    expected="a layer outside the repeat, or one of the same pass",
                    found=f"{entry.path}, in pass {pass_path.rsplit('.', 1)[-1]} of the repeat at {pass_path.rsplit('.', 1)[0]}",
                    hint=f"to use one set of weights in every pass, write `repeat {count} shared:`",
                    code="E0222",
                )
        return entry


def _encloses(block: str, here: str) -> bool:
    """Whether the block at path ``block`` ("" for the spec) is ``here`` or encloses it."""
    return block == "" or here == block or here.startswith(block + ".")


def _dotted(path: str, at_least: int) -> str:
    """The shortest dotted suffix of ``path`` (of at least ``at_least`` + 1 segments) that names it."""
    parts = path.split(".")
    return ".".join(parts[-min(len(parts), at_least + 1):])


# ----------------------------------------------------------------------------- a layer row


def layer_share(
    walker: "Walker", kind: Kind, stmt: Layer, call: Call, result: Inference, path: str, here: str, grad: bool
) -> Share | None:
    """What the layer at ``path`` shares: everything, inside a run-again (a reuse, a shared
    repeat's later pass); its weight, with ``tie=``; else nothing."""
    sharing = walker.sharing
    if sharing.maps:
        found = sharing.mapped(path)
        if found is not None:
            return _module_share(sharing, kind, call, result, path, *found)
    if "tied_weight" in type(kind).__dict__ and call.args.given("tie"):
        return _tie(sharing, kind, stmt, call, result, here, grad)
    return None


def _module_share(
    sharing: Sharing, kind: Kind, call: Call, result: Inference, path: str, old: str, origin: str, span: Span | None
) -> Share | None:
    entry = sharing.entries.get(old)
    if entry is None or entry.call is None or entry.kind != kind.name:
        first = f"{entry.kind} at {old}" if entry is not None else f"nothing at {old}"
        raise SpecShapeError(
            f"{origin} runs {kind.name} here, where the first run had {first}",
            span or call.span,
            expected="the same layers as the first run (they share its weights)",
            found=f"{kind.name} at {path}",
            hint="the input's shape chose other layers (an `if`, a repeat that unrolled differently); reuse a part that does not depend on it",
            code="E0473",
        )
    if not _nonzero(result.params) and not _nonzero(result.buffers):
        return None  # nothing to share (an activation, a pooling): the same layer, counted alike
    if kind.twin(call) != entry.call.kind.twin(entry.call):
        raise SpecShapeError(
            f"{origin}: {kind.name} here needs other weights than at {old}, whose weights it shares",
            span or call.span,
            expected=f"the input it had there: {format_shape(entry.call.x.shape)} (or any input the same weights fit)",
            found=f"{format_shape(call.x.shape)}",
            hint="a shared layer keeps its sizes: give it an input with the same features/channels",
            code="E0472",
        )
    return Share("module", entry.root, result.params, result.buffers, entry.grad)


def _nonzero(value: Dim) -> bool:
    return isinstance(value, Poly) or value != 0


def _tie(sharing: Sharing, kind: Kind, stmt: Layer, call: Call, result: Inference, here: str, grad: bool) -> Share:
    raw = next((arg for arg in stmt.args if arg.key == "tie"), None)
    span = raw.value.span if raw is not None else call.span
    name = call.args.tie  # a string: the kind's argument is one (tie='wte' works too)
    if raw is not None and isinstance(raw.value, Name):
        name = raw.value.name  # as written, not a constant's value
    entry = sharing.find(name, span, here, f"tie={name}")
    shape, layout = kind.tied_weight(call)
    target = entry.call
    if target is None or "tied_weight" not in type(target.kind).__dict__:
        what = f"a {entry.kind}" if entry.kind in ("block", "call") else f"{entry.kind}"
        raise SpecShapeError(
            f"tie={name}: {entry.path} is {'a def call' if entry.kind == 'call' else what}, which has no weight a {kind.name} can use",
            span,
            expected="the label of a linear or embedding",
            found=f"{entry.path}: {entry.kind}",
            hint="weights are tied between linear and embedding layers (an LM head and its token embedding)",
            code="E0471",
        )
    their_shape, their_layout = target.kind.tied_weight(target)
    if tuple(their_shape) != tuple(shape):
        raise SpecShapeError(
            f"tie={name}: the weights differ in shape",
            span,
            expected=f"{format_shape(their_shape)}, the weight of {entry.path} ({target.kind.name}: {their_layout})",
            found=f"{format_shape(shape)}, the weight of this {kind.name} ({layout})",
            hint="nn.Linear keeps its weight out × in and nn.Embedding num × dim: an LM head `linear V` on D features "
            "ties with `embedding V D`",
            code="E0470",
        )
    own = 1
    for d in shape:
        own = own * d
    return Share("weight", entry.path, own, 0, grad or entry.grad)


def note_layer(walker: "Walker", kind: Kind, stmt: Layer, scope: "Scope", call: Call, path: str, share: Share | None, grad: bool) -> None:
    sharing = walker.sharing
    if not sharing.wanted(path):
        return
    root = share.path if share is not None and share.what == "module" else path
    sharing.note(Entry(path, kind.name, stmt, scope, call, root, grad or (share is not None and share.grad), sharing.passes))


def note_block(walker: "Walker", kind: str, stmt: Any, scope: "Scope", path: str) -> None:
    """A ``block NAME:`` or a def call, once its body ran (so a body cannot reuse itself)."""
    sharing = walker.sharing
    if not sharing.wanted(path):
        return
    found = sharing.mapped(path) if sharing.maps else None
    root = sharing.entries[found[0]].root if found is not None and found[0] in sharing.entries else path
    sharing.note(Entry(path, kind, stmt, scope, None, root, False, sharing.passes))


# ----------------------------------------------------------------------------- repeat N shared:


def shared_option(args: tuple[Argument, ...], scope: "Scope") -> tuple[tuple[Argument, ...], bool]:
    """A repeat header's arguments without its ``shared`` word (``repeat 12 shared:``, also
    ``shared=true``), and whether it was there (E0370 for another word after the count)."""
    rest: list[Argument] = []
    shared = False
    for i, arg in enumerate(args):
        if arg.key is None and isinstance(arg.value, Name) and i >= 1:
            word = arg.value.name
            if word.lower() != "shared":
                raise SpecArgumentError(
                    f"unknown repeat option '{word}'",
                    arg.value.span,
                    expected="repeat N: or repeat N shared:",
                    found=f"'{word}'",
                    hint=did_you_mean(word.lower(), ("shared",)) or "`shared` applies one set of weights in every pass",
                    code="E0370",
                )
            shared = True
        elif arg.key == "shared":
            value = scope.evaluator().eval(arg.value)
            if not isinstance(value, bool):
                raise SpecArgumentError("shared= takes true or false", arg.value.span, found=expr_text(arg.value), code="E0370")
            shared = value
        else:
            rest.append(arg)
    return tuple(rest), shared
