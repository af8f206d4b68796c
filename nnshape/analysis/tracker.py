"""Follow storages through the forward pass: the inference peak and the bytes saved for backward.

Fed by the walk in execution order. Every tensor value carries a :class:`Token`, its storage (a
view such as ``flatten`` shares its input's), so a tensor saved by two layers, e.g. a ReLU's
output that the next conv saves as its input, is counted once, and what is live at each layer
gives the peak. What each kind saves is its rule (nnshape.memory, :class:`~nnshape.memory.Saved`);
the formulas are in docs/conventions.md ("Memory", "Training memory").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from ..memory import Saved
from ..symbolic import Dim, Poly
from ..tensor import DTYPE_BYTES, TensorInfo, numel


@dataclass(eq=False, slots=True)
class Token:
    """One storage: its bytes and whether autograd tracks it. Compared and hashed by identity."""

    nbytes: Dim
    grad: bool


@dataclass(eq=False)  # compared by identity: nested repeats may hold equal-looking marks
class Checkpoint:
    saved: Dim
    input_saved_before: bool
    referenced: set = field(default_factory=set)  # tokens saved since the mark


class Tracker:
    """The live and saved storages of one analysis (at the activation dtype ``act_dtype``)."""

    def __init__(self, act_dtype: str):
        self.act_dtype = act_dtype
        self.saved_tokens: set[Token] = set()
        self.saved_bytes: Dim = 0
        self.held: dict[Token, int] = {}  # token -> count of holders
        self.held_bytes: Dim = 0  # bytes of the held tokens
        self.peak: Dim = 0
        self.peak_known = True
        self.marks: list[Checkpoint] = []

    # sizes
    def nbytes(self, info: TensorInfo) -> Dim:
        return numel(info.shape) * self.elem_bytes(info.dtype)

    def elem_bytes(self, dtype: str) -> int:
        return DTYPE_BYTES[self.act_dtype] if dtype.startswith(("float", "bfloat")) else DTYPE_BYTES[dtype]

    # holding
    def input(self, nbytes: Dim) -> Token:
        """A network input: no gradient, held by the caller for the whole pass."""
        tok = Token(nbytes, False)
        self.hold(tok)
        return tok

    def hold(self, tok: Token) -> None:
        count = self.held.get(tok, 0)
        if count == 0:
            self.held_bytes = self.held_bytes + tok.nbytes
        self.held[tok] = count + 1

    def release(self, tok: Token) -> None:
        count = self.held.get(tok, 0) - 1
        if count > 0:
            self.held[tok] = count
        elif tok in self.held:
            del self.held[tok]
            self.held_bytes = self.held_bytes - tok.nbytes

    def live(self, *tokens: Token) -> None:
        """Note a moment of the forward pass where the held tensors and ``tokens`` are all live."""
        if not self.peak_known:
            return
        total: Dim = self.held_bytes  # kept up to date by hold/release
        held = self.held
        counted: set[Token] = set()  # a merge of 60,000 branches passes 60,000 tokens
        for tok in tokens:
            if tok not in held and tok not in counted:
                counted.add(tok)
                total = total + tok.nbytes
        if isinstance(total, Poly):
            self.peak_known = False  # a symbolic size: the maximum needs its value
        elif total > self.peak:
            self.peak = total

    # saving
    def save_token(self, tok: Token) -> None:
        for mark in self.marks:
            mark.referenced.add(tok)
        if tok not in self.saved_tokens:
            self.saved_tokens.add(tok)
            self.saved_bytes = self.saved_bytes + tok.nbytes

    def add_saved(self, nbytes: Dim) -> None:
        self.saved_bytes = self.saved_bytes + nbytes

    # events
    def layer(
        self, view: bool, x: Token, extra: tuple[Token, ...], out_bytes: Dim, trainable: Dim, saved_rule: Callable[[], Saved]
    ) -> tuple[Token, Dim]:
        """A leaf layer ran on ``x`` (and the tensor arguments ``extra``): its output's token
        (``x``'s own for a view, else a new one ``out_bytes`` big) and the bytes it newly saves
        (``saved_rule()``, asked only when autograd tracks the layer)."""
        grad = x.grad or any(t.grad for t in extra) or _nonzero(trainable)
        out = x if view else Token(out_bytes, grad)
        self.live(x, *extra, out)
        before = self.saved_bytes
        if grad:
            rule = saved_rule()
            if rule.input:
                self.save_token(x)
            if rule.inputs:
                for tok in extra:
                    self.save_token(tok)
            if rule.output:
                self.save_token(out)
            if _nonzero(rule.floats):
                self.add_saved(rule.floats * DTYPE_BYTES[self.act_dtype])
            if _nonzero(rule.fixed):
                self.add_saved(rule.fixed)
        return out, self.saved_bytes - before

    def merge(self, op: str, inputs: list[Token], out_bytes: Dim, copies: tuple = ()) -> Token:
        """add/multiply/concat/matmul of branch outputs (or a residual's body and skip): the output's
        token. multiply and matmul save their operands; ``copies`` (matmul) gives, per operand, the
        elements of the expanded copy torch saves instead of it (None: the operand itself)."""
        grad = any(t.grad for t in inputs)
        out = Token(out_bytes, grad)
        self.live(*inputs, out)
        if op in ("multiply", "matmul") and grad:
            for i, tok in enumerate(inputs):
                copy = copies[i] if i < len(copies) else None
                if copy is None:
                    self.save_token(tok)
                else:
                    self.add_saved(copy * DTYPE_BYTES[self.act_dtype])
        return out

    def checkpoint(self, first_in: Token) -> Checkpoint:
        mark = Checkpoint(self.saved_bytes, first_in in self.saved_tokens)
        self.marks.append(mark)
        return mark

    def drop(self, mark: Checkpoint) -> None:
        self.marks.remove(mark)

    def repeat_copies(self, mark: Checkpoint, copies: int, first_in: Token, last_out: Token) -> None:
        """A collapsed repeat: the pass just analyzed stands for ``copies`` more identical passes."""
        self.marks.remove(mark)
        if copies <= 0:
            return
        per_pass = self.saved_bytes - mark.saved
        if first_in in mark.referenced and first_in in self.saved_tokens:
            # the pass saves its input: a later pass's input is this pass's output
            if not mark.input_saved_before:
                per_pass = per_pass - first_in.nbytes
            if last_out not in self.saved_tokens:
                per_pass = per_pass + last_out.nbytes
        self.saved_bytes = self.saved_bytes + per_pass * copies


def _nonzero(value: Dim) -> bool:
    return isinstance(value, Poly) or value != 0
