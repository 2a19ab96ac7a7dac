"""The citizen intake flow (DESIGN.md "Citizen intake"): one step per question.

Each step has a prompt (the question and its buttons) and a handler for the answer. A handler
either stores the answer and moves on, or says what was wrong and asks the same question again.
"""

from __future__ import annotations

import re

from handlers.cases import cards
from handlers.cases.submit import ReporterInfo, submit_report
from handlers.citizen.privacy import too_many_reports
from handlers.citizen.tracking import show_my_cases
from handlers.core.turn import Step, Turn, reply_with, take_text
from kernel.messages import Button, Reply
from kernel.org_config import Organisations

DRAFT_KEYS = (
    "type", "concerns", "named_division", "category", "description", "when", "where",
    "location", "people", "files", "anonymous", "name", "phone", "contact", "editing",
)  # fmt: skip
NAME_MAX = 100
PHONE_RE = re.compile(r"^\+?[0-9 ()-]{6,20}$")


def draft_fits(orgs: Organisations, state: dict[str, object]) -> bool:
    """Whether a stored draft still names an organisation, division and category that exist."""
    code = state.get("org")
    org = orgs.get(str(code)) if code else orgs.single
    if org is None:
        return not code and not state.get("type")
    named, category, report_type = state.get("named_division"), state.get("category"), state.get("type")
    if named and named not in org.division_codes():
        return False
    if category and report_type:
        return category in [c.code for c in org.categories.for_type(str(report_type))]
    return True


def clear_draft(turn: Turn) -> None:
    for key in DRAFT_KEYS:
        turn.state.pop(key, None)


def start_over(turn: Turn) -> None:
    clear_draft(turn)
    turn.go("menu" if turn.org_chosen else "choose_org")


# --- choose organisation and menu ---------------------------------------------------------


def prompt_choose_org(turn: Turn) -> Reply:
    rows = [[Button(o.name(turn.lang), turn.payload(f"org:{o.code}"))] for o in turn.services.orgs.all]
    return reply_with(turn.text("intake.choose_org"), *rows)


async def handle_choose_org(turn: Turn) -> None:
    code = (turn.pressed or "").removeprefix("org:")
    if not turn.pressed or turn.services.orgs.get(code) is None:
        return turn.fail("errors.use_buttons")
    turn.state["org"] = code
    turn.go("menu")


def prompt_menu(turn: Turn) -> Reply:
    return reply_with(
        turn.text("intake.welcome", centre=turn.org.centre_name(turn.lang)),
        [turn.button("menu.corruption", "t:corruption")],
        [turn.button("menu.grievance", "t:grievance")],
        [turn.button("menu.information", "t:information")],
        [turn.button("menu.track", "track"), turn.button("menu.language", "lang")],
    )


async def handle_menu(turn: Turn) -> None:
    pressed = turn.pressed or ""
    if pressed.startswith("t:") and pressed[2:] in ("corruption", "grievance", "information"):
        clear_draft(turn)
        turn.state["type"] = pressed[2:]
        turn.services.codes.prepare()  # hashed in the background while they write
        if pressed == "t:information":
            turn.state["concerns"] = "no"
            return turn.go("category")
        return turn.go("personnel")
    if pressed == "track":
        await show_my_cases(turn)
        return turn.go("track")
    if pressed == "lang":
        return turn.replies.append(language_prompt(turn))
    turn.fail("errors.use_buttons")


def language_prompt(turn: Turn) -> Reply:
    # Language buttons work from any message: no prompt number.
    return reply_with(turn.text("lang.choose"), [Button("ภาษาไทย", "L.th"), Button("English", "L.en")])


# --- what the report is about -------------------------------------------------------------


def prompt_personnel(turn: Turn) -> Reply:
    return reply_with(
        turn.text("intake.personnel", org=turn.org.name(turn.lang)),
        [turn.button("answer.yes", "yes"), turn.button("answer.no", "no")],
        [turn.button("answer.unsure", "unsure")],
    )


