"""``nnshape export``: write the network as a standalone, readable PyTorch file, without torch.

The file is the builder's own construction written out: :func:`~nnshape.verifier.builder.walk`
goes through the Plan and, where the builder makes a module, this writer emits one flat line
(``residual_3 = self.append('3', Residual())``, ``residual_3.append('0', nn.Conv2d(...))``): each
layer's constructor is its kind's ``twin(call)`` written as source, and the classes of the
nnshape/twins package it needs are copied as text, read with ``ast`` (what ``inspect.getsource``
gives, without importing torch). So export runs where torch is not installed, and the file builds
the very modules ``verify`` checks. With ``twins="import"`` the file imports them from nnshape
instead.

Everything from the spec reaches the file as a literal (``repr``) or escaped text; the class name
is checked; the code is flat (no nesting grows with the spec) and bounded by
:data:`~nnshape.limits.MAX_EXPORT_BYTES`.
"""

from __future__ import annotations

import ast
import builtins
import functools
import keyword
from importlib import resources

from ..errors import NNShapeError, SpecArgumentError
from ..limits import MAX_EXPORT_BYTES
from ..plan import LayerNode, Plan
from ..source import Source
from ..summary import Summary
from ..symbolic import Poly
from ..twinspec import NotLiteral, Twin, literal
from .builder import Links, walk

TWIN_MODES = ("copy", "import")
CONTAINERS = ("Seq", "Call", "Residual", "Merge", "From", "Network")


class ExportError(NNShapeError):
    code = "E0602"


