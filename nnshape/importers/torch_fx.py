"""`nnshape import torch`: an ``nn.Module`` -> spec text, proven against the module.

The module is traced with torch.fx (leaf modules are the ones nnshape has a kind for), every node
is run once on the example inputs, the dataflow is written as blocks (torch_emit), and the spec
is verified at once: its parameters, buffers, output shape and MACs must equal the module's own
(``FlopCounterMode`` FLOPs / 2, math attention kernel), or the import fails.

Importing ``MODULE:CALLABLE`` runs that code, by design: it is the user's own model code. A
Hugging Face model (a ``transformers.PreTrainedModel``) is imported from its config by the hf
importer and verified the same way.
"""

from __future__ import annotations

import importlib
import re
import sys

from .errors import ImportFailure

_TARGET = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*\Z")
_SHAPE = re.compile(r"(\d+(?:x\d+)*)(?::(\w+))?\Z")
MAX_INPUT_ELEMENTS = 1 << 28  # an --input larger than this (per sample) is refused


def _torch():
    try:
        import torch  # noqa: F401
    except (ImportError, OSError) as exc:
        from ..install import LOAD_HINT, load_failure

        why = load_failure(exc)
        if why is not None:
            raise ImportFailure(f"nnshape import torch needs PyTorch, which is installed but could not be loaded ({why})", hint=LOAD_HINT,
                                code="E0601") from None
        raise ImportFailure(
            "nnshape import torch needs PyTorch, which is not installed", hint="install it with: pip install 'nnshape[torch]'",
            code="E0601",
        ) from None
    import torch

    return torch


def _name(module) -> str:
    """A module's class name as reports show it: printable ASCII (a class can be named anything)."""
    from .writer import comment_text

    return comment_text(type(module).__name__)[:80]


# ----------------------------------------------------------------------------- the CLI's target


def parse_inputs(shapes, batch: int = 2):
    """``3x224x224`` / ``128:int64`` / ``decoder_input_ids=5:int64`` -> (positional, by name) example
    tensors (batch 2: a view that hard-codes the batch shows up as an error instead of passing by
    chance). Positional inputs come first, in forward's order; named ones follow, in any order."""
    torch = _torch()
    args: list = []
    named: dict = {}
    for text in shapes or ("3x224x224",):
        name, sep, shape = text.strip().partition("=")
        if not sep:
            name, shape = None, text.strip()
        elif not name.strip().isidentifier() or not name.strip().isascii():
            raise ImportFailure(f"--input {text!r}: {name!r} is not an argument name", expected="NAME=SHAPE, e.g. decoder_input_ids=5:int64",
                                code="E0725")
        else:
            name = name.strip()
        match = _SHAPE.match(shape.strip())
        if not match:
            raise ImportFailure(f"--input {text!r} is not a shape", expected="e.g. 3x224x224, 128:int64 or NAME=SHAPE", code="E0725")
        sizes = [int(s) for s in match.group(1).split("x")]
        dtype_name = match.group(2) or "float32"
        dtype = getattr(torch, dtype_name, None)
        if not isinstance(dtype, torch.dtype):
            raise ImportFailure(f"--input {text!r}: unknown dtype {dtype_name!r}", expected="float32, int64, ...", code="E0725")
        count = 1
        for s in sizes:
            count *= s
        if not sizes or min(sizes) < 1 or count > MAX_INPUT_ELEMENTS:
            raise ImportFailure(f"--input {text!r}: sizes must be positive and at most {MAX_INPUT_ELEMENTS:,} elements",
                                code="E0725")
        tensor = torch.randn(batch, *sizes, dtype=dtype) if dtype.is_floating_point else torch.zeros(batch, *sizes, dtype=dtype)
        if name is None:
            if named:
                raise ImportFailure(f"--input {text!r}: a positional input after a named one",
                                    expected="the positional inputs first, then NAME=SHAPE ones", code="E0725")
            args.append(tensor)
        elif name in named:
            raise ImportFailure(f"--input {text!r}: {name} is given twice", code="E0725")
        else:
            named[name] = tensor
    return tuple(args), named


def _kwarg(text: str):
    name, sep, raw = text.partition("=")
    if not sep or not name.isidentifier():
        raise ImportFailure(f"--arg {text!r} is not NAME=VALUE", code="E0720")
    raw = raw.strip()
    low = raw.lower()
    if low in ("true", "false"):
        return name, low == "true"
    if low == "none":
        return name, None
    for cast in (int, float):
        try:
            return name, cast(raw)
        except ValueError:
            pass
    return name, raw


