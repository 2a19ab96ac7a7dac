"""The citizen intake flow (DESIGN.md "Citizen intake"): one step per question.

This module is the dialogue's frame: choosing the organisation and the kind of report, the
summary with its edit menu and the submit, resuming an unfinished report, and `STEPS`, the table
of every step. The questions in between are in `intake_questions` and `intake_evidence`.
"""

from __future__ import annotations

from handlers.cases import cards
from handlers.cases.privacy import too_many_reports
from handlers.cases.submit import ReporterInfo, prepare_submit, submit_report
from handlers.citizen.intake_evidence import (
    handle_evidence,
    handle_place,
    handle_where,
    prompt_evidence,
    prompt_place,
    prompt_where,
)
from handlers.citizen.intake_files import keep_file
from handlers.citizen.intake_own_words import (
    after_org_chosen,
    begins_report,
    handle_change,
    handle_suggest,
    handle_wanted,
    handle_who_when,
    own_words,
    prompt_change,
    prompt_suggest,
    prompt_wanted,
    prompt_who_when,
)
from handlers.citizen.intake_questions import (
    TOO_LONG,
    handle_category,
    handle_contact,
    handle_description,
    handle_division,
    handle_identity,
    handle_name,
    handle_personnel,
    optional_text_step,
    prompt_category,
    prompt_contact,
    prompt_description,
    prompt_division,
    prompt_identity,
    prompt_name,
    prompt_personnel,
)
from handlers.citizen.tracking import show_my_cases
from handlers.core.turn import Step, Turn, reply_with
from kernel.draft import Draft
from kernel.messages import Button, Reply, on_earth
from kernel.payloads import LanguagePress


def draft_fits(turn: Turn) -> bool:
    """Whether the stored draft still names an organisation, division and category that exist."""
    orgs, code = turn.services.orgs, turn.state.get("org")
    org = orgs.get(str(code)) if code else orgs.single
    if org is None:  # not chosen yet: a report begun in own words names nothing of one
        return not code and turn.draft.type is None
    return turn.draft.fits(org)


def clear_draft(turn: Turn) -> None:
    turn.draft = Draft()
    turn.state.pop(TOO_LONG, None)  # a text over the limit, kept for the draft, goes with it


def start_over(turn: Turn) -> None:
    clear_draft(turn)
    turn.go("menu" if turn.org_chosen else "choose_org")


# --- choose organisation and menu ---------------------------------------------------------


def prompt_choose_org(turn: Turn) -> Reply:
    rows = [[Button(o.name(turn.lang), turn.payload(f"org:{o.code}"))] for o in turn.services.orgs.all]
    return reply_with(turn.text("intake.choose_org"), *rows)


async def handle_choose_org(turn: Turn) -> None:
    if not turn.pressed and begins_report(turn):
        return await own_words(turn)  # kept until the organisation is known
    code = (turn.pressed or "").removeprefix("org:")
    if not turn.pressed or turn.services.orgs.get(code) is None:
        return turn.fail("errors.use_buttons")
    turn.state["org"] = code
    if turn.draft.quick:
        return await after_org_chosen(turn)
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
    match turn.pressed:
        case "t:corruption" | "t:grievance":
            turn.draft = Draft(type="corruption" if turn.pressed == "t:corruption" else "grievance")
            turn.services.codes.prepare()  # hashed in the background while they write
            return turn.go("personnel")
        case "t:information":
            turn.draft = Draft(type="information", concerns="no")
            turn.services.codes.prepare()
            return turn.go("category")
        case "track":
            await show_my_cases(turn)
            return turn.go("track")
        case "lang":
            return turn.replies.append(language_prompt(turn))
    if turn.pressed is None and begins_report(turn):
        return await own_words(turn)
    if turn.incoming.text is not None and not turn.pressed:
        return turn.fail("errors.tell_more", min=turn.org.intake.description_min_chars)
    turn.fail("errors.use_buttons")


async def first_message(turn: Turn) -> None:
    """A message with nothing in progress: the welcome, or, when it already tells what happened
    (or is a photo), the start of a report in the citizen's own words."""
    if not begins_report(turn):
        return start_over(turn)
    await own_words(turn)


