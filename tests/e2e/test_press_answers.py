"""A button press is answered (the spinner stops) once the turn is done, and not again when the
same press is handled a second time: with replicas, the one that takes a chat over handles again
what the dead one handled but had not marked."""

from __future__ import annotations

from telegram import Update

from bot.channels.telegram import TelegramSender, attach_engine, build_application
from bot.outbox import OutboxDispatcher
from handlers.engine import Engine
from kernel.org_files import Organisations
from storage.crypto import Vault
from storage.db import Database
from tests.conftest import make_services
from tests.fakes.fake_bot_api import FakeBotApi
from tests.support.clock import Clock

CHAT = 5551801


async def test_a_press_handled_twice_is_answered_once_and_its_turn_taken_once(
    api: FakeBotApi, database: Database, vault: Vault, orgs: Organisations, clock: Clock
) -> None:
    services = await make_services(database, orgs, vault, clock)
    application = build_application(api.token, base_url=api.base_url, base_file_url=api.base_file_url)
    attach_engine(application, Engine(services))
    await application.initialize()
    dispatcher = OutboxDispatcher(database, vault, {"telegram": TelegramSender(application)}, clock=clock)
    try:
        api.send_text(CHAT, "/start")
        (start,) = await application.bot.get_updates()
        await application.process_update(start)
        await dispatcher.drain()  # the menu, with its buttons, reaches the chat
        menu = api.messages_to(CHAT)[-1]
        data = menu.reply_markup["inline_keyboard"][0][0]["callback_data"]  # type: ignore[index]
        api.press(CHAT, data)
        (press,) = await application.bot.get_updates(offset=start.update_id + 1)
        await application.process_update(press)
        await application.process_update(Update.de_json(press.to_dict(), application.bot))  # again
        await dispatcher.drain()
    finally:
        await application.shutdown()
    answers = [call for call in api.calls if call.method == "answerCallbackQuery"]
    assert len(answers) == 1
    assert len(api.messages_to(CHAT)) == 2  # the menu, then one answer to the press
