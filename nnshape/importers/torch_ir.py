"""A traced torch.fx graph as a small dataflow graph of spec-sized ops (nnshape import torch).

Every node of the trace is run once on the example inputs (so every size is known) and becomes:
an input value; a *static* value (a parameter or buffer of the module, or computed from them
only); a Python constant (sizes); or an op on the tensors that flow from the inputs. An op is
*unary* (one flowing tensor in, spec lines out, maybe named *side* tensors such as a decoder's
memory), a *merge* (add, multiply, concatenate, matmul of two or more flowing tensors), or
*neutral* (elementwise with a constant, a view with no shape change: no line, no count).
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass, field

from . import torch_map as M
from .errors import Unmappable
from .torch_map import value

torch = fx = nn = F = None  # bound by _load() when a Builder is made: importing this module loads no torch


def _load() -> None:
    global torch, fx, nn, F
    if torch is None:
        import torch as torch_
        import torch.fx as fx_
        import torch.nn as nn_
        import torch.nn.functional as F_

        torch, fx, nn, F = torch_, fx_, nn_, F_


@dataclass(eq=False)
class Value:
    id: int
    name: str
    shape: tuple
    dtype: object  # torch.dtype
    producer: "Op | None" = None

    def __repr__(self) -> str:
        return f"%{self.name}{list(self.shape)}"


@dataclass(eq=False)
class Op:
    id: int
    name: str
    kind: str  # "unary" | "merge" | "neutral"
    primary: list
    out: Value
    path: tuple  # module path segments of the code that runs it; a module op ends in its own name
    lines: list = field(default_factory=list)
    merge: str | None = None  # add | mul | cat | matmul
    dim: int | None = None  # cat's dim
    side: dict = field(default_factory=dict)  # spec key -> Value (named)
    comment: str | None = None
    module: object = None
    what: str = ""  # the torch op, for reports
    unmappable: str | None = None
    mapper: object = None  # a module op's torch_map mapper
    args: tuple = ()  # a module op's other arguments that are Python values (MViT's token grid)

    @property
    def leaf(self) -> str | None:
        return self.path[-1] if self.module is not None and self.path else None


@dataclass
class Graph:
    inputs: list
    ops: list
    outputs: list  # Values
    values: list
    shared: list  # (module path, uses) of modules with parameters used more than once
    used_params: set  # ids of parameters the forward reaches


def _record(gm, example_inputs) -> dict:
    """Run the traced graph once and keep each node's result."""
    results: dict = {}

    class Recorder(fx.Interpreter):
        def run_node(self, n):
            result = super().run_node(n)
            results[n] = result
            return result

    with torch.no_grad():
        Recorder(gm).run(*example_inputs)
    return results


def _is_tensor(x) -> bool:
    return torch is not None and isinstance(x, torch.Tensor)


def _flat(args):
    for a in args:
        if isinstance(a, (list, tuple)):
            yield from _flat(a)
        elif isinstance(a, dict):
            yield from _flat(list(a.values()))
        else:
            yield a


def _norm_dim(dim: int, rank: int) -> int:
    return dim + rank if dim < 0 else dim