def load_target(target: str, kwargs=()):
    """Import MODULE, find CALLABLE, call it: the module it returns."""
    torch = _torch()
    module_name, sep, attr = target.partition(":")
    if not sep or not _TARGET.match(module_name) or not _TARGET.match(attr):
        raise ImportFailure(f"{target!r} is not MODULE:CALLABLE", expected="e.g. torchvision.models:resnet50", code="E0720")
    try:
        mod = importlib.import_module(module_name)
    except Exception as exc:  # the user's code: any exception is a report, not a traceback
        raise ImportFailure(f"cannot import {module_name}: {type(exc).__name__}: {exc}", code="E0720") from None
    obj = mod
    for part in attr.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise ImportFailure(f"{module_name} has no {attr}", code="E0720")
    args = dict(_kwarg(a) for a in kwargs)
    try:
        built = obj(**args) if callable(obj) and not isinstance(obj, torch.nn.Module) else obj
    except Exception as exc:
        raise ImportFailure(f"{target}(...) raised {type(exc).__name__}: {exc}", code="E0721") from None
    if not isinstance(built, torch.nn.Module):
        raise ImportFailure(f"{target} gave a {type(built).__name__}, not an nn.Module", code="E0721")
    return built


def import_target(target: str, inputs=(), *, kwargs=(), allow_partial: bool = False, verify: bool = True):
    from ..source import Source

    try:
        module = load_target(target, kwargs)
        args, named = parse_inputs(inputs)
        text = import_torch(module, args, example_kwargs=named, allow_partial=allow_partial, verify=verify, source=target)
    except ImportFailure as err:
        raise err.with_source(Source(target if _TARGET.match(target.replace(":", ".")) else "<target>", "")) from None
    params = sum(p.numel() for p in module.parameters())
    return text, f"{_name(module)}, {params:,} parameters" + ("" if verify else ", not verified")


# ----------------------------------------------------------------------------- the Python API


def import_torch(module, example_inputs=None, *, example_kwargs=None, allow_partial: bool = False, verify: bool = True,
                 source: str | None = None, tracer: str = "auto") -> str:
    """Spec text for ``module`` run on ``example_inputs``: a tensor, a tuple in forward's order, or a
    dict of inputs by name (``{"input_ids": ..., "decoder_input_ids": ...}``); ``example_kwargs``
    adds inputs by name to positional ones. Dim 0 is the batch. Default: one 2×3×224×224 image
    batch. ``tracer``: "auto" (torch.fx, and torch.export where fx fails), "fx" or "export"."""
    torch = _torch()
    if not isinstance(module, torch.nn.Module):
        raise ImportFailure(f"import_torch needs an nn.Module, got {_name(module)}", code="E0721")
    args, kwargs = _example(torch, example_inputs, example_kwargs)
    was_training = module.training
    module.eval()
    try:
        hf = _hf_model(module)
        if hf is not None:
            text = _import_hf_module(module, hf, args, kwargs, source)
        else:
            text = _import_traced(module, args, kwargs, allow_partial, source, tracer)
        if verify and not text.startswith("# PARTIAL"):
            verify_spec(text, module, args, kwargs)
        return text
    finally:
        module.train(was_training)


def _example(torch, example_inputs, example_kwargs) -> tuple[tuple, dict]:
    """(positional, by name) example inputs from what the caller gave."""
    if example_inputs is None and not example_kwargs:
        return parse_inputs(None)
    kwargs = {}
    if example_inputs is None:
        args = ()
    elif isinstance(example_inputs, torch.Tensor):
        args = (example_inputs,)
    elif isinstance(example_inputs, dict):
        args, kwargs = (), dict(example_inputs)
    else:
        args = tuple(example_inputs)
    for name, value in dict(example_kwargs or {}).items():
        if name in kwargs:
            raise ImportFailure(f"the input {_safe(name)} is given twice", code="E0725")
        kwargs[name] = value
    for name in kwargs:
        if not isinstance(name, str) or not name.isidentifier():
            raise ImportFailure(f"an input's name must be an argument name, not {_safe(name)}", code="E0725")
    if not args and not kwargs:
        raise ImportFailure("no example inputs", expected="a tensor, a tuple of tensors or a dict of them by name", code="E0725")
    return args, kwargs


def _safe(name) -> str:
    from .writer import comment_text

    return comment_text(repr(name))[:60]


