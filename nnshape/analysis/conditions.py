"""``if`` / ``elif`` / ``else``: decided at analysis time, on constants.

The first arm whose condition is true runs, in place of the ``if`` (no row of its own, no new
scope: a ``let`` inside behaves as outside, rows take their places among the siblings); the arms
not taken produce no rows and are not analyzed, so they report nothing beyond the parser's
errors. A condition reads constants (``let``, def parameters, ``--set``, a repeat's index) and
sizes (``in[1]``); it must be a boolean, and a name nothing binds is an error that says which
``--set`` to give.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import SpecNameError
from ..syntax import If, Statement
from ..values import truth

if TYPE_CHECKING:
    from .scopes import Scope


def taken_branch(stmt: If, scope: "Scope") -> tuple[Statement, ...] | None:
    """The body of the arm taken (None when no condition holds and there is no ``else``)."""
    evaluator = scope.evaluator()
    for arm in stmt.branches:
        if arm.condition is None:
            return arm.body
        try:
            value = evaluator.eval(arm.condition)
        except SpecNameError as err:
            if err.code != "E0201":
                raise
            raise unbound(err, arm.keyword) from None
        if truth(value, arm.keyword, arm.condition):
            return arm.body
    return None


def unbound(err: SpecNameError, keyword: str) -> SpecNameError:
    """E0210: the condition reads a name that nothing binds (E0201 in a condition)."""
    name = (err.found or "").strip("'") or "?"
    close = err.hint if err.hint and err.hint.startswith("did you mean") else None
    return SpecNameError(
        f"the condition of `{keyword}` reads '{name}', which nothing binds",
        err.span,
        expected="a constant: a `let`, a def parameter, a repeat's index or a `--set` value",
        found=f"'{name}'",
        hint=(close + " " if close else "") + f"give it on the command line: `--set {name}=...` (or `let {name} = ...` before the `{keyword}`)",
        code="E0210",
    )
