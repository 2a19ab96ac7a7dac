from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.outbox import OutboxDispatcher
from handlers.core.work import Services
from handlers.engine import Engine
from kernel.org_files import Organisations
from storage import chats as chat_repo
from storage.crypto import Vault
from storage.db import Database
from storage.files import FileStore
from tests.conftest import make_services
from tests.support.chat import Chat
from tests.support.clock import Clock
from tests.support.sender import RecordingSender

STAFF_CHATS = {"office": "-1001", "legal": "-1002", "personnel": "-1003", "coordinators": "-1009"}


@dataclass
class Desk:
    services: Services
    engine: Engine
    dispatcher: OutboxDispatcher
    sender: RecordingSender
    db: Database

    async def add_staff(
        self, user_id: str, division: str | None, role: str = "staff", name: str = ""
    ) -> None:
        from storage.staff import add_staff

        directory = self.services.directory
        async with self.db.session() as session:
            await add_staff(
                session, org_id=directory.org_ids["CM"], channel="test", user_id=user_id, role=role,
                division_id=directory.division_ids[("CM", division)] if division else None,
                display_name=name or f"staff {user_id}",
            )  # fmt: skip
            await session.commit()

    async def remove_staff(self, user_id: str) -> bool:
        """As `damrongtham staff remove`: their buttons and desk sessions stop at once."""
        from storage.staff import deactivate_staff

        async with self.db.session() as session:
            done = await deactivate_staff(
                session, org_id=self.services.directory.org_ids["CM"], channel="test", user_id=user_id,
                now=self.services.clock(),
            )  # fmt: skip
            await session.commit()
        return done

    def chat(self, chat_id: str = "1001", **kwargs: str) -> Chat:
        return Chat(self.engine, self.dispatcher, self.sender, chat_id=chat_id, **kwargs)

    async def bind(self, target: str, chat_id: str, org: str = "CM") -> int:
        async with self.db.session() as session:
            directory = self.services.directory
            code = target.removeprefix("division:")
            released = await chat_repo.bind_chat(
                session,
                org_id=directory.org_ids[org],
                target=target,
                division_id=directory.division_ids.get((org, code)),
                channel="test",
                chat_id=chat_id,
                vault=self.services.vault,
            )
            await session.commit()
        return released


async def make_desk(
    db: Database, orgs: Organisations, vault: Vault, clock: Clock, sender: RecordingSender
) -> Desk:
    services = await make_services(db, orgs, vault, clock)
    dispatcher = OutboxDispatcher(db, vault, {"test": sender}, clock=clock)
    services.on_queued = dispatcher.kick
    return Desk(services, Engine(services), dispatcher, sender, db)


@pytest.fixture
async def desk(sqlite_database: Database, orgs, vault, clock, sender, tmp_path) -> AsyncIterator[Desk]:  # type: ignore[no-untyped-def]
    desk = await make_desk(sqlite_database, orgs, vault, clock, sender)
    desk.services.files = FileStore(tmp_path / "files", vault)
    for code, chat_id in STAFF_CHATS.items():
        await desk.bind("coordinators" if code == "coordinators" else f"division:{code}", chat_id)
    yield desk


def two_organisations(folder: Path) -> Organisations:
    """A deployment of the Chiang Mai PAO (the shipped file) and a Lamphun PAO made from it."""
    import tomllib

    import tomli_w

    from kernel.org_files import default_config_path, load_organisations

    data = tomllib.loads(default_config_path().read_text(encoding="utf-8"))
    folder.mkdir()
    (folder / "cm.toml").write_text(tomli_w.dumps(data))
    data.update(code="LPN", name_th="องค์การบริหารส่วนจังหวัดลำพูน", name_en="Lamphun PAO", centre_name_th="")
    (folder / "lpn.toml").write_text(tomli_w.dumps(data))
    return load_organisations(str(folder))