def _bind(root, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
    """The example inputs as forward's positional arguments (a parameter not given takes its default),
    and the defaults fx must keep fixed while tracing (``attention_mask=None``: not a traced value)."""
    import inspect

    if not kwargs:
        return args, {}
    try:
        sig = inspect.signature(root.forward)
        bound = sig.bind_partial(*args, **kwargs)
    except (TypeError, ValueError) as exc:
        raise ImportFailure(f"the example inputs do not fit {_name(root)}.forward: {exc}", code="E0725") from None
    full, fixed = [], {}
    for name, param in sig.parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD, param.KEYWORD_ONLY):
            if name in bound.arguments:
                raise ImportFailure(f"{_name(root)}.forward takes {name} as *args, **kwargs or keyword-only: "
                                    "the importer passes inputs in forward's order", code="E0725")
            continue
        if name in bound.arguments:
            full.append(bound.arguments[name])
        elif param.default is param.empty:
            raise ImportFailure(f"{_name(root)}.forward needs the input {name}", code="E0725")
        else:
            full.append(param.default)
            fixed[name] = param.default
    return tuple(full), fixed


def _hf_model(module):
    transformers = sys.modules.get("transformers")
    if transformers is None:
        return None
    base = getattr(transformers, "PreTrainedModel", None)
    return base if base is not None and isinstance(module, base) else None


def _import_hf_module(module, _base, args, kwargs, source) -> str:
    from .hf import import_hf
    from .hf_models import MODEL_TYPES

    config = module.config
    model = MODEL_TYPES.get(getattr(config, "model_type", None))
    arch = _name(module)
    if model is None or arch not in model.architectures:
        raise ImportFailure(
            f"{arch}: a transformers model nnshape cannot import",
            expected="a model type and class of `nnshape import hf --list`",
            found=f"{getattr(config, 'model_type', '?')} / {arch}",
            code="E0707",
        )
    import json

    data = json.loads(config.to_json_string(use_diff=False))
    data["architectures"] = [arch]
    text = import_hf(data)
    given = set(kwargs) | set(_positional_names(module, len(args)))
    missing = [n for n in _spec_inputs(text) if n not in given]
    if missing:
        raise ImportFailure(
            f"{arch} takes the input {missing[0]}, which the example inputs do not give",
            expected="inputs by name: " + ", ".join(_spec_inputs(text)),
            hint=f"--input {missing[0]}=SHAPE[:dtype] on the command line, a dict of inputs by name from Python",
            code="E0725",
        )
    lines = text.splitlines()
    lines[0] = f"# nnshape import torch {source or arch} (a transformers model: imported from its config)"
    return "\n".join(lines) + "\n"


def _trace(module, fixed=None):
    torch = _torch()
    import torch.fx as fx

    from . import torch_map

    class Tracer(fx.Tracer):
        def is_leaf_module(self, m, qualname):
            if torch_map.is_leaf(m):
                return True
            return super().is_leaf_module(m, qualname)

        def call_module(self, m, forward, args, kwargs):
            if isinstance(m, torch.nn.Transformer):
                # encoder(src) -> memory, decoder(tgt, memory): masks change no count
                src, tgt = args[0], args[1]
                memory = self.call_module(m.encoder, m.encoder.forward, (src,), {})
                return self.call_module(m.decoder, m.decoder.forward, (tgt, memory), {})
            return super().call_module(m, forward, args, kwargs)

    root = module
    if type(module) is torch.nn.Transformer:
        root = _TransformerForward(module)
    tracer = Tracer()
    graph = tracer.trace(root, concrete_args=fixed or None)
    return fx.GraphModule(tracer.root, graph)


def _TransformerForward(transformer):
    """nn.Transformer as the two calls it makes (its forward checks shapes in Python)."""
    torch = _torch()

    class Transformer(torch.nn.Module):
        def __init__(self, t):
            super().__init__()
            self.encoder = t.encoder
            self.decoder = t.decoder

        def forward(self, src, tgt):
            return self.decoder(tgt, self.encoder(src))

    return Transformer(transformer)


