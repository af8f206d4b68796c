"""Bind a line's arguments: one binder for layer kinds and def calls.

A layer line (``conv2d 64 k3 s=2``) and a def call (``stage 64 n=3``) take arguments the same
way: positional in order, ``key=value``, the compact form ``k3`` of a single-letter key (unless
``k3`` is a bound name), each once; missing ones take their defaults. :func:`bind` runs that
match once; a :class:`Params` says what is matched against (a kind's :class:`~nnshape.registry.Arg`
list or a def's parameters): how a value is read and checked, and the error texts. Labels show
the resolved values in the order written (``conv2d 64 k=3 s=2``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from ..errors import NNShapeError, SpecArgumentError, SpecNameError
from ..registry import Arg, Args, Call, Kind, coerce, compact_split
from ..source import Span
from ..suggest import did_you_mean
from ..syntax import Argument, Def, Expr, Layer, Name, Param, expr_text
from ..values import Evaluator, TensorRef, describe

if TYPE_CHECKING:
    from .scopes import Scope

UNIVERSAL_KEYS = ("name", "trainable")


class Params:
    """What a binder matches arguments against. Subclasses give the rules of one callee."""

    def takes(self, letter: str) -> bool:
        """Whether a compact ``k3`` may set the parameter named by ``letter``."""
        raise NotImplementedError

    def positional(self, index: int, arg: Argument) -> Any:
        """The parameter of the ``index``-th positional argument (or an error: too many)."""
        raise NotImplementedError

    def keyword(self, key: str, arg: Argument) -> Any | None:
        """The parameter ``key=`` names; None to skip the argument (an error recovered)."""
        raise NotImplementedError

    def variadic(self, param: Any) -> bool:
        """Whether a positional parameter takes every remaining positional argument."""
        return False

    def more(self, param: Any, arg: Argument, evaluator: Evaluator, bound: "Bound") -> None:
        """One more positional argument of a variadic parameter."""
        raise NotImplementedError

    def duplicate(self, param: Any, arg: Argument) -> NNShapeError:
        raise NotImplementedError

    def value(self, param: Any, arg: Argument, evaluator: Evaluator) -> Any:
        """The value of a written argument."""
        raise NotImplementedError

    def compact(self, param: Any, value: int, arg: Argument) -> Any:
        """The value of a compact ``k3``."""
        return value

    def shown_key(self, arg: Argument, key: str, param: Any, compact: bool) -> str | None:
        """The key the label shows for an argument (None: its value alone)."""
        return None if arg.key is None else param.name

    def finish(self, bound: "Bound") -> None:
        """After the written arguments, before the defaults."""

    def missing(self, param: Any) -> Any:
        """The value of a parameter the line does not give (its default), or an error."""
        raise NotImplementedError

    def all(self) -> tuple:
        """Every parameter, in declaration order."""
        raise NotImplementedError


class Bound:
    """The match of a line's arguments: values and spans by parameter name, and what the label
    shows, in the order written."""

    __slots__ = ("values", "spans", "given", "written")

    def __init__(self):
        self.values: dict[str, Any] = {}
        self.spans: dict[str, Span] = {}
        self.given: set[str] = set()
        self.written: list[tuple[str | None, str]] = []  # (key shown or None, parameter name)


def bind(params: Params, args: list[Argument] | tuple[Argument, ...], scope: "Scope") -> Bound:
    """Match ``args`` against ``params`` (names read from ``scope``); missing ones take defaults."""
    bound = Bound()
    values, spans, given, written = bound.values, bound.spans, bound.given, bound.written
    evaluator = scope.evaluator()
    pos_index = 0
    for arg in args:
        key = arg.key
        compact_value = None
        if key is None and isinstance(arg.value, Name):
            split = compact_split(arg.value.name)
            if split is not None and params.takes(split[0]):
                try:
                    scope.lookup(arg.value.name)
                except KeyError:
                    key, compact_value = split
        if key is None:
            param = params.positional(pos_index, arg)
            if params.variadic(param):
                params.more(param, arg, evaluator, bound)
                continue
            pos_index += 1
        else:
            param = params.keyword(key, arg)
            if param is None:
                continue
        name = param.name
        if name in given:
            raise params.duplicate(param, arg)
        given.add(name)
        written.append((params.shown_key(arg, key, param, compact_value is not None), name))
        if compact_value is None:
            spans[name] = arg.value.span
            values[name] = params.value(param, arg, evaluator)
        else:
            spans[name] = arg.span
            values[name] = params.compact(param, compact_value, arg)
    params.finish(bound)
    for param in params.all():
        name = param.name
        if name not in values:
            values[name] = params.missing(param)
    return bound


def label(kind_text: str, bound: Bound, fmt: Callable[[str, Any], str]) -> str:
    """The line with resolved values: ``conv2d 64 k=3 s=2``."""
    shown = [(key, fmt(name, bound.values[name])) for key, name in bound.written]
    return " ".join([kind_text] + [text if key is None else f"{key}={text}" for key, text in shown])


# ----------------------------------------------------------------------------- layer kinds


class KindParams(Params):
    """A layer kind's arguments (registry.Arg): values coerced by type; an unknown key is an
    error the analysis steps over (``recover``) to find more."""

    def __init__(self, kind: Kind, stmt: Layer, recover: Callable[[NNShapeError], None]):
        self.kind = kind
        self.stmt = stmt
        self.recover = recover
        self.positionals, self.tensor_args, self.uniform, self.defaults = _arg_groups(kind)
        self.ndim = getattr(kind, "ndim", None)
        self.variadic_items: list[tuple[Any, Span]] = []
        self.variadic_spec: Arg | None = None

    def takes(self, letter: str) -> bool:
        return self.kind.arg(letter) is not None

    def positional(self, index: int, arg: Argument) -> Arg:
        if index >= len(self.positionals):
            kind = self.kind
            names = ", ".join(a.name for a in self.positionals) or "none"
            raise SpecArgumentError(
                f"{kind.name}: too many positional arguments",
                arg.span,
                expected=f"at most {len(self.positionals)} positional ({names}); others as key=value",
                found=f"'{expr_text(arg.value)}'",
                hint="keys: " + ", ".join(a.short + "=" for a in kind.args if not a.positional),
                code="E0310",
            )
        return self.positionals[index]

    def more(self, spec: Arg, arg: Argument, evaluator: Evaluator, bound: Bound) -> None:
        """One more item of a variadic positional (``permute 0 2 1``), coerced when all are read."""
        self.variadic_spec = spec
        self.variadic_items.append((eval_arg(spec, arg.value, evaluator), arg.span))
        bound.spans.setdefault(spec.name, arg.span)
        if spec.name not in bound.given:
            bound.written.append((None, spec.name))
        bound.given.add(spec.name)

    def keyword(self, key: str, arg: Argument) -> Arg | None:
        spec = self.kind.arg(key)
        if spec is None:
            kind = self.kind
            accepted = [k for a in kind.args for k in a.keys]
            self.recover(SpecNameError(
                f"{kind.name} has no argument '{key}'",
                arg.key_span or arg.span,
                expected="one of: " + ", ".join(a.name + (f" ({'/'.join(a.aliases)})" if a.aliases else "") for a in kind.args),
                found=f"'{key}'",
                hint=did_you_mean(key, accepted + list(UNIVERSAL_KEYS)),
                code="E0207",
            ))
        return spec

    def duplicate(self, spec: Arg, arg: Argument) -> NNShapeError:
        return SpecArgumentError(
            f"{self.kind.name}: '{spec.name}' is given twice",
            arg.span,
            hint="pass each argument once, positionally or as key=value",
            code="E0311",
        )

    def value(self, spec: Arg, arg: Argument, evaluator: Evaluator) -> Any:
        return coerce(self.kind, spec, eval_arg(spec, arg.value, evaluator), arg.value.span, self.ndim)

    def compact(self, spec: Arg, value: int, arg: Argument) -> Any:
        return coerce(self.kind, spec, value, arg.span, self.ndim)

    def shown_key(self, arg: Argument, key: str, spec: Arg, compact: bool) -> str | None:
        return None if arg.key is None and not compact else key  # the key as written: k, kernel_size

    def variadic(self, spec: Arg) -> bool:
        return spec.variadic

    def finish(self, bound: Bound) -> None:
        spec = self.variadic_spec
        if spec is not None:
            raw_items = tuple(v for v, _ in self.variadic_items)
            raw = raw_items[0] if len(raw_items) == 1 else raw_items
            bound.values[spec.name] = coerce(self.kind, spec, raw, self.variadic_items[0][1], self.ndim)

    def all(self) -> tuple[Arg, ...]:
        return self.kind.args

    def missing(self, spec: Arg) -> Any:
        if spec.name in self.defaults:
            return self.defaults[spec.name]
        kind, stmt = self.kind, self.stmt
        if spec.required:
            form = f"{spec.name}=..." if not spec.positional else f"{spec.name} (positional)"
            example = kind.examples[0].split("|", 1)[-1].strip() if kind.examples else kind.name
            raise SpecArgumentError(
                f"{kind.name} needs '{spec.name}'",
                Span(stmt.span.line, stmt.span.col, len(stmt.kind)),
                expected=f"{form}" + (f", also written {', '.join(spec.aliases)}" if spec.aliases else ""),
                found=f"`{stmt.text}`",
                hint=f"e.g. `{example}`",
                code="E0312",
            )
        return coerce(kind, spec, spec.default, stmt.span, self.ndim) if spec.type in ("size", "padding") else spec.default


def eval_arg(spec: Arg, expr: Expr, evaluator: Evaluator) -> Any:
    """An argument's raw value by its type: a tensor's name, a bare word for a string choice
    (``mode=bilinear``, ``p=same``), else the expression's value."""
    if spec.type == "tensor":
        if not isinstance(expr, Name):
            raise SpecArgumentError(
                f"'{spec.name}' takes the name of a tensor",
                expr.span,
                expected="a named input or a tensor stored with `as NAME` (or `from ... as NAME`)",
                found=expr_text(expr),
                code="E0308",
            )
        return expr.name
    if isinstance(expr, Name) and spec.type in ("str", "bool", "padding"):
        try:
            return evaluator.lookup(expr.name)
        except KeyError:
            if spec.type in ("str", "padding"):
                return expr.name  # bare words for string choices: mode=bilinear, p=same
            raise SpecArgumentError(
                f"'{spec.name}' takes true or false",
                expr.span,
                expected="true or false",
                found=f"'{expr.name}'",
                hint=did_you_mean(expr.name, ("true", "false")),
                code="E0303",
            ) from None
    return evaluator.eval(expr)


