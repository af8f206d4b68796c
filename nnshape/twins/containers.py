"""The containers of a network: the blocks of a spec as modules whose submodules are named by row paths."""

import torch
from torch import nn


# --------------------------------------------------------------------------- containers


def free_name(owner, name):
    """``name`` as a submodule name of ``owner``, with ``_`` appended while torch would refuse it
    (taken, or an attribute of the module such as ``forward`` or ``training``)."""
    while name in owner._modules or hasattr(owner, name):
        name += "_"
    return name


def run_items(owner, x, env):
    """Run a container's items in order; a block reads and writes named tensors through ``env``,
    and an item written `as NAME` stores its output there."""
    for name, tensors, store in owner._nnshape_items:
        if tensors is None:
            x = owner._modules[name](x, env)
        else:  # a layer, given the named tensors it also reads (kv=...)
            x = owner._modules[name](x, *[env[t] for t in tensors])
        if store is not None:
            env[store] = x
    return x


def share(module, source, names=None):
    """Give ``module`` the parameters and buffers of ``source`` (all of them, or those ``names``
    lists: ``("weight",)`` ties a weight), the same tensors, so ``parameters()`` yields each once
    and a step updates them for every use. Returns ``module``."""
    for name, tensor in [*source.named_parameters(), *source.named_buffers()]:
        if names is None or name in names:
            owner, _, attr = name.rpartition(".")
            setattr(module.get_submodule(owner) if owner else module, attr, tensor)
    return module


class Seq(nn.Module):
    """Statements in order: a block, a def call, a branch, a shortcut, one pass of a repeat.

    ``append(name, module, tensors=(), store=None)`` adds an item and returns it: a layer, given
    the named tensors it also reads (kv=...), or a block (a Seq), which reads and writes them
    through ``env``; ``store`` names the item's output (`as NAME`). Submodule names follow the
    rows of ``nnshape summary``.
    """

    def __init__(self):
        super().__init__()
        self._nnshape_items = []

    def append(self, name, module, tensors=(), store=None):
        name = free_name(self, name)
        self.add_module(name, module)
        self._nnshape_items.append((name, None if isinstance(module, Seq) else tuple(tensors), store))
        return module

    def forward(self, x, env):
        return run_items(self, x, env)


class Call(Seq):
    """A def call that stores tensors of its own: they are read inside the call only, and freed
    when it returns (the call runs on a copy of the names it can read)."""

    def forward(self, x, env):
        return run_items(self, x, dict(env))


class Residual(Seq):
    """``body(x) + x``, or ``body(x) + shortcut(x)`` once a shortcut is set."""

    def __init__(self):
        super().__init__()
        self._nnshape_shortcut = None

    def set_shortcut(self, module):
        name = free_name(self, "shortcut")
        self.add_module(name, module)
        self._nnshape_shortcut = name
        return module

    def forward(self, x, env):
        y = run_items(self, x, env)
        skip = x if self._nnshape_shortcut is None else self._modules[self._nnshape_shortcut](x, env)
        return y + skip


class Merge(Seq):
    """``concat`` / ``add`` / ``multiply`` / ``matmul`` of branches that all read the same input."""

    def __init__(self, op, dim):
        super().__init__()
        self._nnshape_op, self._nnshape_dim = op, dim

    def forward(self, x, env):
        items = self._nnshape_items
        outs = [self._modules[name](x, env) for name, tensors, _ in items if tensors is None]  # the branches
        if self._nnshape_op == "concat":
            return torch.cat(outs, dim=self._nnshape_dim)
        if self._nnshape_op == "matmul":  # the product is the leaf item after the branches (its own row)
            product = [name for name, tensors, _ in items if tensors is not None]
            return self._modules[product[0]](outs[0], outs[1]) if product else torch.matmul(outs[0], outs[1])
        y = outs[0]
        for out in outs[1:]:
            y = y + out if self._nnshape_op == "add" else y * out
        return y

    def extra_repr(self):
        return self._nnshape_op + (f", dim={self._nnshape_dim}" if self._nnshape_op == "concat" else "")


class MatMul(nn.Module):
    """The product of a ``matmul:`` block, ``torch.matmul(a, b)``: a module of its own, so that
    its MACs are measured on its row."""

    def forward(self, a, b):
        return torch.matmul(a, b)


class From(Seq):
    """Run the body on a named tensor; keep the result under ``alias``."""

    def __init__(self, source, alias):
        super().__init__()
        self._nnshape_source, self._nnshape_alias = source, alias

    def forward(self, x, env):
        y = run_items(self, env[self._nnshape_source], env)
        if self._nnshape_alias:
            env[self._nnshape_alias] = y
        return y


class Network(Seq):
    """The whole spec. ``forward`` takes the declared inputs in order; the top-level statements
    read the first (later inputs are read by name, as in the analysis). It returns the output, or
    a tuple of the outputs when the spec names several."""

    def __init__(self, inputs, output):
        super().__init__()
        self._nnshape_inputs, self._nnshape_output = list(inputs), output

    def forward(self, *tensors):
        env = dict(zip(self._nnshape_inputs, tensors))
        y = run_items(self, tensors[0] if tensors else None, env)
        out = self._nnshape_output
        if isinstance(out, (tuple, list)):  # several outputs (`output a, b`): a tuple
            return tuple(env[name] for name in out)
        return env[out] if out else y
