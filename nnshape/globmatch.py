"""Shell-style globs over '/'-separated paths: matched in bounded time, walked in bounded space.

Globs come from budget files and quoted `nnshape check` arguments, which a pull request can
write. A glob compiled to a backtracking regex takes exponential time on ``*a*a*a…*b``, and
Python's ``glob('**')`` follows symbolic links into loops without end. Here:

- a pattern is a small automaton (one state per token) simulated over the path one character at
  a time, all live states at once: at most ``len(path) × (tokens + 1)`` steps, whatever the
  pattern; a :class:`Meter` caps the steps of a whole command (MAX_GLOB_STEPS);
- :func:`walk` lists a folder tree without following links to folders (so no loop), without
  hidden entries unless the pattern names one, and stops at MAX_GLOB_ENTRIES entries.

Syntax: ``*`` any characters but ``/``; ``?`` one character but ``/``; ``[abc]``, ``[a-z]``,
``[!a-z]`` one character of a class (never ``/``); ``**/`` any number of folders (none
included); ``**`` elsewhere any characters, ``/`` included. ``\\`` is read as ``/``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from .limits import MAX_GLOB_ENTRIES, MAX_GLOB_STEPS

LIT, ANY, CLASS, STAR, DSTAR, DSTAR_SLASH = range(6)
_SKIPPABLE = (STAR, DSTAR, DSTAR_SLASH)  # tokens that may match nothing


class GlobError(ValueError):
    """A pattern that cannot be used; ``col`` is the 1-based column in the pattern (or None)."""

    def __init__(self, message: str, col: int | None = None):
        super().__init__(message)
        self.message = message
        self.col = col


class Meter:
    """Steps left to a command for matching and entries left for walking."""

    def __init__(self, steps: int = MAX_GLOB_STEPS, entries: int = MAX_GLOB_ENTRIES):
        self.steps = steps
        self.entries = entries
        self.spent = 0

    def spend(self, steps: int) -> None:
        self.spent += steps
        if self.spent > self.steps:
            raise GlobError(f"matching the patterns takes more than {self.steps:,} steps; use fewer or simpler patterns")


@dataclass(frozen=True)
class Token:
    kind: int
    char: str = ""
    ranges: tuple[tuple[str, str], ...] = ()
    negated: bool = False

    def accepts(self, ch: str) -> bool:
        """One character, for LIT, ANY and CLASS (the stars are handled by Glob.match)."""
        if self.kind == LIT:
            return ch == self.char
        if ch == "/":
            return False
        if self.kind == CLASS:
            return any(lo <= ch <= hi for lo, hi in self.ranges) != self.negated
        return True


def normalize(pattern: str) -> str:
    pattern = pattern.replace("\\", "/")
    while pattern.startswith("./"):
        pattern = pattern[2:]
    return pattern


class Glob:
    """A compiled pattern; ``match(path)`` takes at most ``len(path) × (len(tokens) + 1)`` steps."""

    def __init__(self, pattern: str):
        self.pattern = normalize(pattern)
        self.tokens = tuple(_tokens(self.pattern))
        self.has_magic = any(t.kind != LIT for t in self.tokens)

    def _closure(self, states: set[int]) -> set[int]:
        todo = list(states)
        while todo:
            i = todo.pop()
            if i < len(self.tokens) and self.tokens[i].kind in _SKIPPABLE and i + 1 not in states:
                states.add(i + 1)
                todo.append(i + 1)
        return states

    def match(self, path: str, meter: Meter | None = None) -> bool:
        """States are token indices (``end`` accepts); ``**/`` at index i also has an inner state
        ``inside + i``, in the middle of its folders (not yet at a '/')."""
        if meter is not None:
            meter.spend((len(path) + 1) * (len(self.tokens) + 1))
        tokens, end = self.tokens, len(self.tokens)
        inside = end + 1
        states = self._closure({0})
        for ch in path:
            following: set[int] = set()
            for i in states:
                if i >= inside:  # within `**/`'s folders: a '/' completes one
                    following.add(i - inside if ch == "/" else i)
                    continue
                if i == end:
                    continue
                token = tokens[i]
                kind = token.kind
                if kind == DSTAR_SLASH:  # `(.*/)?` at a folder boundary: '/' stays there, else go inside
                    following.add(i if ch == "/" else inside + i)
                elif kind == DSTAR:
                    following.add(i)
                elif kind == STAR:
                    if ch != "/":
                        following.add(i)
                elif token.accepts(ch):
                    following.add(i + 1)
            if not following:
                return False
            states = self._closure(following)
        return end in states


def _tokens(pattern: str):
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if pattern.startswith("**/", i):
            yield Token(DSTAR_SLASH)
            i += 3
        elif pattern.startswith("**", i):
            yield Token(DSTAR)
            i += 2
        elif ch == "*":
            yield Token(STAR)
            i += 1
        elif ch == "?":
            yield Token(ANY)
            i += 1
        elif ch == "[":
            token, after = _char_class(pattern, i)
            yield token
            i = after
        else:
            yield Token(LIT, ch)
            i += 1


def _char_class(pattern: str, start: int) -> tuple[Token, int]:
    """``[...]`` at ``start``: the token and the index after it. No closing ``]``: a literal ``[``."""
    j = start + 1
    negated = j < len(pattern) and pattern[j] in "!^"
    if negated:
        j += 1
    first = j
    if j < len(pattern) and pattern[j] == "]":  # `[]]`, `[!]]`: a ']' first is a member
        j += 1
    end = pattern.find("]", j)
    if end == -1:
        return Token(LIT, "["), start + 1
    body = pattern[first:end]
    ranges: list[tuple[str, str]] = []
    k = 0
    while k < len(body):
        lo = body[k]
        if k + 2 < len(body) and body[k + 1] == "-":
            hi = body[k + 2]
            if lo > hi:
                raise GlobError(f"bad range '{lo}-{hi}' in '[{pattern[start + 1:end]}]': its start is after its end", start + 1)
            ranges.append((lo, hi))
            k += 3
        else:
            ranges.append((lo, lo))
            k += 1
    return Token(CLASS, ranges=tuple(ranges), negated=negated), end + 1


def split_base(pattern: str) -> tuple[str, str]:
    """(the folder before the first segment with a wildcard, the rest): ``models/v1/*.nn`` ->
    (``models/v1``, ``*.nn``). The base is ``""`` when the first segment has one."""
    parts = normalize(pattern).split("/")
    fixed: list[str] = []
    for k, part in enumerate(parts[:-1]):
        if any(c in part for c in "*?["):
            return "/".join(fixed), "/".join(parts[k:])
        fixed.append(part)
    if any(c in parts[-1] for c in "*?["):
        return "/".join(fixed), parts[-1]
    return "/".join(fixed), ""


def walk(pattern: str, root: str = ".", meter: Meter | None = None) -> list[str]:
    """Files under ``root`` whose path (relative to ``root``, '/'-separated) matches ``pattern``,
    sorted. Links to folders are not followed (a link to a file is listed; the caller decides
    where it may point). Hidden entries ('.'-names) are skipped unless the pattern names one."""
    meter = meter or Meter()
    base, rest = split_base(pattern)
    glob = Glob(rest)
    if not rest:
        return []
    start = os.path.join(root, base) if base else root
    hidden = ("/" + rest).find("/.") != -1
    crosses = "**" in rest
    depth_left = rest.count("/")
    found: list[str] = []
    stack: list[tuple[str, str, int]] = [(start, "", 0)]  # (folder, its path relative to start, depth)
    while stack:
        folder, rel, depth = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            meter.entries -= 1
            if meter.entries < 0:
                raise GlobError(f"'{pattern}' looks at more than {MAX_GLOB_ENTRIES:,} files and folders; narrow it")
            if entry.name.startswith(".") and not hidden:
                continue
            path = f"{rel}/{entry.name}" if rel else entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    if crosses or depth < depth_left:
                        stack.append((entry.path, path, depth + 1))
                    continue
                is_file = entry.is_file()  # a link to a file counts; a link to a folder does not
            except OSError:
                continue
            if is_file and glob.match(path, meter):
                found.append(f"{base}/{path}" if base else path)
    return sorted(found)
