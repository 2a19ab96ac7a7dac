"""Which chats receive a division's cases and the coordinators' messages."""

from __future__ import annotations

import asyncio
import re

import typer

from bot.cli.common import (
    ChannelOption,
    ChatIdOption,
    OrgOption,
    coordinators_app,
    division_app,
    fail,
    load_orgs,
    load_settings,
    pick_org,
    with_db,
)
from bot.cli.staff import issue_code
from kernel.bindings import binding_conflict

# what a chat id looks like on each channel, and an example for the refusal
CHAT_IDS = {
    "telegram": (r"-?[0-9]{1,20}", "-1001234567890"),  # a group's id is negative
    "line": (r"[CRU][0-9a-f]{32}", "C" + "0123456789abcdef" * 2),  # group, room or user
    "console": (r"\S{1,64}", "console"),
}


def _bind(org_code: str | None, target_code: str | None, channel: str, chat_id: str) -> None:
    settings = load_settings()
    orgs = load_orgs(settings)
    org = pick_org(orgs, org_code)
    if target_code is not None and target_code not in org.division_codes():
        raise fail(f"Unknown division {target_code!r}; known: {', '.join(org.division_codes())}.")
    if channel not in CHAT_IDS:
        raise fail(f"Unknown channel {channel!r}; use telegram or line.")
    pattern, example = CHAT_IDS[channel]
    if not re.fullmatch(pattern, chat_id):
        raise fail(f"{chat_id!r} is not a {channel} chat id (such as {example}).")
    target = f"division:{target_code}" if target_code else "coordinators"

    async def main() -> int:
        from storage import chats as chat_repo

        db, directory, vault = await with_db(settings, orgs)
        try:
            async with db.session() as session:
                org_id = directory.org_ids[org.code]
                others = {
                    b.target
                    for b in await chat_repo.bindings_of_chat(session, channel, chat_id)
                    if b.org_id == org_id
                }
                if binding_conflict(org, target, others):
                    raise fail(
                        "Refused: this chat would receive both general grievances and corruption tip-offs. "
                        "Corruption tip-offs need a chat of their own."
                    )
                released = await chat_repo.bind_chat(
                    session,
                    org_id=org_id,
                    target=target,
                    division_id=directory.division_ids[(org.code, target_code)] if target_code else None,
                    channel=channel,
                    chat_id=chat_id,
                    vault=vault,
                )
                await session.commit()
                return released
        finally:
            await db.dispose()

    released = asyncio.run(main())
    typer.echo(
        f"Bound {target} of {org.code} to {channel} chat {chat_id}; {released} waiting message(s) released."
    )


@division_app.command("bind")
def division_bind(
    code: str, chat_id: ChatIdOption, channel: ChannelOption = "telegram", org: OrgOption = None
) -> None:
    """Send a division's cases to a chat (its staff group)."""
    _bind(org, code, channel, chat_id)


@coordinators_app.command("bind")
def coordinators_bind(
    chat_id: ChatIdOption, channel: ChannelOption = "telegram", org: OrgOption = None
) -> None:
    """Send coordinators' alerts and conflict-of-interest cases to a chat."""
    _bind(org, None, channel, chat_id)


@division_app.command("list")
def division_list(org: OrgOption = None) -> None:
    """Divisions and their bound chats."""
    settings = load_settings()
    orgs = load_orgs(settings)
    chosen = [pick_org(orgs, org)] if org or orgs.single else orgs.all

    async def main() -> None:
        from storage import chats as chat_repo

        db, directory, _vault = await with_db(settings, orgs)
        try:
            async with db.session() as session:
                for o in chosen:
                    bindings = await chat_repo.all_bindings(session, directory.org_ids[o.code])
                    by_target: dict[str, list[str]] = {}
                    for b in bindings:
                        by_target.setdefault(b.target, []).append(f"{b.channel}:{b.chat_id}")
                    typer.echo(f"{o.code} {o.name_en}")
                    for d in o.divisions:
                        chats = ", ".join(by_target.get(f"division:{d.code}", [])) or "(no chat bound)"
                        typer.echo(f"  {d.code:<12} {d.name_th} / {d.name_en}  →  {chats}")
                    coord = ", ".join(by_target.get("coordinators", [])) or "(no chat bound)"
                    typer.echo(f"  {'coordinators':<12} →  {coord}")
        finally:
            await db.dispose()

    asyncio.run(main())


@division_app.command("bind-code")
def division_bind_code(code: str, org: OrgOption = None) -> None:
    """Print a one-time code; send `/bind CODE` in the group that should receive the division's cases."""
    once = issue_code(org, "bind", code, "staff")
    typer.echo(f"One-time code (valid 7 days): {once}\nSend in the division's group chat: /bind {once}")


@coordinators_app.command("bind-code")
def coordinators_bind_code(org: OrgOption = None) -> None:
    """Print a one-time code; send `/bind CODE` in the coordinators' group."""
    once = issue_code(org, "bind", "coordinators", "staff")
    typer.echo(f"One-time code (valid 7 days): {once}\nSend in the coordinators' group chat: /bind {once}")
