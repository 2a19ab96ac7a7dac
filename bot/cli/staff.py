"""Staff, coordinators and administrators; invitations."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from bot.cli.common import (
    ChannelOption,
    OrgOption,
    desk_app,
    fail,
    load_orgs,
    load_settings,
    pick_org,
    staff_app,
    with_db,
)
from kernel.org_config import OrgConfig
from storage.staff import ROLES, add_staff, create_code, deactivate_staff, list_staff

CODE_TTL = timedelta(days=7)


def _staff_target(org: OrgConfig, division: str | None, role: str) -> str:
    if role not in ROLES:
        raise fail(f"Unknown role {role!r}; use one of {', '.join(ROLES)}.")
    if division is None:
        if role == "staff":
            raise fail("Staff need a division: add --division CODE (coordinators and admins need none).")
        return "none"
    if division not in org.division_codes():
        raise fail(f"Unknown division {division!r}; known: {', '.join(org.division_codes())}.")
    return f"division:{division}"


@staff_app.command("add")
def staff_add(
    user_id: Annotated[str, typer.Option("--user-id", help="The person's user id on the platform.")],
    channel: ChannelOption = "telegram",
    division: Annotated[str | None, typer.Option("--division", help="Division code.")] = None,
    role: Annotated[str, typer.Option("--role", help="staff, coordinator or admin.")] = "staff",
    name: Annotated[str | None, typer.Option("--name", help="Name shown on case cards.")] = None,
    org: OrgOption = None,
) -> None:
    """Register a staff member (or add a division to one)."""
    settings = load_settings()
    orgs = load_orgs(settings)
    chosen = pick_org(orgs, org)
    target = _staff_target(chosen, division, role)

    async def main() -> None:
        db, directory, _vault = await with_db(settings, orgs)
        try:
            async with db.session() as session:
                await add_staff(
                    session, org_id=directory.org_ids[chosen.code], channel=channel, user_id=user_id,
                    role=role, display_name=name,
                    division_id=directory.division_ids[(chosen.code, division)] if division else None,
                )  # fmt: skip
                await session.commit()
        finally:
            await db.dispose()

    asyncio.run(main())
    typer.echo(f"Added {role} {channel}:{user_id} to {chosen.code} ({target.removeprefix('division:')}).")


@staff_app.command("remove")
def staff_remove(
    user_id: Annotated[str, typer.Option("--user-id")],
    channel: ChannelOption = "telegram",
    org: OrgOption = None,
) -> None:
    """Deactivate a staff member: their buttons stop working at once; history keeps their name."""
    settings = load_settings()
    orgs = load_orgs(settings)
    chosen = pick_org(orgs, org)

    async def main() -> bool:
        db, directory, _vault = await with_db(settings, orgs)
        try:
            async with db.session() as session:
                done = await deactivate_staff(
                    session, org_id=directory.org_ids[chosen.code], channel=channel, user_id=user_id,
                    now=datetime.now(UTC),
                )  # fmt: skip
                await session.commit()
                return done
        finally:
            await db.dispose()

    if not asyncio.run(main()):
        raise fail(f"No active staff member {channel}:{user_id} in {chosen.code}.")
    typer.echo(f"Removed {channel}:{user_id} from {chosen.code}.")


@staff_app.command("list")
def staff_list(org: OrgOption = None) -> None:
    """Staff with their roles and divisions."""
    settings = load_settings()
    orgs = load_orgs(settings)
    chosen = pick_org(orgs, org)

    async def main() -> None:
        db, directory, _vault = await with_db(settings, orgs)
        try:
            async with db.session() as session:
                listed = await list_staff(session, directory.org_ids[chosen.code])
                if not listed:
                    typer.echo(
                        f"No staff in {chosen.code} yet. Invite someone: damrongtham staff invite "
                        "--division CODE (or --role coordinator), or add one: damrongtham staff add."
                    )
                for member, divisions in listed:
                    state = "active" if member.active else "removed"
                    typer.echo(
                        f"{member.channel}:{member.user_id}  {member.role:<11} {state:<8} "
                        f"{','.join(divisions) or '-'}  {member.display_name or ''}".rstrip()
                    )
        finally:
            await db.dispose()

    asyncio.run(main())


def issue_code(org_code: str | None, purpose: str, target_of: str | None, role: str) -> str:
    settings = load_settings()
    orgs = load_orgs(settings)
    chosen = pick_org(orgs, org_code)
    if purpose == "join":
        target = _staff_target(chosen, target_of, role)
    elif target_of == "coordinators":
        target = "coordinators"
    else:
        target = _staff_target(chosen, target_of, "staff")

    async def main() -> str:
        db, directory, _vault = await with_db(settings, orgs)
        try:
            async with db.session() as session:
                code = await create_code(
                    session, org_id=directory.org_ids[chosen.code], purpose=purpose, target=target, role=role,
                    now=datetime.now(UTC), ttl=CODE_TTL,
                )  # fmt: skip
                await session.commit()
                return code
        finally:
            await db.dispose()

    return asyncio.run(main())


@staff_app.command("invite")
def staff_invite(
    division: Annotated[str | None, typer.Option("--division", help="Division code.")] = None,
    role: Annotated[str, typer.Option("--role")] = "staff",
    org: OrgOption = None,
) -> None:
    """Print a one-time code; the person sends `/join CODE` to the bot in a private chat."""
    code = issue_code(org, "join", division, role)
    typer.echo(f"One-time code (valid 7 days): {code}\nThe person sends to the bot: /join {code}")


@desk_app.command("link")
def desk_link_command(
    user_id: Annotated[str, typer.Option("--user-id", help="A registered staff member's user id.")],
    channel: ChannelOption = "telegram",
) -> None:
    """A one-time link (10 minutes) with which a registered staff member signs in to the desk."""
    from handlers.cases.desk_sessions import desk_link
    from handlers.cases.refusals import Refused
    from handlers.core.work import Services, StaffAccount, Work

    settings = load_settings()
    orgs = load_orgs(settings)

    async def main() -> str:
        db, directory, vault = await with_db(settings, orgs)
        services = Services(db=db, orgs=orgs, directory=directory, vault=vault)
        if settings.public_url:
            services.public_url = settings.public_url
        try:
            async with db.session(write=True) as session:
                token = await desk_link(
                    Work(session, services, datetime.now(UTC)), by=StaffAccount(channel, user_id)
                )
                await session.commit()
        except Refused as exc:
            raise fail(f"{channel}:{user_id} is not registered staff (damrongtham staff add).") from exc
        finally:
            await db.dispose()
        return services.desk_login_url(token)

    typer.echo(asyncio.run(main()))