async def handle_personnel(turn: Turn) -> None:
    if turn.pressed not in ("yes", "no", "unsure"):
        return turn.fail("errors.use_buttons")
    turn.state["concerns"] = turn.pressed
    turn.go("division")


def prompt_division(turn: Turn) -> Reply:
    rows = [[Button(d.name(turn.lang), turn.payload(f"d:{d.code}"))] for d in turn.org.divisions]
    return reply_with(turn.text("intake.division"), *rows, [turn.button("answer.skip_unsure", "skip")])


async def handle_division(turn: Turn) -> None:
    pressed = turn.pressed or ""
    if pressed == "skip":
        turn.state["named_division"] = None
    elif pressed.startswith("d:") and pressed[2:] in turn.org.division_codes():
        turn.state["named_division"] = pressed[2:]
    else:
        return turn.fail("errors.use_buttons")
    turn.go("category")


def prompt_category(turn: Turn) -> Reply:
    cats = turn.org.categories.for_type(turn.state["type"])
    rows = [[Button(c.label(turn.lang), turn.payload(f"c:{c.code}"))] for c in cats]
    return reply_with(turn.text("intake.category"), *rows)


async def handle_category(turn: Turn) -> None:
    code = (turn.pressed or "").removeprefix("c:")
    codes = [c.code for c in turn.org.categories.for_type(turn.state["type"])]
    if not (turn.pressed or "").startswith("c:") or code not in codes:
        return turn.fail("errors.use_buttons")
    turn.state["category"] = code
    advance(turn, "category")


# --- free text ---------------------------------------------------------------------------


def prompt_description(turn: Turn) -> Reply:
    limits = turn.org.intake
    return reply_with(
        turn.text(
            "intake.description",
            min=limits.description_min_chars,
            max=limits.description_max_chars,
        )
    )


async def handle_description(turn: Turn) -> None:
    limits = turn.org.intake
    text = take_text(turn, min_chars=limits.description_min_chars, max_chars=limits.description_max_chars)
    if text is not None:
        turn.state["description"] = text
        advance(turn, "description")


def _optional_text_prompt(key: str) -> Step:
    def prompt(turn: Turn) -> Reply:
        return reply_with(turn.text(f"intake.{key}"), [turn.button("answer.skip", "skip")])

    async def handle(turn: Turn) -> None:
        if turn.pressed == "skip":
            turn.state[key] = None
            return advance(turn, key)
        text = take_text(turn, min_chars=1, max_chars=turn.org.intake.detail_max_chars)
        if text is not None:
            turn.state[key] = text
            advance(turn, key)

    return Step(prompt, handle)


def prompt_where(turn: Turn) -> Reply:
    return reply_with(
        turn.text("intake.where"),
        [Button(turn.text("answer.share_location"), turn.payload("loc"), kind="location")],
        [turn.button("answer.skip", "skip")],
    )


def leave_keyboard_step(turn: Turn, step: str, note: str = "intake.noted") -> None:
    """Acknowledge, hiding the share-location/contact keyboard, and move on."""
    turn.replies.append(Reply(text=turn.text(note), remove_keyboard=True))
    advance(turn, step)


async def handle_where(turn: Turn) -> None:
    if turn.pressed == "skip":
        turn.state["where"], turn.state["location"] = None, None
        return leave_keyboard_step(turn, "where", "intake.skipped")
    if turn.incoming.location is not None:
        lat, lon = turn.incoming.location
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            return turn.fail("errors.bad_location")
        turn.state["location"] = [lat, lon]
        return leave_keyboard_step(turn, "where", "intake.location_received")
    text = take_text(turn, min_chars=1, max_chars=turn.org.intake.detail_max_chars)
    if text is not None:
        turn.state["where"] = text
        leave_keyboard_step(turn, "where")


# --- evidence ----------------------------------------------------------------------------


