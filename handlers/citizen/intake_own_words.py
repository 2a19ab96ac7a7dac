"""A report begun in the citizen's own words (DESIGN.md "Citizen intake", free text first).

They write what happened, or send a photo with a caption. The organisation's rules suggest the
kind of report, its category and whether it concerns personnel (`kernel.triage`), shown in one
message to confirm or change; nothing is routed on a suggestion the citizen has not confirmed.
Then only what is still missing: one question of the report's kind (who and when for a tip-off,
what and in what form for a request; a grievance goes straight to the place), place and evidence
together, and the summary, which sends the report anonymously or with a name.
"""

from __future__ import annotations

import dataclasses

from handlers.cases.cards import category_label
from handlers.citizen.intake_evidence import take_place
from handlers.citizen.intake_files import keep_file
from handlers.citizen.intake_questions import advance, handle_description
from handlers.core.turn import Turn, clean_text, reply_with, take_text
from kernel.draft import CONCERNS, REPORT_TYPES, Draft, is_concerns, is_report_type
from kernel.messages import Button, Reply, acceptable_evidence
from kernel.org_config import IntakeLimits
from kernel.triage import Suggestion


def _limits(turn: Turn) -> IntakeLimits:
    # before the organisation is chosen, the first one's (a greeting is told apart from a report)
    return turn.org.intake if turn.org_chosen else turn.services.orgs.all[0].intake


def begins_report(turn: Turn) -> bool:
    """Whether a message at the welcome begins a report: a file, or words enough for a description.
    A greeting is answered with the welcome."""
    inc = turn.incoming
    if inc.file is not None:
        return True
    return len(clean_text(inc.text or "")) >= _limits(turn).description_min_chars


async def own_words(turn: Turn) -> None:
    """The words (or the photo) sent at the welcome become the report's description."""
    inc = turn.incoming
    if not turn.draft.quick:
        turn.draft = Draft(quick=True)
        turn.services.codes.prepare()  # hashed in the background while they write
    if not turn.org_chosen:
        # the organisation is asked first; what they sent waits in the draft, checked once it is known
        draft, words = turn.draft, clean_text(inc.caption or inc.text or "")
        if words:
            draft.description = f"{draft.description}\n{words}" if draft.description else words
        if inc.file is not None and acceptable_evidence(inc.file):
            draft.files.append(inc.file)
        return turn.go("choose_org", turn.text("intake.kept_for_later"))
    turn.convo.step = "description"
    await handle_description(turn)


async def after_org_chosen(turn: Turn) -> None:
    """Carry on with what was sent before the organisation was chosen, under its limits."""
    draft, limits = turn.draft, turn.org.intake
    most = limits.max_file_mb * 1024 * 1024
    draft.files = [f for f in draft.files if f.size is None or f.size <= most][: limits.max_files]
    words, draft.description = draft.description, None
    turn.convo.step = "description"
    if not words:
        return turn.go("description")
    # the kept words are checked as if typed now: too long, they stay with the choice to shorten them
    turn.incoming = dataclasses.replace(turn.incoming, text=words, payload=None, file=None, caption=None)
    turn.pressed = None
    await handle_description(turn)


# --- the suggestion ----------------------------------------------------------------------


def prompt_suggest(turn: Turn) -> Reply:
    draft = turn.draft
    if draft.type is None:
        # suggested when first shown, and again after words are added
        found = turn.services.triage(turn.org).suggest(draft.description or "")
        _take(turn, found)
    assert draft.type is not None and draft.category is not None
    parts = [turn.text("type." + draft.type), category_label(turn.org, draft.type, draft.category, turn.lang)]
    if draft.type != "information":
        parts.append(_about_staff(turn))
    return reply_with(
        turn.text("intake.suggest", what=" · ".join(parts)),
        [turn.button("answer.right", "yes"), turn.button("answer.change", "change")],
    )


def _take(turn: Turn, found: Suggestion) -> None:
    draft = turn.draft
    draft.type, draft.category, draft.concerns = found.report_type, found.category, found.concerns_personnel
    draft.named_division = found.division if found.concerns_personnel != "no" else None


