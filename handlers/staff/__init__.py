"""Staff in their division chats: case buttons, case views, enrolment."""

from __future__ import annotations

from handlers.core.turn import Turn
from handlers.staff import case_views, enrolment

STAFF_COMMANDS = {"cases", "case", "join", "bind", "desk"}


async def command(turn: Turn, name: str, args: list[str]) -> None:
    if name == "join":
        return await enrolment.join(turn, args)
    if name == "bind":
        return await enrolment.bind(turn, args)
    if name == "desk":
        return await enrolment.desk(turn)
    if name == "case":
        return await case_views.show_case(turn, args)
    await case_views.list_cases(turn)