def prompt_evidence(turn: Turn) -> Reply:
    files = turn.state.get("files") or []
    limits = turn.org.intake
    rows = [[turn.button("answer.done" if files else "answer.skip", "done")]]
    if files:
        rows.append([turn.button("answer.remove_files", "clear")])
    return reply_with(
        turn.text("intake.evidence", count=len(files), max=limits.max_files, mb=limits.max_file_mb),
        *rows,
    )


async def handle_evidence(turn: Turn) -> None:
    files: list[dict[str, object]] = turn.state.setdefault("files", [])
    limits = turn.org.intake
    if turn.pressed == "done":
        return advance(turn, "evidence")
    if turn.pressed == "clear":
        files.clear()
        return turn.reprompt(turn.text("intake.files_removed"))
    file = turn.incoming.file
    if file is None:
        return turn.fail("errors.file_expected")
    if len(files) >= limits.max_files:
        return turn.fail("errors.too_many_files", max=limits.max_files)
    if file.size is not None and file.size > limits.max_file_mb * 1024 * 1024:
        return turn.fail("errors.file_too_large", mb=limits.max_file_mb)
    files.append(
        {
            "kind": file.kind,
            "file_id": file.file_id,
            "file_unique_id": file.file_unique_id,
            "file_name": file.file_name,
            "mime_type": file.mime_type,
            "size": file.size,
            "sha256": file.sha256,
        }
    )
    turn.reprompt(turn.text("intake.file_received", count=len(files), max=limits.max_files))


# --- who is reporting --------------------------------------------------------------------


def prompt_identity(turn: Turn) -> Reply:
    return reply_with(
        turn.text("intake.identity"),
        [turn.button("answer.anonymous", "anon")],
        [turn.button("answer.named", "named")],
    )


async def handle_identity(turn: Turn) -> None:
    if turn.pressed == "anon":
        turn.state.update(anonymous=True, name=None, phone=None, contact=None)
        return advance(turn, "identity")
    if turn.pressed == "named":
        turn.state["anonymous"] = False
        return turn.go("name")
    turn.fail("errors.use_buttons")


def prompt_name(turn: Turn) -> Reply:
    return reply_with(turn.text("intake.name"))


async def handle_name(turn: Turn) -> None:
    text = take_text(turn, min_chars=2, max_chars=NAME_MAX)
    if text is not None:
        turn.state["name"] = text
        turn.go("contact")


def prompt_contact(turn: Turn) -> Reply:
    return reply_with(
        turn.text("intake.contact"),
        [Button(turn.text("answer.share_phone"), turn.payload("phone"), kind="contact")],
        [turn.button("answer.skip", "skip")],
    )


async def handle_contact(turn: Turn) -> None:
    inc = turn.incoming
    if turn.pressed == "skip":
        turn.state["phone"], turn.state["contact"] = None, None
        return leave_keyboard_step(turn, "contact", "intake.skipped")
    if inc.contact_phone is not None:
        if not inc.contact_is_own:
            return turn.fail("errors.contact_not_own")
        turn.state["phone"], turn.state["contact"] = inc.contact_phone, None
        return leave_keyboard_step(turn, "contact")
    text = take_text(turn, min_chars=3, max_chars=turn.org.intake.detail_max_chars)
    if text is not None:
        phone = PHONE_RE.match(text) is not None
        turn.state["phone"], turn.state["contact"] = (text, None) if phone else (None, text)
        leave_keyboard_step(turn, "contact")


# --- summary, edit, submit ---------------------------------------------------------------


def prompt_summary(turn: Turn) -> Reply:
    return reply_with(
        cards.draft_summary(turn),
        [turn.button("answer.submit", "submit")],
        [turn.button("answer.edit", "edit"), turn.button("answer.cancel", "cancel")],
    )


