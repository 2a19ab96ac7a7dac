"""Why a use case refused: typed, so each door (chat, desk, command line) says it its own way.

`key` is the i18n key of the polite reason and `values` fill it; a refused use case has written
nothing, and its door rolls the unit of work back or commits nothing of it.
"""

from __future__ import annotations


class Refused(Exception):
    def __init__(self, key: str, **values: str) -> None:
        super().__init__(key)
        self.key = key
        self.values = values


class NotFound(Refused):
    """No such case (or plan item), or a button that no longer names one."""


class NotAllowed(Refused):
    """The actor may not act on it: not active staff of a responsible division, nor a coordinator,
    nor the reporter who owns the case."""


class WrongState(Refused):
    """The case's state does not allow the action (values: `state`, `action`)."""


class BadInput(Refused):
    """The input itself is refused: a missing note, an unknown division, a transfer the rules forbid."""
