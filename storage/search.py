"""The blind word index of cases (which case holds which keyed, truncated word hash), and the
desk's search over every case of an organisation, closed ones included."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from storage.models import Case, CaseDivision, CaseTerm
from storage.upsert import insert_for


async def add_terms(session: AsyncSession, *, case_id: int, org_id: int, terms: Collection[str]) -> None:
    """One statement: the terms the case does not hold yet are added."""
    if terms:
        stmt = insert_for(session.get_bind().dialect.name)(CaseTerm).on_conflict_do_nothing()
        values = [{"case_id": case_id, "org_id": org_id, "term": term} for term in sorted(set(terms))]
        await session.execute(stmt.values(values))


async def drop_terms(session: AsyncSession, case_id: int) -> None:
    await session.execute(delete(CaseTerm).where(col(CaseTerm.case_id) == case_id))


async def cases_after(session: AsyncSession, after_id: int, limit: int) -> Sequence[Case]:
    stmt = select(Case).where(col(Case.id) > after_id).order_by(col(Case.id)).limit(limit)
    return (await session.execute(stmt)).scalars().all()


@dataclass(frozen=True)
class CaseQuery:
    """What the desk asks for; an empty field does not filter."""

    org_ids: Collection[int]
    division_ids: Collection[int] | None = None  # None: the whole organisation
    terms: Collection[str] = ()  # every one of these word hashes
    status: str = ""
    report_type: str = ""
    category: str = ""
    reference: str = ""  # part of the reference
    received_from: datetime | None = None
    received_before: datetime | None = None

    @property
    def words_only(self) -> bool:
        """Words and nothing else that needs the cases' own columns."""
        others = (self.division_ids, self.status, self.report_type, self.category, self.reference,
                  self.received_from, self.received_before)  # fmt: skip
        return bool(self.terms) and all(value is None or value == "" for value in others)


async def find_cases(
    session: AsyncSession, query: CaseQuery, *, limit: int, offset: int
) -> tuple[Sequence[Case], int]:
    """A page of the matching cases, newest first (ids follow time), and how many match."""
    having_all = (
        select(col(CaseTerm.case_id))
        .where(col(CaseTerm.org_id).in_(list(query.org_ids)), col(CaseTerm.term).in_(set(query.terms)))
        .group_by(col(CaseTerm.case_id))
        .having(func.count() == len(set(query.terms)))
    )
    if query.words_only:
        # words alone: counted and paged in the index, and only the page's cases are read
        total = (await session.execute(select(func.count()).select_from(having_all.subquery()))).scalar_one()
        page = having_all.order_by(col(CaseTerm.case_id).desc()).limit(limit).offset(offset)
        ids = list((await session.execute(page)).scalars())
        rows = (await session.execute(select(Case).where(col(Case.id).in_(ids)))).scalars().all()
        return sorted(rows, key=lambda c: -(c.id or 0)), int(total)
    where: list[Any] = [col(Case.org_id).in_(list(query.org_ids))]
    if query.terms:
        where.append(col(Case.id).in_(having_all))
    if query.division_ids is not None:
        assigned = select(CaseDivision.case_id).where(
            col(CaseDivision.division_id).in_(list(query.division_ids))
        )
        where.append(col(Case.id).in_(assigned))
    for column, value in (
        (Case.status, query.status), (Case.report_type, query.report_type), (Case.category, query.category)
    ):  # fmt: skip
        if value:
            where.append(col(column) == value)
    if query.reference:
        where.append(col(Case.reference).contains(query.reference, autoescape=True))
    if query.received_from is not None:
        where.append(col(Case.created_at) >= query.received_from)
    if query.received_before is not None:
        where.append(col(Case.created_at) < query.received_before)
    total = (await session.execute(select(func.count()).select_from(Case).where(*where))).scalar_one()
    stmt = select(Case).where(*where).order_by(col(Case.id).desc())
    found = (await session.execute(stmt.limit(limit).offset(offset))).scalars().all()
    return found, int(total)