class Builder:
    """fx.GraphModule + example inputs -> Graph."""

    def __init__(self, gm, root, example_inputs: tuple):
        _load()
        self.gm = gm
        self.root = root
        self.rv = _record(gm, example_inputs)
        self.values: dict = {}  # fx node -> Value
        self.tuples: dict = {}  # fx node -> (source Value, pieces) for chunk/split
        self.module_tuple: dict = {}  # fx node -> Value (the first output of a tuple-returning module)
        self.static: dict = {}  # fx node -> set of root attribute names
        self.ops: list = []
        self.inputs: list = []
        self.module_uses: dict = {}
        self.used_params: set = set()
        self.modules = dict(gm.named_modules())

    # -- helpers ---------------------------------------------------------------------------
    def const(self, a):
        """A Python value of an argument: fx nodes replaced by what they computed."""
        if isinstance(a, fx.Node):
            return self.rv[a]
        if isinstance(a, (list, tuple)):
            return type(a)(self.const(x) for x in a)
        if isinstance(a, dict):
            return {k: self.const(v) for k, v in a.items()}
        return a

    def new_value(self, node: fx.Node, result) -> Value:
        t = result
        v = Value(len(self.values), node.name, tuple(t.shape), t.dtype)
        self.values[node] = v
        return v

    def path_of(self, node: fx.Node, module_name: str | None = None) -> tuple:
        if module_name is not None:
            return tuple(module_name.split("."))
        stack = node.meta.get("nn_module_stack") or {}
        if not stack:
            return ()
        last = list(stack.values())[-1]
        qual = last[0] if isinstance(last, tuple) else str(last)
        return tuple(qual.split(".")) if qual else ()

    def add_op(self, node, kind, primary, *, lines=(), merge=None, dim=None, side=None, comment=None,
               module=None, module_name=None, what="", unmappable=None, result=None) -> Value:
        result = self.rv[node] if result is None else result
        out = self.new_value(node, result)
        op = Op(len(self.ops), node.name, kind, list(primary), out, self.path_of(node, module_name), list(lines),
                merge, dim, dict(side or {}), comment, module, what, unmappable)
        out.producer = op
        self.ops.append(op)
        return out

    def dynamic(self, a) -> bool:
        return isinstance(a, fx.Node) and (a in self.values or a in self.tuples or a in self.module_tuple)

    def is_static(self, a) -> bool:
        return isinstance(a, fx.Node) and a in self.static

    # -- the walk ----------------------------------------------------------------------------
    def build(self) -> Graph:
        outputs = []
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                result = self.rv[node]
                if not _is_tensor(result):
                    continue  # a non-tensor argument (None, a flag): not an input of the spec
                v = self.new_value(node, result)
                self.inputs.append(v)
            elif node.op == "get_attr":
                self.static[node] = {node.target}
                self.note_params(node.target)
            elif node.op == "output":
                outs = [a for a in _flat([node.args[0]]) if isinstance(a, fx.Node)]
                for a in outs:
                    if a in self.values:
                        outputs.append(self.values[a])
                    elif a in self.module_tuple:
                        outputs.append(self.module_tuple[a])
            elif node.op == "call_module":
                self.call_module(node)
            else:
                args = list(_flat([node.args, node.kwargs]))
                dyn = [a for a in args if self.dynamic(a)]
                result = self.rv.get(node)
                if dyn and isinstance(result, (tuple, list)) and any(_is_tensor(r) for r in result) \
                        and not all(_is_tensor(r) for r in result):
                    # a function that returns tensors and Python values (torchvision's _unsqueeze)
                    self.tuples[node] = (self.flowing(dyn[0]), list(result), None, "opaque")
                    continue
                if dyn and not _is_tensor(result) and not (isinstance(result, (tuple, list)) and result and all(_is_tensor(r) for r in result)):
                    continue  # a size, a shape, a flag: a Python value (read through self.rv)
                if not node.users and node.target is operator.getitem:
                    continue  # `x, _ = lstm(...)`: the part nobody reads
                if not dyn:
                    roots = set().union(*(self.static[a] for a in args if self.is_static(a))) if any(self.is_static(a) for a in args) else None
                    if roots is not None:
                        self.static[node] = roots
                    continue  # sizes and other Python values: read through self.rv when needed
                self.call_function(node)
        shared = [(name, n) for name, n in self.module_uses.items()
                  if n > 1 and any(True for _ in self.modules[name].parameters())]
        return Graph(self.inputs, self.ops, outputs, list(self.values.values()), shared, self.used_params)

    def note_params(self, target: str) -> None:
        try:
            obj = self.gm.get_parameter(target)
        except AttributeError:
            return
        self.used_params.add(id(obj))

    def flowing(self, a) -> Value:
        if a in self.values:
            return self.values[a]
        if a in self.module_tuple:
            return self.module_tuple[a]
        raise Unmappable("a tuple of tensors used as one tensor")

    # -- modules ----------------------------------------------------------------------------
    def call_module(self, node):
        name = node.target
        module = self.modules[name]
        self.module_uses[name] = self.module_uses.get(name, 0) + 1
        for p in module.parameters():
            self.used_params.add(id(p))
        args = [a for a in _flat([node.args, node.kwargs]) if self.dynamic(a)]
        result = self.rv[node]
        first = result[0] if isinstance(result, tuple) and result and _is_tensor(result[0]) else result
        what = type(module).__name__
        if not args:
            self.static[node] = {name}
            return
        primary = [self.flowing(args[0])]
        side = {}
        unmappable = None
        if isinstance(module, nn.MultiheadAttention):
            q, k, v = (self._arg(node, i, key) for i, key in enumerate(("query", "key", "value")))
            if not (k is v):
                unmappable = "nn.MultiheadAttention with different key and value tensors"
            elif k is not q:
                side["kv"] = self.flowing(k)
        else:
            positions = M.side_inputs(module)
            side_nodes = []
            for pos, key in positions.items():
                a = self._arg(node, pos, key)
                if isinstance(a, fx.Node) and self.dynamic(a):
                    side[key] = self.flowing(a)
                    side_nodes.append(a)
            extra = [a for a in args[1:] if a not in side_nodes]
            if extra:
                unmappable = f"{what} takes {len(args)} tensors; nnshape maps only its first"
        if not _is_tensor(first):
            unmappable = f"{what} returns {type(first).__name__}"
            first = torch.empty(0)
        mapper = M.module_mapper(module)
        if mapper is None:
            unmappable = f"no spec kind for {type(module).__module__}.{type(module).__qualname__}"
        # side names are filled in by the emitter (the value's name), so keep Values for now
        v = self.add_op(node, "unary", primary, side=side, module=module, module_name=name, what=what,
                        unmappable=unmappable, result=first)
        op = v.producer
        op.args = tuple(self.const(a) for a in node.args[1:] if not (isinstance(a, fx.Node) and self.dynamic(a)))
        if unmappable is None:
            op.mapper = mapper
        if isinstance(result, tuple):
            self.module_tuple[node] = v
            del self.values[node]
        return v

    def _arg(self, node, pos, key):
        if len(node.args) > pos:
            return node.args[pos]
        return node.kwargs.get(key)

    # -- functions and methods --------------------------------------------------------------------
    def call_function(self, node):
        target = node.target
        if isinstance(target, torch._ops.OpOverload):  # an aten op of torch.export's graph
            name = target.overloadpacket.__name__
            target = aten_table().get(name, name)
            name = target if isinstance(target, str) else name
        else:
            name = target if isinstance(target, str) else getattr(target, "__name__", str(target))
        try:
            self._function(node, target, name)
        except Unmappable as exc:
            if node not in self.values and node not in self.tuples:
                dyn = [a for a in _flat([node.args, node.kwargs]) if self.dynamic(a)]
                result = self.rv[node]
                first = result if _is_tensor(result) else torch.empty(0)
                self.add_op(node, "unary", [self.flowing(dyn[0])] if dyn and not (dyn[0] in self.tuples) else [],
                            what=name, unmappable=str(exc), result=first)

    def _function(self, node, target, name):
        if name == "select" and isinstance(target, str):  # aten.select(x, dim, index)
            return self.aten_index(node, "select")
        if name == "slice" and isinstance(target, str):  # aten.slice(x, dim, start, end, step)
            return self.aten_index(node, "slice")
        rv = self.rv
        result = rv[node]
        args = node.args
        x = args[0] if args else None

        # tuples of pieces: chunk / split / unbind, and getitem on them
        if name in ("chunk", "split", "unbind", "tensor_split", "split_with_sizes") and isinstance(result, (tuple, list)):
            dim = self._dim_arg(node, name)
            self.tuples[node] = (self.flowing(x), list(result), dim, name)
            return
        if target is operator.getitem and x in self.tuples:
            source, pieces, dim, kind = self.tuples[x]
            i = args[1]
            if kind == "opaque":
                piece = pieces[i]
                if not _is_tensor(piece):
                    raise Unmappable("a Python value read from a function's result as a tensor")
                if tuple(piece.shape) == source.shape:
                    self.add_op(node, "neutral", [source], comment="a function that keeps the shape", what=f"{node.args[0].name}[{i}]")
                elif piece.numel() == 0 or tuple(piece.shape)[0] != source.shape[0]:
                    raise Unmappable(f"{node.args[0].name} changes the batch dim")
                else:
                    self.add_op(node, "unary", [source], lines=[f"reshape {value(tuple(piece.shape[1:]))}"],
                                comment="a function's result, reshaped", what=node.args[0].name)
                return
            rank = len(source.shape)
            d = _norm_dim(dim, rank)
            if kind == "unbind":
                line = f"select dim={d} index={i}"
            else:
                start = sum(p.shape[d] for p in pieces[:i])
                line = f"slice {d} {start} {start + pieces[i].shape[d]}"
            self.add_op(node, "unary", [source], lines=[line], what=f"{kind}[{i}]")
            return
        if target is operator.getitem and x in self.module_tuple:
            if args[1] == 0:
                self.values[node] = self.module_tuple[x]
                return
            raise Unmappable(f"output {args[1]} of a module that returns a tuple")
        if not _is_tensor(result):
            raise Unmappable(f"{name} returns {type(result).__name__}")

        tensors = [a for a in _flat([args, node.kwargs]) if isinstance(a, fx.Node) and (self.dynamic(a) or self.is_static(a))]
        dyn = [a for a in tensors if self.dynamic(a)]
        static = [a for a in tensors if self.is_static(a)]

        # merges and their parameter forms
        if name in ("add", "iadd", "add_", "__add__", "__radd__", "sub", "isub", "__sub__", "sub_", "__rsub__"):
            subtract = "sub" in name
            if len(dyn) >= 2:
                if subtract:
                    raise Unmappable("a subtraction of two tensors (the spec has add and multiply blocks)")
                self.merge(node, "add", dyn)
                return
            if static:
                return self.param_add(node, dyn[0], static[0])
            return self.neutral(node, dyn[0], f"{'-' if subtract else '+'} a constant")
        if name in ("mul", "imul", "mul_", "__mul__", "__rmul__"):
            if len(dyn) >= 2:
                self.merge(node, "mul", dyn)
                return
            if static:
                return self.param_mul(node, dyn[0], static[0])
            return self.neutral(node, dyn[0], "· a constant")
        if name in ("truediv", "div", "div_", "__truediv__", "floordiv", "pow", "__pow__"):
            if len(dyn) >= 2 or static and dyn[0] is not args[0]:
                raise Unmappable(f"{name} of two tensors")
            if static:
                raise Unmappable(f"{name} by a module's tensor")
            return self.neutral(node, dyn[0], f"{name} by a constant")
        if name in ("cat", "concat", "concatenate"):
            items = list(args[0]) if args else list(node.kwargs.get("tensors"))
            dim = self._dim_arg(node, name, default=0)
            return self.concat(node, items, dim)
        if name in ("matmul", "bmm", "mm", "__matmul__"):
            if len(dyn) >= 2:
                self.merge(node, "matmul", dyn)
                return
            w = static[0] if static else None
            weight = self._static_tensor(w) if w is not None else None
            if weight is not None and weight.dim() == 2 and args[1] is w:
                self.add_op(node, "unary", [self.flowing(dyn[0])], lines=[f"linear {weight.shape[1]} bias=false"],
                            comment="x @ W", what=name)
                return
            raise Unmappable(f"{name} with a module's tensor")

        if len(dyn) != 1:
            raise Unmappable(f"{name} of {len(dyn)} tensors")
        src = self.flowing(dyn[0])
        lines = self.unary(node, target, name, src, static, result)
        if lines is None:
            return self.neutral(node, dyn[0], name)
        self.add_op(node, "unary", [src], lines=lines, what=name)

    def _dim_arg(self, node, name, default=0):
        if name in ("cat", "concat", "concatenate"):
            d = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", default)
        elif name in ("chunk", "split", "tensor_split", "split_with_sizes"):
            d = node.args[2] if len(node.args) > 2 else node.kwargs.get("dim", 0)
        else:  # unbind
            d = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
        return self.const(d)

    def aten_index(self, node, kind):
        src = self.flowing(node.args[0])
        args = [self.const(a) for a in node.args[1:]]
        rank = len(src.shape)
        dim = _norm_dim(args[0] if args else 0, rank)
        if dim == 0:
            raise Unmappable("an index into the batch dim")
        if kind == "select":
            line = f"select dim={dim} index={args[1]}"
        else:
            start = args[1] if len(args) > 1 and args[1] is not None else 0
            end = args[2] if len(args) > 2 else None
            step = args[3] if len(args) > 3 else 1
            if end is not None and end >= src.shape[dim]:
                end = None
            line = f"slice {dim} {start}" + (f" {end}" if end is not None else (" none" if step != 1 else ""))
            line += f" {step}" if step != 1 else ""
            if start == 0 and end is None and step == 1:
                return self.neutral(node, node.args[0], "a full slice")
        self.add_op(node, "unary", [src], lines=[line], what=kind)

    def neutral(self, node, a, what):
        src = self.flowing(a)
        result = self.rv[node]
        if tuple(result.shape) != src.shape:
            raise Unmappable(f"{what} changes the shape by broadcasting")
        self.add_op(node, "neutral", [src], comment=what, what=what)

    def merge(self, node, kind, dyn, dim=None):
        self.add_op(node, "merge", [self.flowing(a) for a in dyn], merge=kind, dim=dim, what=kind)

    def _static_tensor(self, node):
        result = self.rv.get(node)
        return result if _is_tensor(result) else None

    def _is_parameter(self, node) -> bool:
        roots = self.static.get(node, set())
        for r in roots:
            try:
                self.gm.get_parameter(r)
                return True
            except AttributeError:
                continue
        return False

    def param_add(self, node, a, p):
        src = self.flowing(a)
        table = self.rv[p]
        if not self._is_parameter(p):
            raise Unmappable("a buffer added to the features")
        shape = tuple(table.shape)
        n, length, dim = (src.shape + (None, None, None))[:3]
        if len(src.shape) == 3 and shape in ((1, length, dim), (length, dim)):
            self.add_op(node, "unary", [src], lines=[f"posemb {length}"], comment="learned positions added", what="add")
            return
        raise Unmappable(f"a learned tensor {list(shape)} added to the features {list(src.shape)}")

    def param_mul(self, node, a, p):
        src = self.flowing(a)
        table = self.rv[p]
        if not self._is_parameter(p):
            raise Unmappable("features multiplied by a buffer")
        shape = tuple(table.shape)
        rank = len(src.shape)
        padded = (1,) * (rank - len(shape)) + shape
        if len(padded) == rank:
            big = [d for d in range(rank) if padded[d] != 1]
            if len(big) == 1 and padded[big[0]] == src.shape[big[0]] and big[0] != 0 and table.numel() == padded[big[0]]:
                d = big[0]
                dim_text = "" if d == rank - 1 else f" dim={d}"
                self.add_op(node, "unary", [src], lines=[f"scale{dim_text}"], comment="a learned per-channel scale", what="mul")
                return
        raise Unmappable(f"features {list(src.shape)} multiplied by a learned tensor {list(shape)}")

    def concat(self, node, items, dim):
        dyn = [a for a in items if self.dynamic(a)]
        stat = [a for a in items if self.is_static(a)]
        rank = len(self.rv[node].shape)
        d = _norm_dim(dim, rank)
        if not dyn:
            return
        if stat:
            # a learned token prepended along the sequence: ViT's class token
            if len(items) == 2 and items[0] in stat and d == 1 and rank == 3 and self._is_parameter(items[0]):
                t = self.rv[items[0]].shape[1]
                src = self.flowing(items[1])
                self.add_op(node, "unary", [src], lines=["clstoken" + (f" {t}" if t != 1 else "")], what="cat")
                return
            raise Unmappable("a module's tensor concatenated with the features")
        if len(dyn) == 1:
            return self.neutral(node, dyn[0], "cat of one tensor")
        self.merge(node, "cat", dyn, dim=d)

    # -- unary functions -------------------------------------------------------------------------
    def unary(self, node, target, name, src: Value, static, result):
        """Spec lines for a one-tensor function, None for a neutral one."""
        c = self.const
        args = [c(a) for a in node.args[1:]]
        kw = {k: c(v) for k, v in node.kwargs.items()}
        out = tuple(result.shape)
        rank = len(src.shape)

        def arg(i, key, default=None):
            if len(args) > i:
                return args[i]
            return kw.get(key, default)

        if static:
            return self.with_params(target, name, src, static, args, kw)
        acts = M.activation_functions()
        if target in acts or (isinstance(target, str) and target in M.ACTIVATION_METHODS):
            kind = acts.get(target) if not isinstance(target, str) else M.ACTIVATION_METHODS[target]
            if kind == "gelu" and arg(0, "approximate", "none") == "tanh":
                return ["gelu approximate='tanh'"]
            if kind == "leakyrelu":
                slope = arg(0, "negative_slope", 0.01)
                return ["leakyrelu" + ("" if slope == 0.01 else f" {value(float(slope))}")]
            if kind == "elu":
                alpha = arg(0, "alpha", 1.0)
                return ["elu" + ("" if alpha == 1.0 else f" alpha={value(float(alpha))}")]
            return [kind]
        if target is F.hardtanh or name in ("hardtanh", "hardtanh_"):
            lo, hi = float(arg(0, "min_val", -1.0)), float(arg(1, "max_val", 1.0))
            return ["relu6"] if (lo, hi) == (0.0, 6.0) else [f"hardtanh min_val={value(lo)} max_val={value(hi)}"]
        if name in ("softmax", "log_softmax"):
            dim = arg(0, "dim")
            if dim is None:
                raise Unmappable(f"{name} without dim")
            return [f"{name.replace('_', '')} dim={dim}"]
        if target is F.dropout or name in ("dropout", "dropout2d", "alpha_dropout", "feature_alpha_dropout", "to", "clone", "detach"):
            return None
        if name == "flatten":
            start, end = arg(0, "start_dim", 0), arg(1, "end_dim", -1)
            if _norm_dim(start, rank) == 0:
                raise Unmappable("a flatten that merges the batch dim")
            return [M.flatten_line(start, end)]
        if name in M.VIEW_METHODS or target in (torch.reshape,):
            if out == src.shape:
                return None
            if out[0] != src.shape[0]:
                raise Unmappable(f"a {name} that changes the batch dim ({src.shape[0]} -> {out[0]})")
            return [f"reshape {value(out[1:]) if len(out) > 2 else f'({out[1]},)'}"]
        if name == "permute":
            dims = [a for a in _flat(args)] if not kw else list(kw.get("dims"))
            dims = [_norm_dim(d, rank) for d in dims]
            if dims[0] != 0:
                raise Unmappable("a permute that moves the batch dim")
            return None if dims == sorted(dims) else [f"permute {' '.join(map(str, dims))}"]
        if name in ("transpose", "swapaxes"):
            a, b = _norm_dim(arg(0, "dim0"), rank), _norm_dim(arg(1, "dim1"), rank)
            if 0 in (a, b):
                raise Unmappable("a transpose of the batch dim")
            return None if a == b else [f"transpose {a} {b}"]
        if name == "unsqueeze":
            return [f"unsqueeze {arg(0, 'dim')}"]
        if name == "squeeze":
            d = arg(0, "dim")
            if out == src.shape:
                return None
            return ["squeeze" + ("" if d is None else f" {value(d) if not isinstance(d, int) else d}")]
        if name in ("mean", "sum", "amax"):
            dims = arg(0, "dim")
            keep = arg(1, "keepdim", False)
            if dims is None:
                raise Unmappable(f"a {name} over every dim, batch included")
            dims = tuple(dims) if isinstance(dims, (tuple, list)) else (dims,)
            if any(_norm_dim(d, rank) == 0 for d in dims):
                raise Unmappable(f"a {name} over the batch dim")
            text = f"{name} {dims[0] if len(dims) == 1 else '(' + ', '.join(map(str, dims)) + ')'}"
            return [text + (" keepdim=true" if keep else "")]
        if name in ("adaptive_avg_pool1d", "adaptive_avg_pool2d", "adaptive_avg_pool3d", "adaptive_max_pool1d",
                    "adaptive_max_pool2d", "adaptive_max_pool3d"):
            kind = name.replace("_", "")
            size = tuple(out[2:])
            return [f"{kind} {value(M.same(size)) if len(set(size)) == 1 else value(size)}"]
        if name in ("max_pool1d", "max_pool2d", "max_pool3d", "avg_pool1d", "avg_pool2d", "avg_pool3d"):
            dims = rank - 2

            def tup(v, default):
                v = default if v is None else v
                return M.same(tuple(v) if isinstance(v, (tuple, list)) else (v,) * dims)

            k = tup(arg(0, "kernel_size"), None)
            s = tup(arg(1, "stride") or None, arg(0, "kernel_size"))
            p = tup(arg(2, "padding", 0), 0)
            kind = name.replace("_", "")
            text = f"{kind} {value(k)}" + ("" if s == k else f" s={value(s)}") + M.keys(p=(p, 0))
            if name.startswith("max"):
                text += M.keys(d=(tup(arg(3, "dilation", 1), 1), 1), ceil_mode=(arg(4, "ceil_mode", False), False))
            else:
                text += M.keys(ceil_mode=(arg(3, "ceil_mode", False), False),
                               count_include_pad=(arg(4, "count_include_pad", True), True))
            return [text]
        if name in ("upsample_nearest2d", "upsample_bilinear2d"):
            mode = name[len("upsample_"):-2]
            align = arg(1, "align_corners") if mode == "bilinear" else None
            return [M.upsample_line(_Shapes(src.shape, out), mode, align)]
        if name == "constant_pad_nd":
            pad = tuple(arg(0, "pad"))
            fill = arg(1, "value", 0)
            return [f"pad {value(pad)}" + (f" value={value(float(fill))}" if fill else "")]
        if name == "interpolate" or name == "upsample":
            return [M.upsample_line(_Shapes(src.shape, out), arg(2, "mode", "nearest"), arg(3, "align_corners"))]
        if name == "pad":
            pad = tuple(arg(0, "pad"))
            mode = arg(1, "mode", "constant")
            text = f"pad {value(pad)}"
            if mode != "constant":
                text += f" mode={M.word(mode, ('reflect', 'replicate', 'circular'))}"
            elif arg(2, "value"):
                text += f" value={value(float(arg(2, 'value')))}"
            return [text]
        if name == "roll":
            shifts, dims = arg(0, "shifts"), arg(1, "dims")
            return [f"roll {value(shifts)} {value(dims)}"]
        if name in ("channel_shuffle", "native_channel_shuffle"):
            return [f"channelshuffle {arg(0, 'groups')}"]
        if name == "pixel_shuffle":
            return [f"pixelshuffle {arg(0, 'upscale_factor')}"]
        if name == "getitem":
            return self.indexing(args[0], src, out)
        if name == "_patch_merging_pad":  # torchvision's Swin: 2×2 neighbours side by side on channels
            h, w = src.shape[-3], src.shape[-2]
            lines = [f"pad (0, 0, 0, {w % 2}, 0, {h % 2})"] if h % 2 or w % 2 else []
            branches = [("branch", [f"slice -3 {a} none 2", f"slice -2 {b} none 2"]) for a, b in ((0, 0), (1, 0), (0, 1), (1, 1))]
            return lines + [("concat dim=-1", branches)]
        if target in M.neutral_functions() or (isinstance(target, str) and target in M.NEUTRAL_METHODS):
            if out != src.shape:
                raise Unmappable(f"{name} changes the shape")
            return None
        if name in ("expand", "expand_as", "repeat", "tile"):
            raise Unmappable(f"{name} of the features")
        raise Unmappable(f"no spec kind for the function {name}")

    def indexing(self, index, src: Value, out) -> list:
        """x[:, 0], x[..., ::2, 1::2, :]: select and slice lines, dim by dim."""
        index = index if isinstance(index, tuple) else (index,)
        rank = len(src.shape)
        if sum(1 for i in index if i is Ellipsis) > 1 or any(i is None for i in index):
            raise Unmappable("an index with None or several ellipses")
        if Ellipsis in index:
            at = index.index(Ellipsis)
            fill = rank - (len(index) - 1)
            index = index[:at] + (slice(None),) * fill + index[at + 1:]
        lines, dropped = [], 0
        for d, i in enumerate(index):
            dim = d - dropped
            if isinstance(i, slice):
                if i == slice(None):
                    continue
                if d == 0:
                    raise Unmappable("an index into the batch dim")
                text = f"slice {dim} {0 if i.start is None else i.start}"
                if i.stop is not None:
                    text += f" {i.stop}"
                elif i.step not in (None, 1):
                    text += " none"
                if i.step not in (None, 1):
                    text += f" {i.step}"
                lines.append(text)
            elif isinstance(i, int):
                if d == 0:
                    raise Unmappable("an index into the batch dim")
                lines.append(f"select dim={dim} index={i}")
                dropped += 1
            else:
                raise Unmappable(f"an index by {type(i).__name__}")
        return lines or None

    def with_params(self, target, name, src: Value, static, args, kw):
        """Functional layers with the module's tensors as weights: F.linear, F.conv2d, F.layer_norm."""
        weights = [self.rv[s] for s in static]
        for s in static:
            if not self._is_parameter(s):
                raise Unmappable(f"{name} with a buffer as its weight")
        if target in (F.conv1d, F.conv2d, F.conv3d) or name in ("conv1d", "conv2d", "conv3d"):
            target = {"conv1d": F.conv1d, "conv2d": F.conv2d, "conv3d": F.conv3d}.get(name, target)
        if target is F.linear or name == "linear":
            w = weights[0]
            has_bias = (args[1] if len(args) > 1 else kw.get("bias")) is not None
            return [f"linear {w.shape[0]}" + ("" if has_bias else " bias=false")]
        if target is F.layer_norm or name == "layer_norm":
            shape = tuple(args[0]) if args else tuple(kw["normalized_shape"])
            eps = args[3] if len(args) > 3 else kw.get("eps", 1e-5)
            text = "layernorm" + ("" if shape == src.shape[-1:] else f" {value(shape) if len(shape) > 1 else shape[0]}")
            if len(static) == 1:
                text += " bias=false"
            return [text + M.keys(eps=(eps, 1e-5))]
        if target in (F.conv1d, F.conv2d, F.conv3d):
            w = weights[0]
            dims = w.dim() - 2

            def tup(i, key, default):  # args: weight, bias, stride, padding, dilation, groups
                v = args[i] if len(args) > i else kw.get(key, default)
                return M.same(tuple(v) if isinstance(v, (tuple, list)) else (v,) * dims)

            padding = tup(3, "padding", 0)
            if isinstance(padding, str):
                raise Unmappable(f"{name} with padding={padding!r} as a function")
            text = f"conv{dims}d {w.shape[0]} k={value(M.same(tuple(w.shape[2:])))}" + M.keys(
                s=(tup(2, "stride", 1), 1), p=(padding, 0), d=(tup(4, "dilation", 1), 1),
                groups=(args[5] if len(args) > 5 else kw.get("groups", 1), 1))
            has_bias = (args[1] if len(args) > 1 else kw.get("bias")) is not None
            return [text + ("" if has_bias else " bias=false")]
        raise Unmappable(f"{name} with a module's tensor")


