"""The case lifecycle (DESIGN.md "Case lifecycle"): which action may follow which state.

received → accepted → investigating ⇄ awaiting_info → resolved | forwarded | closed_no_action,
and the reporter may withdraw an open case. Terminal transitions need a public note.
"""

from __future__ import annotations

from dataclasses import dataclass

OPEN_STATES = ("received", "accepted", "investigating", "awaiting_info")
TERMINAL_STATES = ("resolved", "forwarded", "closed_no_action", "withdrawn")


@dataclass(frozen=True)
class Action:
    name: str
    # None: the state does not change (a note, a message, a transfer)
    to: str | None
    allowed_from: tuple[str, ...]
    needs_note: bool = False
    public: bool = True


ACTIONS: dict[str, Action] = {
    a.name: a
    for a in (
        Action("accept", "accepted", ("received",)),
        Action("investigate", "investigating", ("accepted", "awaiting_info")),
        Action("ask", "awaiting_info", ("accepted", "investigating"), needs_note=True),
        Action("update", None, OPEN_STATES, needs_note=True),
        Action("transfer", None, OPEN_STATES, needs_note=True),
        Action("resolve", "resolved", ("accepted", "investigating", "awaiting_info"), needs_note=True),
        Action("forward", "forwarded", OPEN_STATES, needs_note=True),
        Action("close", "closed_no_action", OPEN_STATES, needs_note=True),
        Action("note", None, OPEN_STATES + TERMINAL_STATES, needs_note=True, public=False),
        # staff correct the category the reporter confirmed: audited, and the label the suggestion
        # rules are checked against (`damrongtham triage`); the reporter is not told
        Action("recategorise", None, OPEN_STATES + TERMINAL_STATES, public=False),
        # the reporter's own actions
        Action("withdraw", "withdrawn", OPEN_STATES),
        Action("reply", "investigating", ("awaiting_info",), needs_note=True),
        Action("add_info", None, OPEN_STATES, needs_note=True),
    )
}
STAFF_ACTIONS = (
    "accept", "investigate", "ask", "update", "transfer", "resolve", "forward", "close", "note",
    "recategorise",
)  # fmt: skip
# Every kind of event a case's history holds: the actions, and what happens beside them. The case
# history shows each as `staff.did_<kind>`, so a kind not listed here is refused when appended.
EVENT_KINDS = (*ACTIONS, "received", "rating", "viewed", "data_request", "erased", "file_opened")


class TransitionRefused(ValueError):
    """An action that the case's state does not allow; `reason` is an i18n key."""

    def __init__(self, reason: str, **values: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.values = values


def allowed(action_name: str, state: str) -> Action:
    """The action, if `state` allows it (whether it needs a note is the action's own `needs_note`)."""
    action = ACTIONS.get(action_name)
    if action is None:
        raise TransitionRefused("lifecycle.unknown_action")
    if state not in action.allowed_from:
        raise TransitionRefused("lifecycle.not_allowed", state=state, action=action_name)
    return action


def check(action_name: str, state: str, note: str | None = None) -> Action:
    """`allowed`, and the note it needs is there."""
    action = allowed(action_name, state)
    if action.needs_note and not (note and note.strip()):
        raise TransitionRefused("lifecycle.note_required")
    return action


def staff_actions_for(state: str) -> list[str]:
    """The buttons a case card shows in `state`."""
    return [name for name in STAFF_ACTIONS if state in ACTIONS[name].allowed_from]


def is_open(state: str) -> bool:
    return state in OPEN_STATES