def language_prompt(turn: Turn) -> Reply:
    # Language buttons work from any message: no prompt number.
    return reply_with(
        turn.text("lang.choose"),
        [Button("ภาษาไทย", LanguagePress("th").data), Button("English", LanguagePress("en").data)],
    )


# --- summary, edit, submit ---------------------------------------------------------------


def prompt_summary(turn: Turn) -> Reply:
    draft = turn.draft
    if not draft.quick:
        send = [turn.button("answer.submit", "submit")]
    elif draft.anonymous or not draft.name:
        # in the citizen's own words, who they are is chosen by how they send it
        send = [
            turn.button("answer.send_anonymously", "send_anon"),
            turn.button("answer.send_named", "send_named"),
        ]
    else:
        send = [turn.button("answer.send_with_name", "send_named")]
        send.append(turn.button("answer.anonymous_instead", "send_anon"))
    return reply_with(
        cards.draft_summary(turn),
        send,
        [turn.button("answer.edit", "edit"), turn.button("answer.cancel", "cancel")],
    )


# the summary's buttons that may send the report (the engine reserves a tracking code for them);
# named apart from the identity step's "anon" and "named", which never send
SENDING = frozenset({"submit", "send_anon", "send_named"})
_SENT_BEFORE = {"anon": "send_anon", "named": "send_named"}  # a summary shown before the rename


async def handle_summary(turn: Turn) -> None:
    draft, inc = turn.draft, turn.incoming
    pressed = _SENT_BEFORE.get(turn.pressed or "", turn.pressed) if draft.quick else turn.pressed
    if turn.pressed == "edit":
        return turn.go("edit")
    if turn.pressed == "cancel":
        ask_before_cancelling(turn)
        return None
    if inc.file is not None:  # evidence is taken until the report is sent
        if (note := keep_file(turn)) is not None:
            turn.reprompt(note)
        return None
    if inc.location is not None:
        if not on_earth(*inc.location):
            return turn.fail("errors.bad_location")
        draft.location = inc.location
        return turn.reprompt(turn.text("intake.location_received"))
    if draft.quick and pressed == "send_anon":
        draft.anonymous, draft.name, draft.phone, draft.contact = True, None, None, None
    elif draft.quick and pressed == "send_named" and (draft.anonymous or not draft.name):
        draft.anonymous = False
        return turn.go("name")
    elif pressed != ("send_named" if draft.quick else "submit"):
        return turn.fail("errors.use_buttons")

    # the engine reserved it before the turn's session (engine._may_send_a_report); if it could not
    # tell, before the first read here, where a read-only try stops before the writer is taken; and
    # so the submit's files sealed and its words cut
    await turn.services.codes.reserve()
    await prepare_submit(turn.services, turn.draft)
    reporter_key = turn.services.vault.lookup_key(inc.channel, inc.user_id)
    if await too_many_reports(turn.work, turn.org, reporter_key):
        # the draft is kept: it can be sent tomorrow
        return turn.fail("privacy.too_many", limit=turn.org.privacy.max_reports_per_day)
    result = await submit_report(
        turn.session,
        turn.services,
        org=turn.org,
        draft=turn.draft,
        reporter=ReporterInfo(channel=inc.channel, chat_id=inc.chat_id, user_id=inc.user_id, lang=turn.lang),
        now=turn.now,
    )
    clear_draft(turn)
    turn.convo.step = "idle"
    turn.convo.prompt_no += 1
    # a share-location or phone keyboard a typed answer left up goes with the confirmation
    submitted = turn.text("intake.submitted", reference=result.reference, code=result.tracking_code)
    turn.replies.append(Reply(text=submitted, remove_keyboard=True))


EDIT_FIELDS = ("type", "description", "when", "where", "people", "wanted", "evidence", "identity")
# where each edit starts; the chain ends back at the summary (see `intake_questions.advance`)
EDIT_START = {"type": "personnel", "description": "description", "when": "when", "where": "where",
              "people": "people", "wanted": "wanted", "evidence": "evidence",
              "identity": "identity"}  # fmt: skip
