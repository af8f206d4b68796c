"""Analysis: walk the syntax tree and compute every layer's output shape, parameters, MACs and
memory, as a frozen :class:`~nnshape.summary.Summary` (and the Plan to rebuild it).

Pure Python: the rules come from the kinds in the registry. The modules, by what they do:

========================  ====================================================================
``run.py``                entry points; every failure as one located error; the Summary
``walk.py``               the state of one analysis; dispatch of each statement to its rule
``scopes.py``             constants and defs in nested scopes; ``let``, ``def``, def calls
``binding.py``            one argument binder for layer lines and def calls; labels
``layers.py``             a layer line: kind, bind, infer, row
``reuse.py``              ``layer_key`` (pure) and the cache that infers an equal layer once
``blocks.py``             ``block NAME:``, ``residual:``/``shortcut:``, ``from NAME as ALIAS:``
``merges.py``             ``concat:``/``add:``/``multiply:``/``matmul:`` branches
``merge_rules.py``        the merges' shape rules, pure functions
``repeat.py``             ``repeat N [as i]:``, collapsed from the first shape-keeping pass
``conditions.py``         ``if`` / ``elif`` / ``else`` on constants: the arm taken runs in place
``names.py``              named tensors (``as NAME``, def calls' own names); ``input``, ``output``
``rows.py``               row paths, totals, and the limits on rows
``fields.py``             receptive fields through inputs, merges and repeats
``tensors.py``            the value carried per tensor (info, field, memory token); shape bounds
``tracker.py``            live and saved storages: inference peak, saved-for-backward bytes
``diagnostics.py``        warnings and the errors the walk steps over to find more
========================  ====================================================================
"""

from __future__ import annotations

from .run import analyze, analyze_with_plan

__all__ = ["analyze", "analyze_with_plan"]