@functools.cache
def aten_table() -> dict:
    """aten ops of a torch.export graph -> the torch function or method name the mapping knows."""
    _load()
    return {
        "relu": torch.relu, "relu_": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh, "hardswish": F.hardswish,
        "hardswish_": F.hardswish, "hardsigmoid": F.hardsigmoid, "silu": F.silu, "silu_": F.silu, "gelu": F.gelu,
        "mish": F.mish, "elu": F.elu, "selu": torch.selu, "leaky_relu": F.leaky_relu, "hardtanh": F.hardtanh,
        "hardtanh_": F.hardtanh, "_softmax": "softmax", "_log_softmax": "log_softmax", "dropout": F.dropout,
        "clone": "clone", "contiguous": "contiguous", "detach": "detach", "alias": "clone", "_to_copy": "to",
        "_unsafe_view": "view", "view": "view", "reshape": "reshape", "permute": "permute", "transpose": "transpose",
        "unsqueeze": "unsqueeze", "squeeze": "squeeze", "flatten": "flatten", "mean": "mean", "sum": "sum",
        "amax": "amax", "add": operator.add, "add_": operator.add, "mul": operator.mul, "mul_": operator.mul,
        "sub": operator.sub, "div": operator.truediv, "cat": torch.cat, "matmul": torch.matmul, "bmm": torch.bmm,
        "mm": torch.mm, "linear": F.linear, "conv1d": F.conv1d, "conv2d": F.conv2d, "conv3d": F.conv3d,
        "layer_norm": F.layer_norm, "max_pool1d": F.max_pool1d, "max_pool2d": F.max_pool2d, "max_pool3d": F.max_pool3d,
        "avg_pool1d": F.avg_pool1d, "avg_pool2d": F.avg_pool2d, "avg_pool3d": F.avg_pool3d,
        "adaptive_avg_pool1d": F.adaptive_avg_pool1d, "adaptive_avg_pool2d": F.adaptive_avg_pool2d,
        "adaptive_avg_pool3d": F.adaptive_avg_pool3d, "constant_pad_nd": "constant_pad_nd", "pad": F.pad,
        "roll": torch.roll, "channel_shuffle": "channel_shuffle", "pixel_shuffle": "pixel_shuffle",
        "split": "split", "chunk": "chunk", "unbind": "unbind", "expand": "expand", "select": "select", "slice": "slice",
        "exp": torch.exp, "neg": torch.neg, "sqrt": torch.sqrt, "rsqrt": torch.rsqrt, "pow": "pow",
        "upsample_nearest2d": "upsample_nearest2d", "upsample_bilinear2d": "upsample_bilinear2d",
    }