def bind_kind(kind: Kind, stmt: Layer, args: list[Argument], scope: "Scope", recover: Callable[[NNShapeError], None]) -> tuple[Bound, KindParams]:
    """A layer line's arguments bound to its kind's (tensor arguments still as names)."""
    params = KindParams(kind, stmt, recover)
    return bind(params, args, scope), params


def kind_call(kind: Kind, stmt: Layer, bound: Bound, params: KindParams, x, tensors: dict) -> Call:
    """The Call a kind's rules see, with its label (``tensors``: the tensor arguments' infos)."""
    call = Call(kind, Args(bound.values, frozenset(bound.given)), x, stmt.span, bound.spans, tensors)
    uniform = params.uniform
    call.label = label(stmt.kind, bound, lambda name, value: format_value(value, uniform.get(name, False)))
    return call


def _arg_groups(kind: Kind):
    """Per kind, once: positional args, tensor args, size-like args, and the defaults that need
    no coercion at call time (binding runs for every layer of a spec that is not reused)."""
    groups = kind.__dict__.get("_arg_groups")
    if groups is None:
        positional = [a for a in kind.args if a.positional]
        tensor_args = [a for a in kind.args if a.type == "tensor"]
        # label style per argument: sizes shown once when uniform (k=3), dim lists as tuples
        uniform = {a.name: True for a in kind.args if a.type in ("size", "padding")}
        uniform.update({a.name: "tuple" for a in kind.args if a.type == "ints"})
        uniform.update({a.name: "name" for a in kind.args if a.name == "tie"})  # tie=wte names a layer: no quotes
        ndim = getattr(kind, "ndim", None)
        defaults = {}
        for a in kind.args:
            if not a.required:
                defaults[a.name] = coerce(kind, a, a.default, Span(1, 1), ndim) if a.type in ("size", "padding") else a.default
        groups = (positional, tensor_args, uniform, defaults)
        kind.__dict__["_arg_groups"] = groups
    return groups


