"""The fallback trace: ``torch.export`` where torch.fx cannot trace (nnshape import torch).

torch.fx stops at Python control flow on traced values (``if x.shape[-1] > 4:``); torch.export
runs forward on the example inputs and records the aten ops it took. Its graph is turned back into
the form torch.fx gives: the ops of one call of a module nnshape has a kind for become one
``call_module`` node (found through each op's ``nn_module_stack``), parameters and buffers become
``get_attr`` nodes, and the other aten ops stay functions, which torch_ir maps by their names.
"""

from __future__ import annotations

import operator

from . import torch_map


def _leaf_of(node, root) -> str | None:
    """The outermost module of a kind nnshape has (a leaf) that this op runs inside, if any."""
    stack = node.meta.get("nn_module_stack") or {}
    for entry in stack.values():
        qual = entry[0] if isinstance(entry, tuple) else str(entry)
        if not qual:
            continue
        try:
            module = root.get_submodule(qual)
        except AttributeError:
            continue
        if torch_map.is_leaf(module):
            return qual
    return None


def export_graph(module, example_inputs):
    """An fx.GraphModule of ``module`` from torch.export, in the form torch.fx's trace has."""
    import torch
    import torch.fx as fx

    program = torch.export.export(module, tuple(example_inputs), strict=False)
    graph = program.graph
    signature = program.graph_signature
    attr_of = {}
    for spec in signature.input_specs:
        target = getattr(spec, "target", None)
        if target is not None:
            attr_of[spec.arg.name] = target
    nodes = list(graph.nodes)
    leaf = {n: _leaf_of(n, module) for n in nodes if n.op == "call_function"}
    # runs of consecutive ops inside the same leaf module call
    groups: list = []
    group_of: dict = {}
    for n in nodes:
        q = leaf.get(n)
        if q is None:
            continue
        if groups and groups[-1][0] == q and groups[-1][1][-1] is _previous_call(n):
            groups[-1][1].append(n)
        else:
            groups.append((q, [n]))
        group_of[n] = len(groups) - 1

    new = fx.Graph()
    env: dict = {}
    emitted: set = set()

    def arg(a):
        return fx.node.map_arg(a, lambda x: env[x])

    for n in nodes:
        if n.op == "placeholder":
            if n.name in attr_of:
                env[n] = new.get_attr(attr_of[n.name])
            else:
                env[n] = new.placeholder(n.name)
        elif n.op == "output":
            new.output(arg(n.args[0]))
        elif n in group_of:
            gi = group_of[n]
            if gi in emitted:
                continue
            emitted.add(gi)
            qual, members = groups[gi]
            inside = set(members)
            inputs = []
            for m in members:
                for a in m.all_input_nodes:
                    if a not in inside and a.op != "get_attr" and not (a.op == "placeholder" and a.name in attr_of) and a not in inputs:
                        inputs.append(a)
            outs = [m for m in members if any(u not in inside for u in m.users)]
            sub = module.get_submodule(qual)
            args = tuple(env[a] for a in inputs)
            kwargs = {}
            if isinstance(sub, torch.nn.MultiheadAttention):
                args = (args[0], args[0], args[0]) if len(args) == 1 else (args[0], args[1], args[1])
                kwargs = {"need_weights": False}
            call = new.call_module(qual, args, kwargs)
            call.meta["nn_module_stack"] = dict(members[0].meta.get("nn_module_stack") or {})
            if isinstance(sub, (torch.nn.MultiheadAttention, torch.nn.LSTM, torch.nn.GRU, torch.nn.RNN)):
                call = new.call_function(operator.getitem, (call, 0))
            for o in outs:
                env[o] = call
            if len(outs) > 1:
                raise torch_map.Unmappable(f"{qual}: the module's call gives {len(outs)} tensors")
        else:
            created = new.call_function(n.target, arg(n.args), arg(n.kwargs))
            created.meta["nn_module_stack"] = dict(n.meta.get("nn_module_stack") or {})
            env[n] = created
    gm = fx.GraphModule(module, new)
    return gm


def _previous_call(n):
    """The op just before ``n`` in the graph (runs of a leaf are consecutive)."""
    prev = n.prev
    while prev is not None and prev.op != "call_function":
        if prev.op == "root":
            return None
        prev = prev.prev
    return prev


