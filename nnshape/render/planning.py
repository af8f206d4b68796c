"""The footer lines of a per-device plan (``--dp --zero --tp --pp --serve ...``)."""

from __future__ import annotations

from .. import formatting as fmt


def _setup(plan) -> str:
    c = plan.config
    parts = [f"dp {c.dp}"]
    if plan.mode == "training":
        parts.append(f"ZeRO-{c.zero}")
    if c.tp > 1:
        parts.append(f"tp {c.tp}")
    if c.pp > 1:
        parts.append(f"pp {c.pp}")
    if plan.mode == "training" and c.checkpoint != "none":
        parts.append(f"{c.checkpoint} checkpointing")
    return ", ".join(parts)


def plan_lines(summary) -> list[tuple[str, str]]:
    plan = summary.device_plan
    if plan is None:
        return []
    b = fmt.human_bytes
    s = plan.stage
    m = summary.memory
    lines: list[tuple[str, str]] = []
    if plan.mode == "training":
        parts = f"{b(s.weights)} weights + {b(s.grads)} grads"
        if s.master_weights:
            parts += f" + {b(s.master_weights)} fp32 master"
        parts += f" + {b(s.optimizer)} {m.optimizer} state + {b(s.activations)} activations"
        lines.append(("Per device", f"{b(s.total)} = {parts} ({_setup(plan)})"))
        act = f"micro-batch {plan.batch}: {b(plan.saved_per_micro_batch)} saved"
        if plan.config.checkpoint == "full":
            act = f"micro-batch {plan.batch}: {b(plan.saved_per_micro_batch)} of block inputs + {b(plan.recompute)} rebuilt at once in backward"
        elif plan.config.checkpoint == "selective":
            act += " (attention scores recomputed)"
        if plan.config.pp > 1:
            act += f"; stage {s.index + 1} of {plan.config.pp} ({s.first} … {s.last}) holds {s.in_flight} in flight (1F1B)"
        lines.append(("Activations per device", act))
        if plan.padding:
            lines.append(("FSDP padding", f"{b(plan.padding)} of the weights (every parameter's rows rounded up to a multiple of dp)"))
    else:
        context = f"context {plan.context:,}" if plan.context is not None else "the spec's key lengths"
        parts = f"{b(s.weights)} weights + {b(s.kv_cache)} KV cache + {b(s.activations)} forward pass"
        lines.append(("Serving per device", f"{b(s.total)} = {parts} ({context} × {plan.batch} sequences; {_setup(plan)})"))
        if plan.config.pp > 1:
            lines.append(("Busiest stage", f"{s.index + 1} of {plan.config.pp} ({s.first} … {s.last})"))
    if plan.config.tp > 1:
        kept = ", ".join(f"{p} ({why})" for p, why in plan.tp_replicated[:4]) + (" …" if len(plan.tp_replicated) > 4 else "")
        text = f"{plan.tp_split:,} layers split over {plan.config.tp} ranks"
        if plan.tp_whole:
            whole = sum(plan.tp_whole.values())
            parts = ", ".join(f"{what} {fmt.count(n)}" for what, n in list(plan.tp_whole.items())[:4])
            text += f"; {fmt.count(whole)} parameters whole on every rank ({parts}{' …' if len(plan.tp_whole) > 4 else ''})"
        if plan.tp_replicated:
            text += f"; not split: {kept}"
        lines.append(("Tensor parallel", text))
    if plan.budget is not None:
        where = f"{plan.config.gpu} {b(plan.budget)}" if plan.config.gpu else b(plan.budget)
        if plan.fits:
            verdict = f"yes, {b(plan.headroom)} headroom"
        else:
            verdict = f"no, {b(-plan.headroom)} over"
        for key, label in (("micro_batch", "largest micro-batch"), ("concurrency", "largest concurrency"), ("context", "largest context")):
            if key in plan.largest:
                value = plan.largest[key]
                verdict += f"; {label} {'—' if value is None else f'{value:,}'}"
        lines.append(("Fits", f"{where}: {verdict}"))
    for note in plan.notes:
        lines.append(("Note", note))
    return lines