def _about_staff(turn: Turn) -> str:
    draft = turn.draft
    if draft.concerns == "no":
        return turn.text("suggest.not_staff")
    if draft.named_division:
        division = turn.org.division(draft.named_division).name(turn.lang)
        return turn.text(f"suggest.{draft.concerns}_staff_of", division=division)
    return turn.text(f"suggest.{draft.concerns}_staff")


async def handle_suggest(turn: Turn) -> None:
    draft = turn.draft
    if turn.pressed == "yes":
        return advance(turn, "category")
    if turn.pressed == "change":
        return turn.go("change")
    if turn.incoming.text is None:
        return turn.fail("errors.use_buttons")
    # more words: they join the description, and the suggestion is made again
    most = turn.org.intake.description_max_chars
    more = take_text(turn, min_chars=1, max_chars=most)
    if more is None:
        return None
    joined = f"{draft.description}\n{more}" if draft.description else more
    if len(joined) > most:
        return turn.fail("errors.too_long", max=most, length=len(joined))
    draft.description, draft.type = joined, None
    turn.go("suggest", turn.text("intake.added"))


# --- changing it, one tap each -------------------------------------------------------------


def prompt_change(turn: Turn) -> Reply:
    draft, lang = turn.draft, turn.lang
    assert draft.type is not None, "changed once suggested"
    mark = "✓ "
    rows = [
        [Button((mark if c.code == draft.category else "") + c.label(lang), turn.payload(f"c:{c.code}"))]
        for c in turn.org.categories.for_type(draft.type)
    ]
    rows.append([turn.button(f"menu.{kind}", f"t:{kind}") for kind in REPORT_TYPES if kind != draft.type])
    if draft.type != "information":
        marked = {a: (mark if draft.concerns == a else "") + turn.text(f"change.staff_{a}") for a in CONCERNS}
        rows.append([Button(marked[a], turn.payload(f"p:{a}")) for a in CONCERNS])
        rows.append([turn.button("change.division", "division")])
    rows.append([turn.button("change.back", "back")])
    return reply_with(turn.text("intake.change"), *rows)


async def handle_change(turn: Turn) -> None:
    draft, pressed = turn.draft, turn.pressed or ""
    assert draft.type is not None, "changed once suggested"
    kind, _, value = pressed.partition(":")
    if pressed == "back":
        return turn.go("suggest")
    if pressed == "division":
        return turn.go("division")
    if kind == "c" and value in [c.code for c in turn.org.categories.for_type(draft.type)]:
        draft.category = value
    elif kind == "t" and is_report_type(value) and value != draft.type:
        # another kind of report: its category and personnel suggested afresh for that kind
        _take(turn, turn.services.triage(turn.org).suggest(draft.description or "", value))
    elif kind == "p" and is_concerns(value):
        draft.concerns = value
        if value == "no":
            draft.named_division = None
    else:
        return turn.fail("errors.use_buttons")
    turn.go("suggest")


# --- the one question of each kind --------------------------------------------------------


def prompt_who_when(turn: Turn) -> Reply:
    return reply_with(
        turn.text("intake.who_when"),
        [Button(turn.text("answer.share_location"), turn.payload("loc"), kind="location")],
        [turn.button("answer.skip", "skip")],
    )


async def handle_who_when(turn: Turn) -> None:
    """Who and when, or skipped by answering the next question: a file or the place."""
    inc = turn.incoming
    if turn.pressed == "skip":
        return advance(turn, "who_when")
    if inc.file is not None:
        if (note := keep_file(turn)) is not None:
            turn.go("place", note)
        return None
    if inc.location is not None:
        return take_place(turn, "place")
    text = take_text(turn, min_chars=1, max_chars=turn.org.intake.detail_max_chars)
    if text is not None:
        turn.draft.people = text
        advance(turn, "who_when")


def prompt_wanted(turn: Turn) -> Reply:
    return reply_with(turn.text("intake.wanted"), [turn.button("answer.skip", "skip")])


async def handle_wanted(turn: Turn) -> None:
    if turn.pressed == "skip":
        return advance(turn, "wanted")
    text = take_text(turn, min_chars=1, max_chars=turn.org.intake.detail_max_chars)
    if text is not None:
        turn.draft.wanted = text
        advance(turn, "wanted")
