"""The anti-corruption plan: its items, the rounds' due dates, and progress reports."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from storage.types import UTCDateTime, org_fk, utcnow


class PlanItem(SQLModel, table=True):
    """A project, activity or measure of the anti-corruption action plan."""

    __tablename__ = "plan_items"
    __table_args__ = (UniqueConstraint("org_id", "code"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = org_fk()
    code: str = Field(max_length=30)
    title_th: str = Field(sa_type=Text)
    title_en: str = Field(sa_type=Text)
    dimension: int
    division_id: int = Field(foreign_key="divisions.id", index=True)
    # B.E. fiscal years the item runs in, comma-separated ("2568,2569,2570")
    fiscal_years: str = Field(max_length=100)
    budget: Decimal | None = Field(default=None, max_digits=14, decimal_places=2)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class RoundDue(SQLModel, table=True):
    """A due date set for one year's round, overriding the organisation file's rule."""

    __tablename__ = "round_dues"
    org_id: int = Field(foreign_key="organisations.id", primary_key=True)
    fiscal_year: int = Field(primary_key=True)
    round: str = Field(max_length=5, primary_key=True)
    due_date: date


class ProgressReport(SQLModel, table=True):
    """One report of an item's progress in a round; history is kept, the latest before the due date counts."""

    __tablename__ = "progress_reports"
    __table_args__ = (Index("ix_progress_item_round", "item_id", "fiscal_year", "round"),)
    id: int | None = Field(default=None, primary_key=True)
    org_id: int = org_fk()
    item_id: int = Field(foreign_key="plan_items.id")
    fiscal_year: int
    round: str = Field(max_length=5)
    # done | in_progress | not_started
    status: str = Field(max_length=20)
    note: str | None = Field(default=None, sa_type=Text)
    evidence_json: str | None = Field(default=None, sa_type=Text)
    actor: str = Field(max_length=60)
    reported_at: datetime = Field(sa_type=UTCDateTime)


# an inbox event that failed this many times is set aside (kept for investigation, not retried)
