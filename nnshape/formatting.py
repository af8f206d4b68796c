"""Numbers and shapes for people: thousands separators and decimal units (k, M, G, T)."""

from __future__ import annotations

from .symbolic import Dim, Poly, format_count
from .tensor import Shape, format_shape

_UNITS = ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "k"))


def human(value: Dim, suffix: str = "") -> str:
    """25557032 -> '25.56 M'; symbolic values are shown as polynomials."""
    if isinstance(value, Poly):
        return value.format(group=True)
    for scale, unit in _UNITS:
        if abs(value) >= scale:
            return f"{value / scale:.2f} {unit}{suffix}"
    return f"{value} {suffix}".rstrip() if suffix else str(value)


def human_bytes(value: Dim) -> str:
    if isinstance(value, Poly):
        return value.format(group=True) + " B"
    for scale, unit in ((10**12, "TB"), (10**9, "GB"), (10**6, "MB"), (10**3, "kB")):
        if abs(value) >= scale:
            return f"{value / scale:.2f} {unit}"
    return f"{value} B"


def count(value: Dim) -> str:
    return format_count(value)


def shape(value: Shape) -> str:
    return format_shape(value)


def percent(part: Dim, whole: Dim) -> str:
    if isinstance(part, Poly) or isinstance(whole, Poly) or not whole:
        return "—" if isinstance(part, Poly) or isinstance(whole, Poly) else "0.0%"
    return f"{100 * part / whole:.1f}%"
