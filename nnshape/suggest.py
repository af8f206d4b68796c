"""'Did you mean ...?' suggestions for misspelt names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from .limits import MAX_COMPARED


def close_matches(word: str, candidates: Iterable[str], n: int = 3) -> list[str]:
    """Up to ``n`` candidates close to ``word``. Among many (a spec with 100,000 defs), only
    those with its first letter and a length within 2 of its own are compared in full, at most
    MAX_COMPARED of them: twenty misspellings then cost milliseconds, not seconds each."""
    word = word.lower()
    pool = candidates if isinstance(candidates, (list, tuple, set, dict)) else list(candidates)
    if len(pool) > MAX_COMPARED:
        first, size = word[:1], len(word)
        pool = [c for c in pool if c[:1].lower() == first and abs(len(c) - size) <= 2]
        pool = sorted(set(pool))[:MAX_COMPARED]
    else:
        pool = sorted(set(pool))
    return difflib.get_close_matches(word, pool, n=n, cutoff=0.6)


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    matches = close_matches(word, candidates)
    if not matches:
        return None
    if len(matches) == 1:
        return f"did you mean `{matches[0]}`?"
    return "did you mean " + ", ".join(f"`{m}`" for m in matches[:-1]) + f" or `{matches[-1]}`?"
