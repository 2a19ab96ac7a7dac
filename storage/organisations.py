"""The configured organisations and divisions as database rows, and their ids."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from kernel.org_files import Organisations
from storage.models import Division, Organisation


@dataclass(frozen=True)
class Directory:
    """Database ids of the configured organisations and divisions."""

    org_ids: dict[str, int]
    division_ids: dict[tuple[str, str], int]

    def org_code(self, org_id: int) -> str:
        return next(code for code, oid in self.org_ids.items() if oid == org_id)

    def division_code(self, division_id: int) -> str:
        return next(code for (_, code), did in self.division_ids.items() if did == division_id)


async def sync_organisations(session: AsyncSession, orgs: Organisations) -> Directory:
    """Create or rename organisations and divisions from the files; never deletes rows."""
    org_ids: dict[str, int] = {}
    division_ids: dict[tuple[str, str], int] = {}
    for cfg in orgs.all:
        org = (
            await session.execute(select(Organisation).where(col(Organisation.code) == cfg.code))
        ).scalar_one_or_none()
        if org is None:
            org = Organisation(code=cfg.code, name_th=cfg.name_th, name_en=cfg.name_en)
            session.add(org)
            await session.flush()
        else:
            org.name_th, org.name_en = cfg.name_th, cfg.name_en
        assert org.id is not None
        org_ids[cfg.code] = org.id
        existing = {
            d.code: d
            for d in (await session.execute(select(Division).where(col(Division.org_id) == org.id))).scalars()
        }
        for div_cfg in cfg.divisions:
            div = existing.get(div_cfg.code)
            if div is None:
                div = Division(
                    org_id=org.id, code=div_cfg.code, name_th=div_cfg.name_th, name_en=div_cfg.name_en
                )
                session.add(div)
                await session.flush()
            else:
                div.name_th, div.name_en, div.active = div_cfg.name_th, div_cfg.name_en, True
            assert div.id is not None
            division_ids[(cfg.code, div_cfg.code)] = div.id
    return Directory(org_ids, division_ids)