# a report in the citizen's own words changes its kind on the suggestion, its place with its files
QUICK_EDIT_START = {**EDIT_START, "type": "change", "where": "place"}


def prompt_edit(turn: Turn) -> Reply:
    # only a request says what it wants
    shown = [name for name in EDIT_FIELDS if name != "wanted" or turn.draft.type == "information"]
    rows = [[turn.button(f"edit.{name}", f"e:{name}")] for name in shown]
    return reply_with(turn.text("edit.choose"), *rows, [turn.button("edit.back", "back")])


async def handle_edit(turn: Turn) -> None:
    pressed = turn.pressed or ""
    if pressed == "back":
        return turn.go("summary")
    name = pressed.removeprefix("e:")
    if not pressed.startswith("e:") or name not in EDIT_START:
        return turn.fail("errors.use_buttons")
    turn.draft.editing = True
    start = (QUICK_EDIT_START if turn.draft.quick else EDIT_START)[name]
    if start == "personnel" and turn.draft.type == "information":
        start = "category"
    turn.go(start)


# --- resume an unfinished report ---------------------------------------------------------


def prompt_resume(turn: Turn) -> Reply:
    return reply_with(
        turn.text("intake.resume"),
        [turn.button("answer.continue", "continue")],
        [turn.button("answer.start_over", "restart")],
    )


def ask_before_cancelling(turn: Turn) -> bool:
    """Cancelling a draft whose description is written asks first (one mistaken tap lost it all);
    True when it asks. Asked already, a second /cancel cancels."""
    if not turn.draft.description or turn.convo.step == "confirm_cancel":
        return False
    if turn.convo.step != "resume":  # resuming: the step to resume at is kept already
        turn.state["resume_step"] = turn.convo.step
    turn.go("confirm_cancel")
    return True


def prompt_confirm_cancel(turn: Turn) -> Reply:
    return reply_with(
        turn.text("intake.confirm_cancel"),
        [turn.button("answer.cancel_yes", "yes")],
        [turn.button("answer.keep_writing", "no")],
    )


async def handle_confirm_cancel(turn: Turn) -> None:
    if turn.pressed == "yes":
        turn.state.pop("resume_step", None)
        turn.say("intake.cancelled")
        return start_over(turn)
    if turn.pressed == "no":
        return turn.go(turn.state.pop("resume_step", "summary"))
    turn.fail("errors.use_buttons")


async def handle_resume(turn: Turn) -> None:
    if turn.pressed == "continue":
        return turn.go(turn.state.pop("resume_step", "menu"))
    if turn.pressed == "restart":
        turn.state.pop("resume_step", None)
        return start_over(turn)
    turn.fail("errors.use_buttons")


# the steps that take a file themselves; at any other step of a report, a file is kept as evidence
TAKES_FILES = frozenset({"menu", "choose_org", "description", "evidence", "place", "who_when", "summary"})

STEPS: dict[str, Step] = {
    "choose_org": Step(prompt_choose_org, handle_choose_org, drafting=False),
    "menu": Step(prompt_menu, handle_menu, drafting=False),
    "personnel": Step(prompt_personnel, handle_personnel),
    "division": Step(prompt_division, handle_division),
    "category": Step(prompt_category, handle_category),
    "description": Step(prompt_description, handle_description),
    "when": optional_text_step("when"),
    "where": Step(prompt_where, handle_where),
    "people": optional_text_step("people"),
    "evidence": Step(prompt_evidence, handle_evidence),
    "identity": Step(prompt_identity, handle_identity),
    "name": Step(prompt_name, handle_name),
    "contact": Step(prompt_contact, handle_contact),
    "summary": Step(prompt_summary, handle_summary),
    "suggest": Step(prompt_suggest, handle_suggest),
    "change": Step(prompt_change, handle_change),
    "who_when": Step(prompt_who_when, handle_who_when),
    "place": Step(prompt_place, handle_place),
    "wanted": Step(prompt_wanted, handle_wanted),
    "edit": Step(prompt_edit, handle_edit),
    "resume": Step(prompt_resume, handle_resume, drafting=False),
    "confirm_cancel": Step(prompt_confirm_cancel, handle_confirm_cancel),
}