def _import_traced(module, args, kwargs, allow_partial: bool, source: str | None, tracer: str = "auto") -> str:
    from .torch_emit import Planner, Problem, _ident, write
    from .torch_ir import Builder, normalize
    from .errors import Unmappable

    if tracer not in ("auto", "fx", "export"):
        raise ImportFailure(f"unknown tracer {tracer!r}", expected="auto, fx or export", code="E0722")
    def first_line(exc) -> str:
        text = str(exc).strip()
        return f"{type(exc).__name__}: {text.splitlines()[0][:300] if text else ''}"

    root = _TransformerForward(module) if type(module) is _torch().nn.Transformer else module
    example_inputs, fixed = _bind(root, args, kwargs)

    def build(gm):
        graph = Builder(gm, module, example_inputs).build()
        normalize(graph)
        return graph, Planner(graph).plan()

    tracer_name = "torch.fx"
    fx_error = None
    if tracer != "export":
        try:
            graph, plan = build(_trace(module, fixed))
        except Unmappable as exc:
            raise ImportFailure(f"{_name(module)}: {exc}", code="E0723") from None
        except Exception as exc:  # the user's forward, traced or run: any failure is a report
            fx_error = first_line(exc)
            if tracer == "fx":
                raise ImportFailure(f"torch.fx cannot trace {_name(module)}: {fx_error}", code="E0722") from None
    if tracer == "export" or fx_error is not None:
        try:
            from .torch_export import export_graph

            graph, plan = build(export_graph(module, example_inputs))
            tracer_name = "torch.export" if tracer == "export" else "torch.export (torch.fx could not)"
        except Unmappable as exc:
            raise ImportFailure(f"{_name(module)}: {exc}", code="E0723") from None
        except Exception as exc:
            export_error = first_line(exc)
            raise ImportFailure(
                f"neither torch.fx nor torch.export can trace {_name(module)}: {fx_error or export_error}",
                notes=tuple(n for n in (f"torch.fx: {fx_error}" if fx_error else None, f"torch.export: {export_error}") if n),
                hint="data-dependent control flow (an `if` on a tensor's values) has no single spec",
                code="E0722",
            ) from None
    for name, _uses in graph.shared:  # applied again with the same weights: `reuse LABEL`
        plan.reused[name] = _ident("shared_" + name.replace(".", "_"))
    owners: dict = {}  # id(weight) -> the first module path that holds it
    for op in graph.ops:  # one weight held by two modules (a tied LM head): `tie=LABEL`
        # a registered Parameter only: a computed weight (a parametrization) is a new tensor each time
        weight = getattr(op.module, "_parameters", {}).get("weight") if op.module is not None else None
        path = ".".join(op.path)
        if weight is None or path in plan.reused or path in plan.ties:
            continue
        first = owners.setdefault(id(weight), path)
        if first != path:
            label = _ident("shared_" + first.replace(".", "_"))
            plan.ties[first] = (label, True)
            plan.ties[path] = (label, False)
    unused = _unused(module, graph)
    if unused:
        plan.problems.append(Problem(unused[0], "unused parameters", "parameters that forward never reads "
                                     f"({', '.join(unused[:4])}{' ...' if len(unused) > 4 else ''}): a spec describes what runs"))
    shape_text = ", ".join(("" if i < len(args) else f"{n}=") + "x".join(map(str, t.shape))
                           for i, (n, t) in enumerate(list(enumerate(args)) + list(kwargs.items())))
    header = [f"nnshape import torch {source or _name(module)}", f"traced with {tracer_name} at input {shape_text}"]
    text, problems = write(plan, graph.inputs, allow_partial, header)
    problems = plan.problems
    if problems:
        listed = [str(p) for p in problems]
        if not allow_partial:
            raise ImportFailure(
                f"{_name(module)}: {len(problems)} op(s) have no exact spec form; first: {listed[0]}",
                notes=tuple(listed[:20]),
                hint="--allow-partial writes the mapped part with a comment for each",
                code="E0723",
            )
        text = "# PARTIAL: not verified; these ops are not in the spec:\n" + "".join(f"#   {p}\n" for p in listed) + text
    from .hf import check_spec

    try:
        check_spec(text, _name(module))
    except ImportFailure:
        if not allow_partial:
            raise
    return text


def _unused(module, graph) -> list:
    owners = {}
    for name, mod in module.named_modules():
        for pname, p in mod.named_parameters(recurse=False):
            owners.setdefault(id(p), f"{name}.{pname}" if name else pname)
    return [owners[pid] for pid in owners if pid not in graph.used_params]


# ----------------------------------------------------------------------------- verification


