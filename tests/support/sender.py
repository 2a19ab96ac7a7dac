"""A sender for the outbox that records what it delivered instead of sending it."""

from __future__ import annotations

from dataclasses import dataclass, field

from kernel.messages import Reply


@dataclass
class RecordingSender:
    """The outside world's inbox: every message the dispatcher delivered, by chat."""

    sent: list[tuple[str, Reply]] = field(default_factory=list)

    async def send(self, chat_id: str, reply: Reply) -> str | None:
        self.sent.append((chat_id, reply))
        return str(len(self.sent))

    def to(self, chat_id: str) -> list[Reply]:
        return [r for c, r in self.sent if c == chat_id]
