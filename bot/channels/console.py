"""Console adapter: the same conversations in a terminal, for trying the bot without a token.

Buttons are numbered; type the number. `:location LAT LON`, `:contact PHONE`, `:photo NAME`,
`:document NAME`, `:voice` and `:video` stand in for what a phone would share.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
from typing import TextIO

from bot.app import App
from kernel.messages import FILE_KINDS, Button, FileRef, Incoming, Reply

CHANNEL = "console"
CHAT_ID = "console"


class ConsoleSender:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.buttons: list[Button] = []

    async def send(self, chat_id: str, reply: Reply) -> str | None:
        if reply.media is not None:
            m = reply.media
            what = (
                f"location {m.latitude}, {m.longitude}" if m.kind == "location" else f"{m.kind} {m.file_id}"
            )
            print(f"[{what}]", file=self.out)
        if reply.text:
            print(f"\n{reply.text}", file=self.out)
        flat = [b for row in reply.buttons for b in row]
        if flat:
            self.buttons = flat
            for i, b in enumerate(flat, 1):
                print(f"  {i}. {b.label}", file=self.out)
        self.out.flush()
        return None


def to_incoming(line: str, buttons: list[Button]) -> Incoming:
    base = {"channel": CHANNEL, "chat_id": CHAT_ID, "user_id": CHAT_ID, "update_key": None}
    text = line.strip()
    if text.isdigit() and 1 <= int(text) <= len(buttons):
        button = buttons[int(text) - 1]
        if button.kind == "payload":
            return Incoming(**base, payload=button.payload)  # type: ignore[arg-type]
        text = ":location 18.7883 98.9853" if button.kind == "location" else ":contact +66800000000"
    word, _, rest = text.partition(" ")
    try:
        if word == ":location":
            lat, lon = (float(x) for x in rest.replace(",", " ").split())
            return Incoming(**base, location=(lat, lon))  # type: ignore[arg-type]
        if word == ":contact" and rest:
            return Incoming(**base, contact_phone=rest.strip(), contact_is_own=True)  # type: ignore[arg-type]
        kind = next((k for k in FILE_KINDS if word == f":{k}"), None)
        if kind is not None:
            ref = FileRef(kind, f"console-{secrets.token_hex(4)}", None, rest.strip() or None, None, 1000)
            return Incoming(**base, file=ref)  # type: ignore[arg-type]
    except ValueError:
        pass
    return Incoming(**base, text=line)  # type: ignore[arg-type]


async def run_console(app: App, *, stdin: TextIO | None = None, out: TextIO | None = None) -> None:
    stdin, out = stdin or sys.stdin, out or sys.stdout
    sender = ConsoleSender(out)
    app.dispatcher.senders[CHANNEL] = sender
    print("Damrongtham console. Type /start (Ctrl-D to quit). Numbers press buttons;", file=out)
    print(":location LAT LON, :contact PHONE, :photo, :document NAME, :voice, :video send them.", file=out)
    await app.dispatcher.drain()
    while True:
        line = await asyncio.to_thread(stdin.readline)
        if not line:
            break
        if not line.strip():
            continue
        outcome = await app.engine.handle(to_incoming(line.rstrip("\n"), sender.buttons))
        for reply in outcome.undelivered:
            await sender.send(CHAT_ID, reply)
        await app.dispatcher.drain()