def _positional_names(module, count: int) -> list:
    """The names of forward's first ``count`` parameters (what positional inputs are, by name)."""
    import inspect

    try:
        params = list(inspect.signature(module.forward).parameters.values())
    except (TypeError, ValueError):
        return []
    return [p.name for p in params[:count] if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


_SPEC_INPUT = re.compile(r"input ([A-Za-z_][A-Za-z0-9_]*) (\S+)")


def _spec_inputs(text: str) -> list:
    return [m.group(1) for m in map(_SPEC_INPUT.match, text.splitlines()) if m]


def _lengths(text: str, module, args: tuple, kwargs: dict) -> dict:
    """Values for the length symbols of a written spec (``input input_ids L``): the example's sizes."""
    named = dict(zip(_positional_names(module, len(args)), args))
    named.update(kwargs)
    out = {}
    for m in map(_SPEC_INPUT.match, text.splitlines()):
        if m and m.group(2).isidentifier() and m.group(1) in named and getattr(named[m.group(1)], "dim", lambda: 0)() >= 2:
            out[m.group(2)] = int(named[m.group(1)].shape[1])
    return out


def measure(module, example_inputs, example_kwargs=None):
    """(params, buffers, MACs, output shape) of the module itself, as the tests' oracle measures."""
    torch = _torch()
    from torch.utils.flop_counter import FlopCounterMode

    from ..verifier.runner import counting_flags

    counter = FlopCounterMode(display=False)
    try:
        with counting_flags(module), torch.no_grad(), counter:
            out = module(*example_inputs, **(example_kwargs or {}))
    except Exception as exc:  # the user's forward: a report, not a traceback
        text = str(exc).strip().splitlines()
        raise ImportFailure(f"{_name(module)} cannot run on the example inputs: {type(exc).__name__}: {text[0][:200] if text else ''}",
                            hint="give every input forward needs (--input NAME=SHAPE[:dtype] for one by name)",
                            code="E0725") from None
    first = out
    while not isinstance(first, torch.Tensor):
        if isinstance(first, dict):
            first = next(iter(first.values()))
        elif isinstance(first, (tuple, list)):
            first = first[0]
        elif hasattr(first, "logits") and first.logits is not None:
            first = first.logits
        elif hasattr(first, "last_hidden_state"):
            first = first.last_hidden_state
        else:
            raise ImportFailure(f"the module returns {type(first).__name__}, not a tensor", code="E0724")
    params = sum(p.numel() for p in module.parameters())
    buffers = sum(b.numel() for b in module.buffers())
    return params, buffers, counter.get_total_flops() // 2, tuple(first.shape)


def verify_spec(text: str, module, example_inputs, example_kwargs=None) -> None:
    """The spec's summary must equal the module's own numbers (E0724 names what differs)."""
    from ..api import summarize

    example_kwargs = dict(example_kwargs or {})
    tensors = list(example_inputs) + list(example_kwargs.values())
    batch = tensors[0].shape[0] if tensors else 1
    bindings = _lengths(text, module, tuple(example_inputs), example_kwargs)
    summary = summarize(text, batch=batch, **bindings)
    hf = _hf_model(module) is not None
    config = getattr(module, "config", None) if hf else None
    saved = {k: getattr(config, k) for k in ("_attn_implementation", "_experts_implementation") if hasattr(config, k)}
    try:
        # transformers' fused kernels (grouped expert matmuls) hide MACs from FlopCounterMode: measure
        # with its eager implementations, which compute the same thing op by op
        for key in saved:
            setattr(config, key, "eager")
        params, buffers, macs, shape = measure(module, example_inputs, example_kwargs)
    finally:
        for key, value in saved.items():
            setattr(config, key, value)
    if hf:  # transformers' non-persistent buffers are recomputed constants (docs/importers.md)
        persistent = set(module.state_dict(keep_vars=True))
        buffers = sum(b.numel() for n, b in module.named_buffers() if n in persistent)
    got = (summary.total_params, summary.total_buffers, summary.total_macs, tuple(summary.output_shape))
    want = (params, buffers, macs, shape)
    if got != want:
        names = ("parameters", "buffers", "MACs", "output shape")
        diffs = [f"{n}: spec {g:,} vs module {m:,}" if isinstance(g, int) else f"{n}: spec {g} vs module {m}"
                 for n, g, m in zip(names, got, want) if g != m]
        raise ImportFailure(
            f"the written spec does not match {_name(module)}: {diffs[0]}",
            notes=tuple(diffs),
            hint="--no-verify writes it all the same; please report the module (this is a gap in the importer)",
            code="E0724",
        )
