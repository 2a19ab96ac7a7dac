"""The conversation engine: one incoming event in; its conversation and its replies (queued in the
outbox) written in one transaction."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from cryptography.fernet import InvalidToken
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from handlers import staff
from handlers.citizen import intake, privacy
from handlers.citizen import my_cases as reporter_cases
from handlers.citizen.intake_files import keep_early_file
from handlers.citizen.tracking import TRACK_STEP, check_reference, show_my_cases
from handlers.core.turn import Step, Turn
from handlers.core.work import Services
from handlers.plan import progress
from handlers.staff import case_buttons
from kernel import payloads
from kernel.i18n import LANGUAGES, t
from kernel.messages import Incoming, Reply
from storage import conversations as convo_repo
from storage import web_chat
from storage.conversations import NotWrittenBack
from storage.models import Conversation
from storage.outbox import Messages, To, message_rows, queue_message
from storage.read_only import WritesNeeded, check_nothing_written

log = logging.getLogger(__name__)

PROGRESS_PRESSES = (
    payloads.ProgressDone, payloads.ProgressList, payloads.ProgressItem, payloads.ProgressStatus,
)  # fmt: skip
# presses whose turn always writes more than its conversation (a staff action, the reporter's own)
WRITING_PRESSES = (
    payloads.StaffPress,
    payloads.StaffCancel,
    payloads.ReporterPress,
    payloads.ErasePress,
    *PROGRESS_PRESSES,
)
STEPS: dict[str, Step] = {**intake.STEPS, **reporter_cases.STEPS, "track": TRACK_STEP}
PRIVATE_COMMANDS = {"start", "help", "lang", "privacy", "cancel", "status", "mydata"}


@dataclass(frozen=True)
class Outcome:
    queued: list[Reply] = field(default_factory=list)
    # replies the adapter must send itself: the outbox was out of reach
    undelivered: list[Reply] = field(default_factory=list)
    # handled before (a redelivery, or its process died before marking it): nothing was done now
    duplicate: bool = False


class Engine:
    def __init__(self, services: Services) -> None:
        self.services = services

    async def handle(self, incoming: Incoming) -> Outcome:
        """Handle one event; its replies are in the outbox when this returns."""
        try:
            replies = await self._handle(incoming)
            if replies is None:
                return Outcome(duplicate=True)
        except (OperationalError, DBAPIError):
            self.services.metrics.errors["database"] += 1
            log.exception("database unavailable while handling an update", extra=_log_context(incoming))
            return await self._apology(incoming, "errors.try_again")
        except Exception:
            self.services.metrics.errors["handler"] += 1
            log.exception("unexpected error while handling an update", extra=_log_context(incoming))
            return await self._apology(incoming, "errors.unexpected")
        self.services.metrics.updates_handled[incoming.channel] += 1
        if replies:
            self.services.on_queued()
        return Outcome(queued=replies)

    async def _handle(self, incoming: Incoming) -> list[Reply] | None:
        """The replies queued; None for an update handled before.

        Most turns only move their own conversation on (a draft's next answer). Such a turn is
        worked out on a session that only reads and then written back in a short write, which on
        SQLite is all it holds the single writer for. A turn that writes anything else (a report,
        a staff action) is stopped at its first write, before it did anything that lasts, and runs
        again as a whole in a write session; so is one whose conversation someone wrote meanwhile."""
        if _may_send_a_report(incoming):
            # before any session: a tracking code hashed now (none spare) holds no database
            # connection and no writer meanwhile
            await self.services.codes.reserve()
        if not _may_only_move_on(incoming):
            return await self._handle_writing(incoming)
        try:
            async with self.services.db.session(read_only=True, inline=True) as session:
                turn = await self._turn(session, incoming)
                read_state = turn.convo.state_enc
                await self._dispatch(turn)
                check_nothing_written(session)
        except WritesNeeded:
            pass
        else:
            try:
                await self.services.db.write_short(
                    partial(convo_repo.write_back, turn=self._written(turn, read_state))
                )
            except NotWrittenBack as not_written:
                if not_written.handled_before:
                    log.info("duplicate update dropped", extra={"channel": incoming.channel})
                    return None
            else:
                return turn.replies
        return await self._handle_writing(incoming)

    async def _handle_writing(self, incoming: Incoming) -> list[Reply] | None:
        """The whole turn in one write session, its statements on the loop's thread (on SQLite):
        a submit's twenty-odd statements would otherwise hold the writer for rounds of the loop."""
        async with self.services.db.session(write=True, inline=True) as session:
            if not await self._claim(session, incoming):
                return None
            turn = await self._turn(session, incoming)
            self._echo(session, incoming, turn.now)  # before the answers: the page shows them in order
            await self._dispatch(turn)
            await self._finish(session, turn)
            return turn.replies

    async def _claim(self, session: AsyncSession, incoming: Incoming) -> bool:
        """Record the update as handled; False when it was (a redelivery)."""
        if incoming.update_key is None or await convo_repo.claim_update(
            session, incoming.channel, incoming.update_key, now=self.services.clock()
        ):
            return True
        log.info("duplicate update dropped", extra={"channel": incoming.channel})
        return False

    async def _turn(self, session: AsyncSession, incoming: Incoming) -> Turn:
        """The turn with its conversation as stored (a new one for a chat never seen)."""
        services = self.services
        # In a group every member has a conversation of their own (a staff member's pending note).
        key_parts = [incoming.channel, incoming.chat_id]
        if incoming.chat_type != "private":
            key_parts.append(incoming.user_id)
        chat_key = services.vault.lookup_key(*key_parts)
        convo = await convo_repo.get_conversation(session, incoming.channel, chat_key)
        if convo is None:
            convo = Conversation(channel=incoming.channel, chat_key=chat_key, step="idle")
            if incoming.chosen_lang in LANGUAGES:
                convo.lang = incoming.chosen_lang
        turn = Turn(services, session, incoming, convo, {}, services.clock(), STEPS)
        if convo.state_enc:
            try:
                turn.restore(services.vault.decrypt(convo.state_enc))
            except InvalidToken:
                # A damaged row: the draft cannot come back, but the chat must not stay stuck on it.
                log.error("conversation state unreadable with the current key; starting afresh")
                convo.step = "idle"
                turn.say("errors.draft_lost")
        if not intake.draft_fits(turn):
            # The organisation file changed under a draft (a division or category is gone).
            log.warning("draft no longer fits its organisation; starting afresh")
            turn.restore({})
            convo.step = "idle"
            turn.say("errors.draft_lost")
        return turn

    def _echo(self, session: AsyncSession, incoming: Incoming, now: datetime) -> None:
        """The web chat's page shows what the citizen sent, as a line of the conversation."""
        if incoming.echo is not None:
            line = Reply(text=incoming.echo)
            web_chat.queue_line(session, self.services.vault, incoming.chat_id, "citizen", line, now)

    def _to_store(self, turn: Turn) -> Conversation | None:
        """The conversation with its state encrypted to be stored; None when there is nothing to
        remember (a member's press in a group that leaves no note awaited needs no row)."""
        convo, incoming = turn.convo, turn.incoming
        stored = turn.to_store()
        if convo.id is None and not stored and incoming.chat_type != "private" and convo.lang == "th":
            return None
        convo.state_enc = self.services.vault.encrypt(stored)
        convo.updated_at = turn.now
        return convo

    async def _finish(self, session: AsyncSession, turn: Turn) -> None:
        """Store the conversation, queue the replies and commit."""
        convo = self._to_store(turn)
        if convo is not None:
            await convo_repo.store_conversation(session, convo)
        for reply in turn.replies:
            await self._queue_reply(session, turn.incoming, reply, turn.now)
        await session.commit()

    def _written(self, turn: Turn, read_state: str | None) -> convo_repo.WriteBack:
        """A turn worked out read-only, as it is written back: as `_claim`, `_echo` and `_finish`
        would write it, the conversation unless someone wrote it since its state was `read_state`."""
        incoming, vault = turn.incoming, self.services.vault
        messages = Messages()
        if incoming.echo is not None:
            messages.web.append(
                web_chat.line_row(vault, incoming.chat_id, "citizen", Reply(text=incoming.echo), turn.now)
            )
        for reply in turn.replies:
            message_rows(vault, **self._reply_to(incoming), reply=reply, now=turn.now, into=messages)
        return convo_repo.WriteBack(
            incoming.channel,
            incoming.update_key,
            self.services.clock(),
            self._to_store(turn),
            read_state,
            messages,
        )

    async def _queue_reply(
        self, session: AsyncSession, incoming: Incoming, reply: Reply, now: datetime
    ) -> None:
        await queue_message(session, self.services.vault, **self._reply_to(incoming), reply=reply, now=now)

    @staticmethod
    def _reply_to(incoming: Incoming) -> To:
        return {
            "org_id": None,
            "case_id": None,
            "kind": "reply",
            "target": "reply",
            "channel": incoming.channel,
            "chat_id": incoming.chat_id,
        }

    async def _apology(self, incoming: Incoming, key: str) -> Outcome:
        """Never leave a user without an answer; what they entered stays as it was."""
        reply = Reply(text=t("th", key) + "\n" + t("en", key))
        try:
            async with self.services.db.session(write=True) as session:
                await self._queue_reply(session, incoming, reply, self.services.clock())
                await session.commit()
        except Exception:
            log.exception("could not queue the apology", extra=_log_context(incoming))
            return Outcome(undelivered=[reply])
        self.services.on_queued()
        return Outcome(queued=[reply])

    async def _dispatch(self, turn: Turn) -> None:
        inc = turn.incoming
        if turn.convo.step not in STEPS:
            turn.convo.step = "idle"
        command = inc.command
        pressed = payloads.parse(inc.payload) if inc.payload is not None else None
        if command is not None:
            turn.state.pop("progress_note", None)
        if command is not None and command[0] in staff.STAFF_COMMANDS:
            return await staff.command(turn, *command)
        if command is not None and command[0] in progress.PROGRESS_COMMANDS:
            return await progress.command(turn, *command)
        # one thing awaits a typed answer at a time: a new case action or progress item replaces it
        if isinstance(pressed, payloads.StaffPress | payloads.StaffCancel):
            turn.state.pop("progress_note", None)
            return await case_buttons.press(turn)
        if isinstance(pressed, PROGRESS_PRESSES):
            turn.state.pop("pending", None)
            return await progress.press(turn)
        if "progress_note" in turn.state and pressed is None and command is None:
            return await progress.note_or_evidence(turn)
        if "pending" in turn.state and pressed is None:
            if command is not None and command[0] == "cancel":
                turn.state.pop("pending")
                return turn.say("staff.cancelled")
            return await case_buttons.pending_note(turn)
        if inc.chat_type != "private":
            return self._group(turn)
        if isinstance(pressed, payloads.ReporterPress):
            return await reporter_cases.press(turn)
        if isinstance(pressed, payloads.MenuPress):
            return await self._menu_shortcut(turn, pressed.choice)
        if isinstance(pressed, payloads.ErasePress):
            return await privacy.erase_mine(turn)
        if command is not None:
            return await self._command(turn, *command)
        if isinstance(pressed, payloads.LanguagePress):
            return self._set_language(turn, pressed.lang)
        if turn.convo.step == "idle":
            return await intake.first_message(turn) if pressed is None else self._stale(turn)
        if pressed is not None:
            if not isinstance(pressed, payloads.StepPress) or pressed.prompt_no != turn.convo.prompt_no:
                return self._stale(turn)
            turn.pressed = pressed.value
        elif inc.text is not None:
            turn.pressed = self._typed_button(turn, inc.text)
        if inc.unsupported == "file_unavailable":
            return turn.fail("errors.file_unavailable")
        if inc.unsupported is not None and turn.pressed is None:
            return turn.fail("errors.unsupported")
        step = turn.convo.step
        if inc.file is not None and turn.draft.started and step not in intake.TAKES_FILES:
            return await keep_early_file(turn)  # kept, and the same question again
        await STEPS[step].handle(turn)

    async def _menu_shortcut(self, turn: Turn, choice: str) -> None:
        """A persistent menu (LINE's rich menu) works from any step, like the welcome's buttons."""
        if turn.draft.started:
            if turn.convo.step != "resume":
                turn.state["resume_step"] = turn.convo.step
            return turn.go("resume")
        if choice == "lang":
            return turn.replies.append(intake.language_prompt(turn))
        if not turn.org_chosen:
            return turn.go("choose_org")
        turn.convo.step = "menu"
        turn.pressed = {"corruption": "t:corruption", "grievance": "t:grievance", "track": "track"}.get(
            choice
        )
        if turn.pressed is None:
            return self._stale(turn)
        await intake.handle_menu(turn)

    def _typed_button(self, turn: Turn, text: str) -> str | None:
        """A typed button label counts as pressing it (reply keyboards send labels as text)."""
        prompt = STEPS[turn.convo.step].prompt(turn)
        payload = prompt.button_payloads().get(text.strip())
        pressed = payloads.parse(payload) if payload is not None else None
        return pressed.value if isinstance(pressed, payloads.StepPress) else None

    def _stale(self, turn: Turn) -> None:
        turn.say("errors.stale_button")
        if turn.convo.step == "idle":
            return intake.start_over(turn)
        turn.reprompt()

    def _group(self, turn: Turn) -> None:
        # Division chats are groups: stay quiet there unless someone asks the bot directly.
        command = turn.incoming.command
        if (command is not None and command[0] in PRIVATE_COMMANDS) or turn.incoming.payload:
            turn.say("errors.private_only")

    def _set_language(self, turn: Turn, lang: str) -> None:
        if lang not in LANGUAGES:
            return self._stale(turn)
        turn.convo.lang = lang
        turn.say("lang.changed")
        if turn.convo.step == "idle":
            return intake.start_over(turn)
        turn.reprompt()

    async def _command(self, turn: Turn, name: str, args: list[str]) -> None:
        step = turn.convo.step
        drafting = turn.draft.started
        if name == "start":
            if drafting:
                # A deep link never switches the organisation of a report in progress.
                if step != "resume":
                    turn.state["resume_step"] = step
                return turn.go("resume")
            if args and (org := turn.services.orgs.get(args[0])) is not None:
                turn.state["org"] = org.code
            return intake.start_over(turn)
        if name == "cancel":
            if drafting and intake.ask_before_cancelling(turn):
                return None
            if drafting:
                intake.clear_draft(turn)
                turn.state.pop("resume_step", None)
                turn.say("intake.cancelled")
            else:
                turn.say("intake.nothing_to_cancel")
            return intake.start_over(turn)
        if name == "lang":
            return turn.replies.append(intake.language_prompt(turn))
        if name in ("help", "privacy"):
            turn.say(f"{name}.text")
        elif name == "mydata":
            await privacy.my_data(turn)
        elif name == "status":
            if len(args) >= 2:
                await check_reference(turn, args[0], " ".join(args[1:]))
            elif args:
                turn.say("status.format")
            else:
                await show_my_cases(turn)
        else:
            turn.say("errors.unknown_command")
        if step == "idle":
            return None
        turn.reprompt()


def _may_only_move_on(incoming: Incoming) -> bool:
    """Whether the turn may write nothing but its own conversation: a citizen's, not a group's
    (where staff act on cases), and not one of the presses that always write."""
    if incoming.chat_type != "private":
        return False
    return incoming.payload is None or not isinstance(payloads.parse(incoming.payload), WRITING_PRESSES)


def _may_send_a_report(incoming: Incoming) -> bool:
    if incoming.chat_type != "private" or incoming.payload is None:
        return False
    pressed = payloads.parse(incoming.payload)
    return isinstance(pressed, payloads.StepPress) and pressed.value in intake.SENDING


def _log_context(incoming: Incoming) -> dict[str, Any]:
    """What may be logged about an update: its kind, never its content or who sent it."""
    kind = (
        "command" if incoming.command else "press" if incoming.payload else "text" if incoming.text
        else "file" if incoming.file else "location" if incoming.location else "contact"
        if incoming.contact_phone else incoming.unsupported or "other"
    )  # fmt: skip
    return {"channel": incoming.channel, "update_kind": kind}