# ----------------------------------------------------------------------------- def calls


class DefParams(Params):
    """A def's parameters: any value, a key matched case-insensitively; defaults are evaluated
    where the def was written. A bare name that no constant binds but a tensor does is passed
    as that tensor (``up 256 e3``): ``tensor_key(name)`` gives its key, or None."""

    def __init__(self, defn: Def, def_scope: "Scope", stmt: Layer, tensor_key: Callable[[str], str | None] | None = None):
        self.defn = defn
        self.def_scope = def_scope
        self.stmt = stmt
        self.tensor_key = tensor_key
        self.names = [p.name for p in defn.params]

    def takes(self, letter: str) -> bool:
        return letter in self.names

    def positional(self, index: int, arg: Argument) -> Param:
        defn = self.defn
        if index >= len(defn.params):
            raise SpecArgumentError(
                f"{defn.name}() takes {len(defn.params)} argument(s)",
                arg.span,
                expected=f"at most {len(defn.params)} positional: {', '.join(self.names) or 'none'}",
                found=f"'{expr_text(arg.value)}'",
                code="E0310",
            )
        return defn.params[index]

    def keyword(self, key: str, arg: Argument) -> Param:
        names = self.names
        if key not in names and key in {p.lower() for p in names}:
            key = next(p for p in names if p.lower() == key)
        if key not in names:
            raise SpecNameError(
                f"{self.defn.name}() has no parameter '{key}'",
                arg.key_span or arg.span,
                expected="one of: " + (", ".join(names) or "(none)"),
                found=f"'{key}'",
                hint=did_you_mean(key, names),
                code="E0207",
            )
        return self.defn.params[names.index(key)]

    def duplicate(self, param: Param, arg: Argument) -> NNShapeError:
        return SpecArgumentError(f"{self.defn.name}(): '{param.name}' is given twice", arg.span, code="E0311")

    def value(self, param: Param, arg: Argument, evaluator: Evaluator) -> Any:
        expr = arg.value
        if isinstance(expr, Name) and self.tensor_key is not None:
            try:
                evaluator.lookup(expr.name)
            except KeyError:
                key = self.tensor_key(expr.name)
                if key is not None:
                    return TensorRef(expr.name, key)
        return evaluator.eval(expr)

    def all(self) -> tuple[Param, ...]:
        return self.defn.params

    def missing(self, param: Param) -> Any:
        if param.default is None:
            raise SpecArgumentError(
                f"{self.defn.name}() needs '{param.name}'",
                self.stmt.span,
                expected=f"a value for '{param.name}' (defined at line {param.span.line})",
                found=f"`{self.stmt.text}`",
                code="E0312",
            )
        return self.def_scope.evaluator().eval(param.default)


