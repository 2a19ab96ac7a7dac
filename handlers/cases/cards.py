"""Text built from a draft or a case: the reporter's summary and the staff case card."""

from __future__ import annotations

from typing import TYPE_CHECKING

from handlers.cases.staff_view import CaseForStaff, NamedCaseForStaff
from kernel.deadlines import format_datetime
from kernel.i18n import t
from kernel.lifecycle import staff_actions_for
from kernel.messages import Button, Media, Reply, fit_text
from kernel.org_config import OrgConfig
from kernel.payloads import StaffPress
from kernel.routing import Route
from storage.models import Case

if TYPE_CHECKING:
    from handlers.core.turn import Turn

STAFF_LANG = "th"  # staff chats of a Thai local government read Thai


def category_label(org: OrgConfig, report_type: str, code: str, lang: str) -> str:
    for c in org.categories.for_type(report_type):
        if c.code == code:
            return c.label(lang)
    return code


def draft_summary(turn: Turn) -> str:
    d, lang, org = turn.draft, turn.lang, turn.org
    assert d.type is not None and d.category is not None, "the summary comes after the category"
    dash = turn.text("summary.none")
    lines = [turn.text("summary.title"), ""]
    lines.append(f"{turn.text('summary.type')}: {turn.text('type.' + d.type)}")
    if d.type != "information":
        lines.append(f"{turn.text('summary.personnel')}: {turn.text('answer.' + (d.concerns or 'unsure'))}")
        named = d.named_division
        lines.append(f"{turn.text('summary.division')}: {org.division(named).name(lang) if named else dash}")
    lines.append(f"{turn.text('summary.category')}: {category_label(org, d.type, d.category, lang)}")
    lines.append(f"{turn.text('summary.description')}: {d.description}")
    lines.append(f"{turn.text('summary.when')}: {d.when or dash}")
    where = d.where or (turn.text("summary.shared_location") if d.location else dash)
    lines.append(f"{turn.text('summary.where')}: {where}")
    lines.append(f"{turn.text('summary.people')}: {d.people or dash}")
    if d.type == "information":
        lines.append(f"{turn.text('summary.wanted')}: {d.wanted or dash}")
    lines.append(f"{turn.text('summary.files')}: {len(d.files)}")
    if d.anonymous:
        lines.append(f"{turn.text('summary.identity')}: {turn.text('answer.anonymous')}")
    else:
        lines.append(f"{turn.text('summary.identity')}: {d.name}")
        lines.append(f"{turn.text('summary.contact')}: {d.phone or d.contact or dash}")
    lines += ["", turn.text("summary.check_own_words" if d.quick else "summary.check")]
    # one message with its buttons: a description of 2,900 emoji is shown shortened, not refused
    return fit_text("\n".join(lines))


def case_card(
    org: OrgConfig,
    case: CaseForStaff,
    *,
    route: Route,
    primary: tuple[str, ...] | None = None,
    last_action: str | None = None,
) -> list[Reply]:
    """The case as staff see it, with its action buttons. Only a `NamedCaseForStaff` carries the
    reporter's contact: an anonymous case's view has none to show.

    `primary` is the divisions now responsible (after transfers); `last_action` says who did what.
    """
    lang, tz = STAFF_LANG, org.tz()
    dash = t(lang, "summary.none")
    lines = [
        t(lang, "card.title", reference=case.reference),
        f"{t(lang, 'summary.type')}: {t(lang, 'type.' + case.report_type)}",
        f"{t(lang, 'summary.category')}: {category_label(org, case.report_type, case.category, lang)}",
    ]
    if case.report_type != "information":
        lines.append(f"{t(lang, 'summary.personnel')}: {t(lang, 'answer.' + case.concerns_personnel)}")
    if route.coordinators:
        lines.append(t(lang, "card.conflict"))
    lines += [
        f"{t(lang, 'summary.description')}: {case.description}",
        f"{t(lang, 'summary.when')}: {case.when or dash}",
        f"{t(lang, 'summary.where')}: {case.where or dash}",
        f"{t(lang, 'summary.people')}: {case.people or dash}",
    ]
    if case.wanted:
        lines.append(f"{t(lang, 'summary.wanted')}: {case.wanted}")
    lines += [
        f"{t(lang, 'summary.files')}: {len(case.files)}",
    ]
    if isinstance(case, NamedCaseForStaff):
        who = case.reporter
        lines.append(f"{t(lang, 'summary.identity')}: {who.name or dash}")
        lines.append(f"{t(lang, 'summary.contact')}: {who.phone or who.contact or dash}")
    else:
        lines.append(f"{t(lang, 'summary.identity')}: {t(lang, 'answer.anonymous')}")
    responsible = route.primary if primary is None else primary
    divisions = ", ".join(org.division(c).name(lang) for c in responsible) or t(lang, "card.coordinators")
    lines += [
        f"{t(lang, 'card.assigned')}: {divisions}",
        f"{t(lang, 'card.received')}: {format_datetime(case.created_at, lang=lang, tz=tz)}",
        f"{t(lang, 'card.ack_due')}: {format_datetime(case.ack_due_at, lang=lang, tz=tz)}",
        f"{t(lang, 'card.reply_due')}: {format_datetime(case.reply_due_at, lang=lang, tz=tz)}",
        f"{t(lang, 'card.status')}: {t(lang, 'status.' + case.status)}",
    ]
    if last_action:
        lines.append(last_action)
    # one message, so every case reaches its chat and each edit of the card fits it; the desk and the
    # history show a description the card had to shorten in full
    messages = [Reply(text=fit_text("\n".join(lines)), buttons=card_buttons(case.id, case.status))]
    for i, f in enumerate(case.files, 1):
        caption = t(lang, "card.file_caption", reference=case.reference, n=i, total=len(case.files))
        messages.append(Reply(media=Media(kind=f.kind, file_id=f.file_id, caption=caption)))
    if case.location:
        lat, lon = case.location
        messages.append(Reply(media=Media(kind="location", latitude=lat, longitude=lon)))
    return messages


def card_buttons(case_id: int, status: str) -> list[list[Button]]:
    """Buttons for the actions the case's state allows; the server checks them again on press."""
    names = staff_actions_for(status)
    buttons = [Button(t(STAFF_LANG, f"staff.action_{n}"), StaffPress(n, case_id).data) for n in names]
    return [buttons[i : i + 2] for i in range(0, len(buttons), 2)]


def role_line(role: str) -> str:
    return t(STAFF_LANG, f"card.role_{role}")


def unbound_alert(org: OrgConfig, case: Case, target: str) -> str:
    return _division_alert("card.unbound", org, case, target)


def undeliverable_alert(org: OrgConfig, case: Case, target: str) -> str:
    return _division_alert("card.undeliverable", org, case, target)


def _division_alert(key: str, org: OrgConfig, case: Case, target: str) -> str:
    code = target.removeprefix("division:")
    return t(
        STAFF_LANG, key, reference=case.reference, division=org.division(code).name(STAFF_LANG), code=code
    )