async def handle_summary(turn: Turn) -> None:
    if turn.pressed == "edit":
        return turn.go("edit")
    if turn.pressed == "cancel":
        clear_draft(turn)
        turn.say("intake.cancelled")
        return turn.go("menu")
    if turn.pressed != "submit":
        return turn.fail("errors.use_buttons")
    inc = turn.incoming

    reporter_key = turn.services.vault.lookup_key(inc.channel, inc.user_id)
    if await too_many_reports(turn.session, turn.org, reporter_key, turn.now):
        # the draft is kept: it can be sent tomorrow
        return turn.fail("privacy.too_many", limit=turn.org.privacy.max_reports_per_day)
    result = await submit_report(
        turn.session,
        turn.services,
        org=turn.org,
        draft=turn.state,
        reporter=ReporterInfo(channel=inc.channel, chat_id=inc.chat_id, user_id=inc.user_id, lang=turn.lang),
        now=turn.now,
    )
    clear_draft(turn)
    turn.convo.step = "idle"
    turn.convo.prompt_no += 1
    turn.say("intake.submitted", reference=result.reference, code=result.tracking_code)


EDIT_FIELDS = ("type", "description", "when", "where", "people", "evidence", "identity")
# where each edit starts; the chain ends back at the summary (see `advance`)
EDIT_START = {"type": "personnel", "description": "description", "when": "when", "where": "where",
              "people": "people", "evidence": "evidence", "identity": "identity"}  # fmt: skip


def prompt_edit(turn: Turn) -> Reply:
    rows = [[turn.button(f"edit.{name}", f"e:{name}")] for name in EDIT_FIELDS]
    return reply_with(turn.text("edit.choose"), *rows, [turn.button("edit.back", "back")])


async def handle_edit(turn: Turn) -> None:
    pressed = turn.pressed or ""
    if pressed == "back":
        return turn.go("summary")
    name = pressed.removeprefix("e:")
    if not pressed.startswith("e:") or name not in EDIT_START:
        return turn.fail("errors.use_buttons")
    turn.state["editing"] = True
    start = EDIT_START[name]
    if start == "personnel" and turn.state.get("type") == "information":
        start = "category"
    turn.go(start)


NEXT = {
    "category": "description",
    "description": "when",
    "when": "where",
    "where": "people",
    "people": "evidence",
    "evidence": "identity",
    "identity": "summary",
    "contact": "summary",
}
# the last step of each thing the summary's edit menu can change
CHAIN_ENDS = {"category", "description", "when", "where", "people", "evidence", "identity", "contact"}


def advance(turn: Turn, done: str) -> None:
    if turn.state.get("editing") and done in CHAIN_ENDS:
        turn.state["editing"] = False
        return turn.go("summary")
    turn.go(NEXT[done])


# --- resume an unfinished report ---------------------------------------------------------


def prompt_resume(turn: Turn) -> Reply:
    return reply_with(
        turn.text("intake.resume"),
        [turn.button("answer.continue", "continue")],
        [turn.button("answer.start_over", "restart")],
    )


async def handle_resume(turn: Turn) -> None:
    if turn.pressed == "continue":
        return turn.go(turn.state.pop("resume_step", "menu"))
    if turn.pressed == "restart":
        turn.state.pop("resume_step", None)
        return start_over(turn)
    turn.fail("errors.use_buttons")


STEPS: dict[str, Step] = {
    "choose_org": Step(prompt_choose_org, handle_choose_org, drafting=False),
    "menu": Step(prompt_menu, handle_menu, drafting=False),
    "personnel": Step(prompt_personnel, handle_personnel),
    "division": Step(prompt_division, handle_division),
    "category": Step(prompt_category, handle_category),
    "description": Step(prompt_description, handle_description),
    "when": _optional_text_prompt("when"),
    "where": Step(prompt_where, handle_where),
    "people": _optional_text_prompt("people"),
    "evidence": Step(prompt_evidence, handle_evidence),
    "identity": Step(prompt_identity, handle_identity),
    "name": Step(prompt_name, handle_name),
    "contact": Step(prompt_contact, handle_contact),
    "summary": Step(prompt_summary, handle_summary),
    "edit": Step(prompt_edit, handle_edit),
    "resume": Step(prompt_resume, handle_resume, drafting=False),
}
