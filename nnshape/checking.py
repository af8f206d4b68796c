"""`nnshape check`'s verdicts as data: each limit tested against a Summary (no printing, no click).

The command (nnshape/commands/check.py) and ``nnshape.check()`` both use these.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MEMORY_FIGURES = {"training": "training memory", "inference": "inference peak memory"}


@dataclass
class CheckResult:
    limit: str  # "output", "max-params", "min-params", "max-macs"
    ok: bool
    expected: object  # the limit's value (a shape for output)
    actual: object
    text: str  # the limit as written
    origin: str  # "--max-params" or 'nnshape.toml ["models/*.nn"]'
    message: str
    line: int | None = None

    def to_dict(self) -> dict:
        from .symbolic import to_json

        def plain(v):
            return [to_json(d) for d in v] if isinstance(v, tuple) else to_json(v)

        return {
            "limit": self.limit, "ok": self.ok, "expected": plain(self.expected), "actual": plain(self.actual),
            "limit_text": self.text, "origin": self.origin, "message": self.message,
        }


@dataclass
class SpecResult:
    spec: str
    summary: object = None
    errors: list = field(default_factory=list)  # Diagnostics
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and all(c.ok for c in self.checks)

    def to_dict(self) -> dict:
        from .symbolic import to_json

        s = self.summary
        return {
            "spec": self.spec,
            "ok": self.ok,
            "valid": not self.errors,
            "errors": [d.to_dict() for d in self.errors],
            "warnings": [w.to_dict() for w in (s.warnings if s else ())],
            "output_shape": [to_json(d) for d in s.output_shape] if s else None,
            "total_params": to_json(s.total_params) if s else None,
            "trainable_params": to_json(s.trainable_params) if s else None,
            "total_macs": to_json(s.total_macs) if s else None,
            "checks": [c.to_dict() for c in self.checks],
        }


def evaluate(name: str, s, limits, bindings: dict, memory_for: str = "training") -> list[CheckResult]:
    from .budget import parse_shape
    from .formatting import count, human, human_bytes
    from .symbolic import Poly
    from .tensor import format_shape

    checks: list[CheckResult] = []
    if limits.output is not None:
        lim = limits.output
        expected = parse_shape(lim.value, bindings, what=f"output ({lim.origin})")
        actual = tuple(s.output_shape[1:])
        ok = len(expected) == len(actual) and all(type(a) is type(e) and a == e for a, e in zip(actual, expected))
        line = next((row.line for row in reversed(s.layers) if row.depth == 0), None)
        message = (
            f"{name}: output shape {format_shape(actual)} (per sample, batch excluded) "
            + (f"matches {lim.origin} {format_shape(expected)}" if ok else f"differs from the expected {format_shape(expected)} ({lim.origin} {lim.text})")
        )
        checks.append(CheckResult("output", ok, expected, actual, lim.text, lim.origin, message, line))
    trainable = bool(limits.trainable_only and limits.trainable_only.value)
    params = s.trainable_params if trainable else s.total_params
    what = "trainable params" if trainable else "params"
    for key, lim, actual, label, is_max in (
        ("max-params", limits.max_params, params, what, True),
        ("min-params", limits.min_params, params, what, False),
        ("max-macs", limits.max_macs, s.total_macs, f"MACs (batch {s.batch})", True),
    ):
        if lim is None:
            continue
        limit_text = f"{count(lim.value)}" + (f" ({lim.text})" if lim.text.replace(",", "").replace("_", "") != str(lim.value) else "")
        if isinstance(actual, Poly):
            ok = False
            message = (
                f"{name}: {key} cannot be checked: {label} is {count(actual)}, which depends on "
                f"{', '.join(actual.symbols)}; limit {limit_text} from {lim.origin}; bind the names with --set or `set` in the budget file"
            )
        else:
            ok = actual <= lim.value if is_max else actual >= lim.value
            human_actual = f" ({human(actual)})" if actual >= 1000 else ""
            if ok:
                message = f"{name}: {label} {count(actual)}{human_actual} {'≤' if is_max else '≥'} {key} {limit_text} from {lim.origin}"
            else:
                verb = "exceeds" if is_max else "is below"
                message = f"{name}: {label} {count(actual)}{human_actual} {verb} the limit {key} {limit_text} from {lim.origin}"
        checks.append(CheckResult(key, ok, lim.value, actual, lim.text, lim.origin, message))
    if limits.max_memory is not None and s.memory is not None:
        lim = limits.max_memory
        m = s.memory
        actual = m.training_bytes if memory_for == "training" else m.inference_peak_bytes
        label = f"{MEMORY_FIGURES[memory_for]} (batch {s.batch}, {m.dtype}" + (f", {m.optimizer}" if memory_for == "training" else "") + (", amp" if m.amp else "") + ")"
        limit_text = human_bytes(lim.value) + (f" ({lim.text})" if lim.text.strip() != human_bytes(lim.value) else "")
        if actual is None or isinstance(actual, Poly):
            symbols = ", ".join(actual.symbols) if isinstance(actual, Poly) else "a symbolic size"
            actual = actual if actual is not None else "symbolic"
            ok = False
            message = (f"{name}: max-memory cannot be checked: {label} depends on {symbols}; limit {limit_text} from {lim.origin}; "
                       "bind the names with --set or `set` in the budget file")
        else:
            ok = actual <= lim.value
            if ok:
                message = f"{name}: {label} {human_bytes(actual)} ≤ max-memory {limit_text} from {lim.origin}"
            else:
                message = f"{name}: {label} {human_bytes(actual)} exceeds the limit max-memory {limit_text} from {lim.origin}"
        checks.append(CheckResult("max-memory", ok, lim.value, actual, lim.text, lim.origin, message))
    plan = getattr(s, "device_plan", None)
    if limits.max_device_memory is not None and plan is not None:
        lim = limits.max_device_memory
        actual = plan.total
        c = plan.config
        setup = f"dp {c.dp}, ZeRO-{c.zero}, tp {c.tp}, pp {c.pp}" + (", serving" if c.serve else f", micro-batch {plan.batch}")
        label = f"per-device memory ({setup}, {s.memory.dtype})"
        limit_text = human_bytes(lim.value) + (f" ({lim.text})" if lim.text.strip() != human_bytes(lim.value) else "")
        ok = actual <= lim.value
        verb = "≤ max-device-memory" if ok else "exceeds the limit max-device-memory"
        message = f"{name}: {label} {human_bytes(actual)} {verb} {limit_text} from {lim.origin}"
        checks.append(CheckResult("max-device-memory", ok, lim.value, actual, lim.text, lim.origin, message))
    return checks