def bind_def(
    defn: Def, def_scope: "Scope", stmt: Layer, args: list[Argument], scope: "Scope", tensor_key: Callable[[str], str | None] | None = None,
) -> tuple[dict[str, Any], str]:
    """A def call's arguments: the parameters' values (in the order bound; a tensor passed by
    name as a TensorRef), and the call's label."""
    bound = bind(DefParams(defn, def_scope, stmt, tensor_key), args, scope)
    return bound.values, label(stmt.kind, bound, lambda name, value: format_value(value))


# ----------------------------------------------------------------------------- name=, trainable=, labels


def split_universal(args: tuple[Argument, ...], scope: "Scope", owns: Callable[[str], bool]) -> tuple[dict[str, Any], list[Argument]]:
    """Take out `name=` and `trainable=`, which every layer and call accepts."""
    universal: dict[str, Any] = {}
    rest: list[Argument] = []
    for arg in args:
        if arg.key in UNIVERSAL_KEYS and not owns(arg.key):
            if arg.key == "name":
                value = arg.value.name if isinstance(arg.value, Name) else scope.evaluator().eval(arg.value)
                if not isinstance(value, str) or not value.isidentifier() or not value.isascii():
                    raise SpecArgumentError(
                        "a layer name must be a plain identifier",
                        arg.value.span,
                        expected="letters, digits and '_' (e.g. name=conv1)",
                        found=describe(value),
                        code="E0307",
                    )
            else:
                value = scope.evaluator().eval(arg.value)
                if not isinstance(value, bool):
                    raise SpecArgumentError(
                        "trainable= takes true or false", arg.value.span, found=describe(value), code="E0307"
                    )
            universal[arg.key] = value
        else:
            rest.append(arg)
    return universal, rest


def format_value(value: Any, uniform: bool | str = False) -> str:
    """A resolved argument as spec text: 64, 3x5, 0.5, true, 'same'. With ``uniform``, a size
    whose entries are all equal is shown once (k=3 is stored as (3, 3)); with ``"tuple"`` (dim
    lists: permute, mean, pad, roll) or a negative entry, a tuple is written (0, 2, -1)."""
    if isinstance(value, tuple) and value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        if uniform is True and len(set(value)) == 1:
            return str(value[0])
        if uniform == "tuple" or any(v < 0 for v in value):
            return str(value[0]) if len(value) == 1 else "(" + ", ".join(str(v) for v in value) + ")"
        return "x".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    if uniform == "name" and isinstance(value, str):
        return value
    return describe(value)


def labelled(text: str, universal: dict[str, Any]) -> str:
    """Row label: the statement with resolved values, its name first, a freeze marked."""
    if universal.get("trainable") is False:
        text += " trainable=false"
    if "name" in universal:
        text = f"{universal['name']}: {text}"
    return text
