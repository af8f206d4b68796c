"""Pieces several test files share."""

from __future__ import annotations

import sys


class WorkBoundExceeded(BaseException):  # not an Exception: no `except Exception` in nnshape swallows it
    pass


def bounded(call, steps: int):
    """``call()``, failing once it has made more than ``steps`` Python calls (sys.setprofile's
    call events, C calls included): a test's bound on work that holds on any machine, where a
    bound on seconds fails on a loaded one."""
    made = 0

    def count(frame, event, arg):
        nonlocal made
        made += 1
        if made > steps:
            sys.setprofile(None)
            raise WorkBoundExceeded(f"more than {steps:,} calls")

    sys.setprofile(count)
    try:
        return call()
    finally:
        sys.setprofile(None)


def calls_made(call) -> tuple[object, int]:
    """(``call()``'s result, the Python calls it made)."""
    made = 0

    def count(frame, event, arg):
        nonlocal made
        made += 1

    sys.setprofile(count)
    try:
        result = call()
    finally:
        sys.setprofile(None)
    return result, made


def strict(node):
    """A JSON Schema with no undeclared fields allowed: the shipped schemas let objects grow within
    a version (consumers ignore unknown fields), but every field nnshape emits must be declared."""
    if isinstance(node, dict):
        node = {k: strict(v) for k, v in node.items()}
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        return node
    if isinstance(node, list):
        return [strict(v) for v in node]
    return node


def break_conv2d_macs(monkeypatch) -> None:
    """Make conv2d's MAC rule off by one, so that the verifier has something to catch."""
    from nnshape import registry

    conv = type(registry.get("conv2d"))
    original = conv.infer

    def off_by_one(self, call):
        result = original(self, call)
        return type(result)(result.shape, result.params, result.buffers, result.macs + 1, result.dtype, result.details)

    monkeypatch.setattr(conv, "infer", off_by_one)