@dataclass
class _Shapes:
    in_shape: tuple
    out_shape: tuple


def normalize(graph: Graph) -> None:
    """Merges as the spec sees them: a + b + c is one add of three branches; DenseNet's growing
    cat([x0, x1, ..., xk]) is cat([the previous cat, xk])."""
    consumers: dict = {}
    for op in graph.ops:
        for v in op.primary:
            consumers.setdefault(v.id, []).append(op)
    for op in graph.ops:
        if op.kind == "merge" and op.merge in ("add", "mul"):
            flat = []
            for v in op.primary:
                inner = v.producer
                if (inner is not None and inner.kind == "merge" and inner.merge == op.merge
                        and len(consumers.get(v.id, [])) == 1 and v not in graph.outputs and inner.out.shape == op.out.shape):
                    flat.extend(inner.primary)
                    inner.kind = "absorbed"
                else:
                    flat.append(v)
            op.primary = flat
    cats = [op for op in graph.ops if op.kind == "merge" and op.merge == "cat"]
    original = {op.id: list(op.primary) for op in cats}
    for i, op in enumerate(cats):
        best, inputs = None, original[op.id]
        for earlier in cats[:i]:
            prefix = original[earlier.id]
            if earlier.dim == op.dim and len(prefix) < len(inputs) and inputs[:len(prefix)] == prefix:
                if best is None or len(prefix) > len(original[best.id]):
                    best = earlier
        if best is not None:
            op.primary = [best.out] + inputs[len(original[best.id]):]
    graph.ops = [op for op in graph.ops if op.kind != "absorbed"]