@functools.cache
def twin_sources() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Every top-level definition of the nnshape/twins package, read as text (no torch): name ->
    (source text, the package's names it uses). Ordered so a class follows its base classes:
    containers.py first, then the other modules by name, each in its file's order."""
    package = resources.files("nnshape").joinpath("twins")
    files = sorted((f for f in package.iterdir() if f.name.endswith(".py") and f.name != "__init__.py"),
                   key=lambda f: (f.name != "containers.py", f.name))
    found: dict[str, tuple[str, ast.AST]] = {}
    for file in files:
        text = file.read_text(encoding="utf-8")
        for node in ast.parse(text).body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                found[node.name] = (ast.get_source_segment(text, node), node)
    out: dict[str, tuple[str, tuple[str, ...]]] = {}

    def add(name: str) -> None:
        if name in out:
            return
        text, node = found[name]
        bases = [b.id for b in getattr(node, "bases", ()) if isinstance(b, ast.Name) and b.id in found]
        for base in bases:  # a base class must be defined first
            add(base)
        used = {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id in found and n.id != name}
        out[name] = (text, tuple(sorted(used)))

    for name in found:
        add(name)
    return out


def defined_names() -> frozenset[str]:
    """Names the exported file defines at the top level (the class must not be one of them)."""
    return frozenset({"torch", "nn", *twin_sources()})


def class_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be the exported class, or None. It must be a plain ASCII identifier
    (non-ASCII ones are NFKC-normalized by Python, `ｄｉｃｔ` is `dict`) that neither the file nor
    Python's builtins use, so the generated code cannot be redirected by it."""
    if not isinstance(name, str) or not name.isidentifier() or not name.isascii():
        return "must be a Python identifier (ASCII letters, digits, '_')"
    if keyword.iskeyword(name):
        return "is a Python keyword"
    if name.startswith("__") and name.endswith("__"):
        return "is a special (dunder) name"
    if name in dir(builtins):
        return "is a Python builtin, which the exported code uses"
    if name in defined_names():
        return "is a name the exported file already defines"
    return None


def check_class_name(name: str) -> None:
    problem = class_name_problem(name)
    if problem is not None:
        raise SpecArgumentError(
            f"cannot name the exported class {name!r}: it {problem}",
            expected="a Python identifier that is not a keyword, a builtin or a name the exported file defines",
            found=repr(name),
            hint="choose another --class-name, e.g. Model",
            code="E0316",
        )


def doc_text(text: str) -> str:
    """``text`` for the inside of a triple-quoted docstring: quotes and backslashes escaped,
    unprintable characters (newlines, ESC, ...) as escapes, so it reads back as ``text``."""
    out = []
    for ch in str(text):
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        else:
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
    return "".join(out)


class _Writer:
    """The sink of :func:`walk` that writes source lines instead of making modules."""

    def __init__(self, source: Source, links=None):
        self.source = source
        self.links = links
        self.lines: list[str] = []
        self.size = 0
        self.counter = 0
        self.used: set[str] = {"Network"}
        self.last: LayerNode | None = None  # the last layer written: where a limit is reported

    def emit(self, line: str) -> None:
        self.size += len(line) + 9  # 8 spaces of indentation and the newline
        if self.size > MAX_EXPORT_BYTES:
            span = self.last.call.span if self.last is not None else None
            raise ExportError(
                f"the exported file would be larger than {MAX_EXPORT_BYTES:,} bytes",
                span,
                expected=f"a network whose source fits in {MAX_EXPORT_BYTES:,} bytes",
                found=f"{len(self.lines):,} lines written at this layer",
                hint="export a smaller network (a smaller repeat count with `--set`)",
                code="E0603",
            ).with_source(self.source)
        self.lines.append(line)

    def local(self, cls: str) -> str:
        self.counter += 1
        return f"{cls.lower()}_{self.counter}"  # e.g. residual_3: no name of the file ends in _<digits>

    def container(self, parent: str, name: str, cls: str, args: tuple, path, store: str | None = None) -> str:
        self.used.add(cls)
        var = self.local(cls)
        stored = f", store={literal(store)}" if store is not None else ""
        self.emit(f"{var} = {parent}.append({literal(name)}, {cls}({', '.join(literal(a) for a in args)}){stored})")
        return var

    def shortcut(self, residual: str, path) -> str:
        self.used.add("Seq")
        var = self.local("shortcut")
        self.emit(f"{var} = {residual}.set_shortcut(Seq())")
        return var

    def layer(self, parent: str, name: str, node: LayerNode, tensors: tuple, frozen: bool, path) -> None:
        call = node.call
        self.last = node
        twin = call.kind.twin(call)
        self.used.update(twin.own_names())
        try:
            text = twin.source()
        except NotLiteral as exc:
            symbols = exc.value.symbols if isinstance(exc.value, Poly) else ()
            if not symbols:
                raise ExportError(f"{call.kind.name}: export cannot write the value {exc.value!r} as Python", call.span, code="E0602").with_source(self.source) from None
            call.fail(
                f"export needs the value of {', '.join(symbols)} to write this layer's constructor",
                expected="a known size",
                found=str(exc.value),
                hint=" ".join(f"`--set {s}=...`" for s in symbols) + " or `let` it in the spec",
                code="E0404",
            )
        if frozen:
            text += ".requires_grad_(False)"
        if node.shares is not None and self.links is not None:  # the lender's tensors: share(module, lender, names)
            lender, names = self.links.source(node)
            self.used.add("share")
            text = f"share({text}, {lender}{', ' + literal(names) if names is not None else ''})"
        extra = f", {literal(tuple(tensors))}" if tensors else ""
        if node.alias is not None:
            extra += f", store={literal(node.alias)}"
        line = f"{parent}.append({literal(name)}, {text}{extra})"
        if self.links is not None and self.links.lends(node):
            var = self.local("layer")
            self.links.keep(node, var)
            line = f"{var} = {line}"
        self.emit(line)


def _needed(names: set[str]) -> list[str]:
    """``names`` and every definition of nnshape/twins they use, bases before subclasses."""
    sources = twin_sources()
    todo, seen = list(names), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        if name not in sources:
            raise ExportError(f"export cannot write the module {name!r}: the nnshape/twins package does not define it", code="E0602")
        seen.add(name)
        todo.extend(sources[name][1])
    return [name for name in sources if name in seen]


def export_source(summary: Summary, plan: Plan, *, class_name: str = "Model", twins: str = "copy") -> str:
    """The text of a Python file that defines ``class_name`` (an nn.Module). ``twins``: "copy"
    writes the nnshape modules it needs into the file (it then imports only torch); "import"
    imports them from ``nnshape.twins``. Needs no torch."""
    check_class_name(class_name)
    if twins not in TWIN_MODES:
        raise SpecArgumentError("unknown twins mode for export", expected=" or ".join(TWIN_MODES), found=repr(twins), code="E0330")
    source = Source(summary.source, summary.source_text)
    writer = _Writer(source, Links(plan))
    try:
        walk(plan, writer, "self", "export writes")
    except NNShapeError as err:
        raise (err if err.source is not None else err.with_source(source)) from None
    needed = _needed(writer.used)
    inputs = [name for name, _ in plan.inputs]
    shapes = ", ".join(f"{name}: {'x'.join(str(d) for d in info.shape[1:])} {info.dtype}" for name, info in plan.inputs)
    out = [
        f'"""{doc_text(class_name)}: the network of {doc_text(summary.source)}, written by `nnshape export`.',
        "",
        "Submodule names follow the rows of `nnshape summary`. Inputs (batch first): " + doc_text(shapes) + ".",
        f"Parameters: {summary.total_params:,}; output (batch {summary.batch}): {doc_text(tuple(summary.output_shape))}.",
        '"""',
        "",
        "import torch",
        "from torch import nn",
    ]
    if twins == "import":
        out += [f"from nnshape.twins import {', '.join(needed)}", ""]
    else:
        for name in needed:
            out += ["", "", twin_sources()[name][0]]
    out += [
        "",
        "",
        f"class {class_name}(Network):",
        "    def __init__(self):",
        f"        super().__init__({literal(inputs)}, {literal(plan.output)})",
    ]
    out += ["        " + line for line in writer.lines]
    return "\n".join(out) + "\n"
