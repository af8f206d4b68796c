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
    return phrase(close_matches(word, candidates))


def phrase(matches: list[str]) -> str | None:
    """"did you mean `a`, `b` or `c`?" (None for no match)."""
    if not matches:
        return None
    if len(matches) == 1:
        return f"did you mean `{matches[0]}`?"
    return "did you mean " + ", ".join(f"`{m}`" for m in matches[:-1]) + f" or `{matches[-1]}`?"


def ranked_matches(word: str, names: dict[str, str], synonyms: dict[str, str], n: int = 3) -> list[str]:
    """Up to ``n`` of ``names`` (each mapped to what it names: aliases share their kind's entry),
    one per thing named, best first: a synonym written elsewhere (``chunk`` → ``slice``), names
    that start with the word (``conv2`` → ``conv2d``), names that contain it (``crop`` →
    ``centercrop``), then close spellings. Plain edit distance alone ranks short words badly
    (``mean`` came out as ``elman``) and lists one kind under each of its aliases."""
    word = word.lower()
    found: list[str] = []
    seen: set[str] = set()

    def take(name: str) -> None:
        target = names.get(name, name)
        if target not in seen and len(found) < n:
            seen.add(target)
            found.append(name)

    if word in synonyms:
        take(synonyms[word])
    if len(word) >= 3:
        for name in sorted((k for k in names if k.startswith(word) and k != word), key=len):
            take(name)
        for name in sorted((k for k in names if word in k[1:]), key=len):
            take(name)
    for name in close_matches(word, names, n=n + 3):
        take(name)
    return found
